"""Builds a model holding every layer family; saves or loads it.

Run as a script in a subprocess (one per backend) by
`tests/test_cross_backend.py`:

    python -m tests.cross_backend_model save DIR    # writes DIR/<backend>.keras
    python -m tests.cross_backend_model load DIR SRC [SRC ...]  # loads DIR/SRC.keras
"""

from __future__ import annotations

import importlib.util
import os
import sys

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  (before tensorflow)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_cv_layers as kcl  # noqa: E402

CL = "channels_last"
CF = "channels_first"


def build_model() -> keras.Model:
    inputs = keras.Input((12, 12, 3))
    x = kcl.CoordConv2D(8, 3, with_r=True, padding="same", data_format=CL)(inputs)
    x = kcl.Conv2D(8, 3, padding="same", weightnorm=True, use_bias=True, data_format=CL)(x)
    x = kcl.Mish()(x)
    x = kcl.Conv2D(8, 3, padding="same", groups=2, equalize=True, data_format=CL)(x)
    x = kcl.LayerNormalization(data_format=CL)(x)
    x = kcl.WSConv2D(8, 3, padding="same", data_format=CL)(x)
    x = kcl.InstanceNormalization(data_format=CL)(x)
    x = kcl.SWSConv2D(8, 3, padding="same", preceding_activation="silu", data_format=CL)(x)
    x = kcl.Swish(beta=1.3, trainable=True)(x)
    x = kcl.DepthwiseConv2D(3, depth_multiplier=2, padding="same", weightnorm=True, data_format=CL)(
        x
    )
    x = kcl.CLayerNorm(data_format=CL)(x)
    x = kcl.AddCoords2D(with_r=False, data_format=CL)(x)
    x = kcl.Scale(data_format=CL)(x)
    a, b = kcl.Split([10, 8])(x)
    a = kcl.PFLayerNorm()(a)
    x = keras.layers.Concatenate()([a, b])
    x = kcl.Resize2D((8, 8), data_format=CL)(x)
    # A channels_first branch, so both layouts cross backends.
    xt = keras.layers.Permute((3, 1, 2))(x)
    xt = kcl.Conv2D(4, 3, padding="same", data_format=CF, weightnorm=True)(xt)
    xt = kcl.InstanceNormalization(data_format=CF)(xt)
    x = keras.layers.Permute((2, 3, 1))(xt)
    # 1D and 3D convolutions.
    seq = keras.layers.Reshape((64, 4))(x)
    seq = kcl.Conv1D(4, 3, padding="causal", weightnorm=True)(seq)
    seq = kcl.WSConv1D(4, 3, padding="same")(seq)
    seq = kcl.SWSConv1D(4, 3, padding="same")(seq)
    pooled, indices = kcl.MaxPoolingWithArgmax1D(3, strides=2, data_format=CL)(seq)
    seq = kcl.MaxUnpooling1D(2, data_format=CL)([pooled, indices])
    vol = keras.layers.Reshape((4, 4, 4, 4))(seq)
    vol = kcl.Conv3D(4, 3, padding="same", equalize=True)(vol)
    vol = kcl.WSConv3D(4, 3, padding="same")(vol)
    vol = kcl.SWSConv3D(4, 3, padding="same", learnable_gain=False)(vol)
    pooled, indices = kcl.MaxPoolingWithArgmax3D(2, data_format=CL)(vol)
    vol = kcl.MaxUnpooling3D(2, data_format=CL)([pooled, indices])
    outputs = kcl.PFLayerNorm()(keras.layers.Flatten()(vol))
    outputs = kcl.WeightNormalization(keras.layers.Dense(16), data_init=True)(outputs)
    # The layer families: masked convs, pooling, group, deformable, blocks.
    y, m = kcl.SparseConv2D(8, 3, padding="same", use_bias=True, data_format=CL)(inputs)
    y, m = kcl.PartialConv2D(8, 3, padding="same", binary=False, data_format=CL)([y, m])
    y, m = kcl.PartialDepthwiseConv2D(3, padding="same", data_format=CL)([y, m])
    p, idx = kcl.MaxPoolingWithArgmax2D(2, data_format=CL)(y)
    p = kcl.Blur2D(3, strides=1, padding="same", data_format=CL)(p)
    y = kcl.MaxUnpooling2D(2, data_format=CL)([p, idx])
    y, positions = kcl.MaxPoolingWithRelativePosition2D(3, data_format=CL)(y)
    g = kcl.GroupConv2D(4, 3, group="D4", padding="same", data_format=CL)(y)
    g = kcl.GroupConv2D(2, 3, group="D4", padding="same", use_bias=True, data_format=CL)(g)
    g = kcl.GroupPooling2D("max", data_format=CL)(g)
    z = keras.layers.Concatenate()([y, positions, g])
    z = kcl.DeformableConv2D(8, 3, padding="same", modulated=True, data_format=CL)(z)
    z = kcl.SEBlock(ratio=2, data_format=CL)(z)
    z = kcl.MBConv(8, expand_ratio=2, dilation_rate=2, drop_rate=0.2, data_format=CL)(z)
    z = kcl.FusedMBConv(8, expand_ratio=2, se_ratio=0.25, data_format=CL)(z)
    z = kcl.ECA(data_format=CL)(z)
    z = kcl.CBAM(ratio=2, kernel_size=3, data_format=CL)(z)
    z = kcl.DropBlock2D(0.2, 3, data_format=CL)(z)
    offsets = keras.layers.Conv2D(18, 3, padding="same", data_format=CL)(z)
    z = kcl.StochasticDepth(0.2)(
        [z, kcl.DeformableConv2D(8, 3, padding="same", data_format=CL)([z, offsets])]
    )
    z = kcl.MultiHeadedSpatialAttention(8, 3, heads=2, position="learned", data_format=CL)(z)
    z = keras.layers.Flatten()(z)
    outputs = keras.layers.Concatenate()([outputs, z, keras.layers.Flatten()(m)])
    return keras.Model(inputs, outputs)


def _perturb(model: keras.Model) -> None:
    rng = np.random.default_rng(0)
    for w in model.weights:
        value = keras.ops.convert_to_numpy(w)
        w.assign(value + rng.normal(scale=0.1, size=value.shape).astype(value.dtype))


def sample_input() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(2, 12, 12, 3)).astype("float32")


def main(argv: list[str]) -> int:
    mode, directory = argv[0], argv[1]
    backend = keras.backend.backend()
    x = sample_input()
    if mode == "save":
        model = build_model()
        _perturb(model)
        model.save(os.path.join(directory, f"{backend}.keras"))
        np.save(os.path.join(directory, f"{backend}_out.npy"), keras.ops.convert_to_numpy(model(x)))
        return 0
    for source in argv[2:]:
        path = os.path.join(directory, f"{source}.keras")
        model = keras.saving.load_model(path, safe_mode=True)
        y = keras.ops.convert_to_numpy(model(x))
        np.save(os.path.join(directory, f"{source}_loaded_by_{backend}.npy"), y)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
