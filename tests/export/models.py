"""One small functional model per layer family, for the export tests.

Every layer gets ``data_format="channels_last"`` explicitly; the inputs are
seeded numpy arrays.  The models are built fresh on each call.
"""

from __future__ import annotations

import keras
import numpy as np

import keras_cv_layers as kcl

CL = "channels_last"


def _conv_transforms():
    x = keras.Input((12, 12, 3), name="image")
    y = kcl.Conv2D(8, 3, padding="same", weightnorm=True, data_format=CL)(x)
    y = kcl.WSConv2D(8, 3, padding="same", data_format=CL)(y)
    y = kcl.SWSConv2D(8, 3, strides=2, padding="same", data_format=CL)(y)
    y = kcl.DepthwiseConv2D(3, padding="same", equalize=True, data_format=CL)(y)
    y = kcl.CoordConv2D(4, 3, padding="same", data_format=CL)(y)
    return keras.Model(x, y)


def _masked():
    x = keras.Input((12, 12, 3), name="image")
    m = keras.Input((12, 12, 1), name="mask")
    y, mask = kcl.PartialConv2D(8, 3, padding="same", data_format=CL)([x, m])
    z, sparse_mask = kcl.SparseConv2D(4, 3, padding="same", data_format=CL)([x, m])
    return keras.Model([x, m], [y, mask, z, sparse_mask])


def _unpooling():
    x = keras.Input((12, 12, 3), name="image")
    pooled, indices = kcl.MaxPoolingWithArgmax2D(2, data_format=CL)(x)
    up = kcl.MaxUnpooling2D(2, data_format=CL)([pooled, indices])
    return keras.Model(x, up)


def _unpooling_reference():
    # Odd size: the 3-input form takes the output size from the reference.
    x = keras.Input((11, 11, 3), name="image")
    pooled, indices = kcl.MaxPoolingWithArgmax2D(3, strides=2, padding="same", data_format=CL)(x)
    up = kcl.MaxUnpooling2D(2, data_format=CL)([pooled, indices, x])
    return keras.Model(x, [up, kcl.MaxPoolingWithRelativePosition2D(2, data_format=CL)(x)[1]])


def _blur():
    x = keras.Input((12, 12, 3), name="image")
    y = kcl.Blur2D(3, strides=2, padding="same", data_format=CL)(x)
    return keras.Model(x, kcl.Blur2D(5, padding="same", data_format=CL)(y))


def _group():
    x = keras.Input((12, 12, 3), name="image")
    y = kcl.GroupConv2D(4, 3, group="C4", padding="same", data_format=CL)(x)
    y = kcl.GroupConv2D(4, 3, group="C4", padding="same", weightnorm=True, data_format=CL)(y)
    c4 = kcl.GroupPooling2D(data_format=CL)(y)
    z = kcl.GroupConv2D(2, 3, group="D4", padding="same", data_format=CL)(x)
    return keras.Model(x, [c4, z])


def _deformable_v1():
    x = keras.Input((12, 12, 3), name="image")
    y = kcl.DeformableConv2D(8, 3, padding="same", offset_groups=1, data_format=CL)(x)
    return keras.Model(x, y)


def _deformable_v2():
    x = keras.Input((12, 12, 4), name="image")
    y = kcl.DeformableConv2D(
        6, 3, strides=2, padding="same", modulated=True, offset_groups=2, data_format=CL
    )(x)
    return keras.Model(x, y)


def _blocks():
    x = keras.Input((12, 12, 8), name="image")
    y = kcl.MBConv(8, se_ratio=0.25, data_format=CL)(x)
    y = kcl.FusedMBConv(8, data_format=CL)(y)
    y = kcl.SEBlock(ratio=4, data_format=CL)(y)
    y = kcl.ECA(data_format=CL)(y)
    y = kcl.CBAM(ratio=4, data_format=CL)(y)
    return keras.Model(x, y)


def _attention():
    x = keras.Input((12, 12, 8), name="image")
    y = kcl.MultiHeadedSpatialAttention(8, 3, heads=2, data_format=CL)(x)
    return keras.Model(x, y)


def _normalization():
    x = keras.Input((12, 12, 4), name="image")
    y = kcl.InstanceNormalization(data_format=CL)(x)
    y = kcl.LayerNormalization(data_format=CL)(y)
    y = kcl.Mish()(kcl.Scale()(y))
    return keras.Model(x, kcl.AddCoords2D(data_format=CL)(y))


#: family -> model builder
MODELS = {
    "conv_transforms": _conv_transforms,
    "masked": _masked,
    "unpooling": _unpooling,
    "unpooling_reference": _unpooling_reference,
    "blur": _blur,
    "group": _group,
    "deformable_v1": _deformable_v1,
    "deformable_v2": _deformable_v2,
    "blocks": _blocks,
    "attention": _attention,
    "normalization": _normalization,
}


def inputs_for(model: keras.Model, batch: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Seeded float32 inputs for `model` (a mask input holds 0/1 values)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = (batch, *tensor.shape[1:])
        if "mask" in tensor.name:
            arrays.append((rng.random(shape) > 0.3).astype("float32"))
        else:
            arrays.append(rng.normal(size=shape).astype("float32"))
    return arrays


def build(name: str) -> tuple[keras.Model, list[np.ndarray], list[np.ndarray]]:
    """`(model, inputs, outputs)`: the family's model (its kernels and
    biases randomised, BatchNormalization statistics moved by one training
    call), seeded inputs, and the model's outputs on them (numpy)."""
    keras.utils.set_random_seed(0)
    model = MODELS[name]()
    inputs = inputs_for(model)
    rng = np.random.default_rng(1)
    for weight in model.weights:
        if weight.trainable and len(weight.shape) > 0:
            weight.assign(0.3 * rng.normal(size=weight.shape).astype("float32"))
    model(inputs if len(inputs) > 1 else inputs[0], training=True)
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return model, inputs, [keras.ops.convert_to_numpy(o) for o in outputs]
