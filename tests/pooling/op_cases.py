"""Functional-model cases (tests/ops/test_functional_ops.py) of the pooling ops."""

import numpy as np

import keras_cv_layers as kcl
from tests.ops.op_case import OpCase, image

_rng = np.random.default_rng(0)


def _pool_unpool(x):
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2)
    return kcl.ops.max_unpool2d(pooled * 2.0, idx, (6, 8))


OP_CASES = {
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
