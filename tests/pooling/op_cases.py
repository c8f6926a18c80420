"""Functional-model cases (tests/ops/test_functional_ops.py) of the pooling ops."""

import numpy as np

import keras_cv_layers as kcl
from tests.ops.op_case import OpCase, channels_first, image

_rng = np.random.default_rng(0)


def _signal(rng, *shape):
    """A float32 batch of `shape` (channels_last, channels the last entry) in
    the Keras config's data format: 1D signals or 3D volumes."""
    x = rng.normal(size=shape).astype("float32")
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if channels_first() else x


def _pool_unpool(x):
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2)
    return kcl.ops.max_unpool2d(pooled * 2.0, idx, (6, 8))


def _pool_unpool1d(x):
    pooled, idx = kcl.ops.max_pool_with_argmax1d(x, 2)
    return kcl.ops.max_unpool1d(pooled * 2.0, idx, (9,))


def _pool_unpool3d(x):
    pooled, idx = kcl.ops.max_pool_with_argmax3d(x, 2)
    return kcl.ops.max_unpool3d(pooled * 2.0, idx, (4, 5, 6))


OP_CASES = {
    "max_pool_with_argmax1d": [
        OpCase(
            [_signal(_rng, 2, 9, 3)],
            lambda x: kcl.ops.max_pool_with_argmax1d(x, 3, strides=2, padding="valid"),
        )
    ],
    "max_pool_with_argmax3d": [
        OpCase([_signal(_rng, 1, 4, 5, 6, 2)], lambda x: kcl.ops.max_pool_with_argmax3d(x, 2))
    ],
    "max_unpool1d": [OpCase([_signal(_rng, 2, 9, 3)], _pool_unpool1d)],
    "max_unpool3d": [OpCase([_signal(_rng, 1, 4, 5, 6, 2)], _pool_unpool3d)],
    "max_pool_with_argmax2d": [
        OpCase([image(_rng, 2, 6, 8, 3)], lambda x: kcl.ops.max_pool_with_argmax2d(x, 2)),
        OpCase(
            [image(_rng, 2, 7, 5, 3)],
            lambda x: kcl.ops.max_pool_with_argmax2d(x, 3, strides=2, padding="valid"),
        ),
    ],
    "max_unpool2d": [OpCase([image(_rng, 2, 6, 8, 3)], _pool_unpool)],
    "blur_pool2d": [
        OpCase([image(_rng, 2, 7, 8, 3)], kcl.ops.blur_pool2d),
        OpCase(
            [image(_rng, 2, 7, 6, 2)],
            lambda x: kcl.ops.blur_pool2d(x, 4, strides=2, padding="same"),
        ),
        OpCase(
            [image(_rng, 2, 6, 5, 2)],
            lambda x: kcl.ops.blur_pool2d(x, 5, strides=(1, 2), padding="same", boundary="reflect"),
        ),
        OpCase(
            [image(_rng, 2, 5, 5, 2)],
            lambda x: kcl.ops.blur_pool2d(x, 2, strides=3, padding="same", boundary="zero"),
        ),
    ],
}
