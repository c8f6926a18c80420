"""Writes `fixtures/<family>.keras` and `fixtures/<family>_io.npz`: one small
model per layer family, saved by the first release (commit 1583e78, before
the ops/kernels refactor of issue 16), with perturbed weights, so that
`test_release1_files.py` can check that files of that release load with
identical outputs under every backend.

    KERAS_BACKEND=jax python -m tests.compat.make_release1_fixtures

Only re-run it to add a family; the files it wrote are the contract.
"""

from __future__ import annotations

import importlib.util
import pathlib

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  (before tensorflow)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_cv_layers as kcl  # noqa: E402

HERE = pathlib.Path(__file__).parent / "fixtures"
CL, CF = "channels_last", "channels_first"


def convolutional() -> keras.Model:
    inputs = keras.Input((8, 8, 4))
    x = kcl.Conv2D(6, 3, padding="same", weightnorm=True, use_bias=True, data_format=CL)(inputs)
    x = kcl.Conv2D(6, 3, padding="same", groups=2, equalize=True, data_format=CL)(x)
    x = kcl.WSConv2D(6, 3, padding="same", data_format=CL)(x)
    x = kcl.SWSConv2D(6, 3, padding="same", preceding_activation="silu", data_format=CL)(x)
    x = kcl.DepthwiseConv2D(3, depth_multiplier=2, padding="same", weightnorm=True, data_format=CL)(
        x
    )
    x = kcl.DepthwiseConv2D(3, padding="same", equalize=True, data_format=CL)(x)
    x = kcl.CoordConv2D(4, 3, with_r=True, padding="same", data_format=CL)(x)
    x = kcl.AddCoords2D(with_r=False, data_format=CL)(x)
    xt = keras.layers.Permute((3, 1, 2))(x)
    xt = kcl.Conv2D(4, 3, strides=2, data_format=CF, weightnorm=True)(xt)
    x = keras.layers.Permute((2, 3, 1))(xt)
    seq = keras.layers.Reshape((9, 4))(x)
    seq = kcl.Conv1D(4, 3, padding="causal", weightnorm=True)(seq)
    seq = kcl.WSConv1D(4, 3, padding="same")(seq)
    seq = kcl.SWSConv1D(4, 3, padding="same")(seq)
    vol = keras.layers.Reshape((3, 3, 1, 4))(seq)
    vol = kcl.Conv3D(4, 3, padding="same", equalize=True)(vol)
    vol = kcl.WSConv3D(4, 3, padding="same")(vol)
    vol = kcl.SWSConv3D(4, 3, padding="same", learnable_gain=False)(vol)
    return keras.Model(inputs, keras.layers.Flatten()(vol))


def normalization() -> keras.Model:
    inputs = keras.Input((6, 6, 4))
    x = kcl.LayerNormalization(data_format=CL)(inputs)
    x = kcl.InstanceNormalization(data_format=CL)(x)
    x = kcl.CLayerNorm(data_format=CL)(x)
    x = kcl.Mish()(x)
    x = kcl.Swish(beta=1.3, trainable=True)(x)
    x = kcl.Scale(data_format=CL)(x)
    a, b = kcl.Split([3, 1])(x)
    a = kcl.PFLayerNorm()(a)
    x = keras.layers.Concatenate()([a, b])
    x = kcl.Resize2D((4, 4), data_format=CL)(x)
    xt = keras.layers.Permute((3, 1, 2))(x)
    xt = kcl.InstanceNormalization(data_format=CF)(xt)
    return keras.Model(inputs, xt)


def masked() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    y, m = kcl.SparseConv2D(6, 3, padding="same", use_bias=True, data_format=CL)(inputs)
    y, m = kcl.PartialConv2D(6, 3, padding="same", binary=False, data_format=CL)([y, m])
    y, m = kcl.PartialDepthwiseConv2D(3, padding="same", data_format=CL)([y, m])
    y, m = kcl.PartialConv2D(4, 3, strides=2, weightnorm=True, data_format=CL)([y, m])
    return keras.Model(inputs, [y, m])


def pooling() -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    p, idx = kcl.MaxPoolingWithArgmax2D(2, data_format=CL)(inputs)
    p = kcl.Blur2D(3, strides=1, padding="same", data_format=CL)(p)
    y = kcl.MaxUnpooling2D(2, data_format=CL)([p, idx])
    y2, positions = kcl.MaxPoolingWithRelativePosition2D(3, data_format=CL)(y)
    z = kcl.Blur2D(5, strides=2, data_format=CL)(y)
    return keras.Model(inputs, [y, y2, positions, z])


def equivariant() -> keras.Model:
    inputs = keras.Input((7, 7, 3))
    g = kcl.GroupConv2D(4, 3, group="D4", padding="same", data_format=CL)(inputs)
    g = kcl.GroupConv2D(2, 3, group="D4", padding="same", use_bias=True, data_format=CL)(g)
    a = kcl.GroupPooling2D("max", data_format=CL)(g)
    h = kcl.GroupConv2D(3, 3, group="C4", data_format=CL)(inputs)
    b = kcl.GroupPooling2D("mean", data_format=CL)(h)
    return keras.Model(inputs, [a, b])


def deformable() -> keras.Model:
    inputs = keras.Input((8, 8, 4))
    x = kcl.DeformableConv2D(
        4, 3, padding="same", modulated=True, offset_groups=2, use_bias=True, data_format=CL
    )(inputs)
    x = kcl.DeformableConv2D(3, 3, strides=2, groups=1, data_format=CL)(x)
    return keras.Model(inputs, x)


def blocks() -> keras.Model:
    inputs = keras.Input((8, 8, 8))
    z = kcl.SEBlock(ratio=2, data_format=CL)(inputs)
    z = kcl.MBConv(8, expand_ratio=2, data_format=CL)(z)
    z = kcl.MultiHeadedSpatialAttention(8, 3, heads=2, position="learned", data_format=CL)(z)
    z = kcl.MultiHeadedSpatialAttention(8, 3, heads=2, data_format=CL)(z)
    return keras.Model(inputs, z)


FAMILIES = {
    "convolutional": (convolutional, (2, 8, 8, 4)),
    "normalization": (normalization, (2, 6, 6, 4)),
    "masked": (masked, (2, 8, 8, 3)),
    "pooling": (pooling, (2, 8, 8, 3)),
    "equivariant": (equivariant, (2, 7, 7, 3)),
    "deformable": (deformable, (2, 8, 8, 4)),
    "blocks": (blocks, (2, 8, 8, 8)),
}


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for family, (build, shape) in FAMILIES.items():
        keras.utils.set_random_seed(0)
        model = build()
        rng = np.random.default_rng(0)
        for w in model.weights:
            value = keras.ops.convert_to_numpy(w)
            w.assign(value + rng.normal(scale=0.1, size=value.shape).astype(value.dtype))
        x = rng.normal(size=shape).astype("float32")
        if family == "masked":
            x[:, 2:5, 3:6] = 0.0  # a hole for the sparse mask
        ys = model(x)
        ys = ys if isinstance(ys, list | tuple) else [ys]
        arrays = {f"y{i}": np.asarray(keras.ops.convert_to_numpy(y)) for i, y in enumerate(ys)}
        model.save(HERE / f"{family}.keras")
        np.savez_compressed(HERE / f"{family}_io.npz", x=x, **arrays)
        print(family, [a.shape for a in arrays.values()])


if __name__ == "__main__":
    main()
