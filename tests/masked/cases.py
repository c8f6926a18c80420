"""Harness cases (see tests/harness.py) of the masked layers."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

IMG = (2, 9, 9, 4)


def _mask(channels, binary=True):
    """`extra_inputs` making a random mask with `channels` channels (None:
    as many as `x`), binary (about half valid) or uniform in [0, 1]."""

    def make(x, rng, channels_first):
        axis = 1 if channels_first else -1
        shape = list(x.shape)
        if channels is not None:
            shape[axis] = channels
        if binary:
            return [(rng.random(shape) < 0.5).astype("float32")]
        return [rng.random(shape).astype("float32")]

    return make


CASES = [
    LayerCase(
        "SparseConv1D_causal_mask",
        kcl.SparseConv1D,
        dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2, use_bias=True),
        (2, 9, 4),
        extra_inputs=_mask(1),
    ),
    LayerCase(
        "SparseConv2D_mask_weightnorm",
        kcl.SparseConv2D,
        dict(filters=5, kernel_size=3, padding="same", use_bias=True, weightnorm=True),
        IMG,
        extra_inputs=_mask(1),
    ),
    LayerCase(
        "SparseConv2D_nomask_float_equalize",
        kcl.SparseConv2D,
        dict(filters=4, kernel_size=3, strides=2, binary=False, equalize=True, activation="relu"),
        IMG,
    ),
    LayerCase(
        "SparseConv3D_float_mask",
        kcl.SparseConv3D,
        dict(filters=3, kernel_size=3, padding="same", binary=False, use_bias=True),
        (2, 5, 5, 5, 2),
        extra_inputs=_mask(1, binary=False),
    ),
    LayerCase(
        "PartialConv1D_float_mask",
        kcl.PartialConv1D,
        dict(filters=4, kernel_size=3, strides=2, binary=False, use_bias=True),
        (2, 9, 4),
        extra_inputs=_mask(None, binary=False),
    ),
    LayerCase(
        "PartialConv2D_mask_weightnorm",
        kcl.PartialConv2D,
        dict(filters=6, kernel_size=3, padding="same", use_bias=True, weightnorm=True),
        IMG,
        extra_inputs=_mask(None),
    ),
    LayerCase(
        "PartialConv2D_mask1_groups",
        kcl.PartialConv2D,
        dict(filters=4, kernel_size=3, dilation_rate=2, groups=2, activation="sigmoid"),
        IMG,
        extra_inputs=_mask(1),
    ),
    LayerCase(
        "PartialConv2D_groups_float_mask",
        kcl.PartialConv2D,
        dict(filters=4, kernel_size=3, padding="same", groups=2, binary=False, use_bias=True),
        IMG,
        extra_inputs=_mask(None, binary=False),
    ),
    LayerCase(
        "PartialConv2D_nomask_equalize",
        kcl.PartialConv2D,
        dict(filters=4, kernel_size=(3, 2), padding="same", strides=2, equalize=True),
        IMG,
    ),
    LayerCase(
        "PartialConv3D_mask",
        kcl.PartialConv3D,
        dict(filters=3, kernel_size=3, strides=2, padding="same", use_bias=True),
        (2, 5, 5, 5, 2),
        extra_inputs=_mask(None),
    ),
    LayerCase(
        "PartialDepthwiseConv2D_mask_weightnorm",
        kcl.PartialDepthwiseConv2D,
        dict(kernel_size=3, depth_multiplier=2, padding="same", use_bias=True, weightnorm=True),
        IMG,
        extra_inputs=_mask(None),
    ),
    LayerCase(
        "PartialDepthwiseConv2D_mask1_float",
        kcl.PartialDepthwiseConv2D,
        dict(kernel_size=3, strides=2, binary=False, equalize=True),
        IMG,
        extra_inputs=_mask(1, binary=False),
    ),
    LayerCase(
        "PartialDepthwiseConv2D_nomask",
        kcl.PartialDepthwiseConv2D,
        dict(kernel_size=(3, 2), dilation_rate=(1, 2), use_bias=True),
        IMG,
    ),
]
