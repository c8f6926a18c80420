"""Functional-model cases of the conv, deformable and pooling ops."""

import numpy as np

import keras_cv_layers as kcl
from tests.ops.op_case import OpCase, channels_first, image

_rng = np.random.default_rng(0)
_KERNEL = _rng.normal(size=(3, 3, 4, 6)).astype("float32")
_DW_KERNEL = _rng.normal(size=(3, 3, 4, 2)).astype("float32")


def _pool_unpool(x):
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2)
    return kcl.ops.max_unpool2d(pooled * 2.0, idx, (6, 8))


def _deform(x, offsets):
    return kcl.ops.deform_conv2d(x, offsets, _KERNEL, padding="same")


def _deform_modulated(x, offsets, mask):
    return kcl.ops.deform_conv2d(
        x, offsets, _KERNEL[:, :, :2], bias=np.ones((6,), "float32"), mask=mask, groups=2
    )


def _offsets(height, width, channels):
    return image(_rng, 2, height, width, channels) * 0.7


OP_CASES = {
    "max_pool_with_argmax2d": [
        OpCase([image(_rng, 2, 6, 8, 3)], lambda x: kcl.ops.max_pool_with_argmax2d(x, 2)),
        OpCase(
            [image(_rng, 2, 7, 5, 3)],
            lambda x: kcl.ops.max_pool_with_argmax2d(x, 3, strides=2, padding="valid"),
        ),
    ],
    "max_unpool2d": [OpCase([image(_rng, 2, 6, 8, 3)], _pool_unpool)],
    "deform_conv2d": [
        OpCase([image(_rng, 2, 6, 5, 4), _offsets(6, 5, 18)], _deform, atol=1e-4),
        OpCase(
            [image(_rng, 2, 6, 5, 4), _offsets(4, 3, 18), np.abs(_offsets(4, 3, 9))],
            _deform_modulated,
            atol=1e-4,
        ),
    ],
    # Kernel transforms of a kernel given as an input (a batch of kernels
    # with the batch as the leading kernel axis).
    "weight_standardize": [
        OpCase([_rng.normal(size=(3, 3, 4, 5)).astype("float32")], kcl.ops.weight_standardize)
    ],
    "weight_normalize": [
        OpCase(
            [_rng.normal(size=(3, 3, 4, 5)).astype("float32")],
            lambda k: kcl.ops.weight_normalize(k, np.full((5,), 1.5, "float32")),
        ),
        OpCase(
            [_rng.normal(size=(3, 4, 2)).astype("float32")],
            lambda k: kcl.ops.weight_normalize(k, np.full((2,), 0.5, "float32"), eps=1e-5),
        ),
    ],
}

del channels_first, _DW_KERNEL
