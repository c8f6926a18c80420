"""Functional-model cases of the group-convolution kernel op."""

import keras
import numpy as np

import keras_cv_layers as kcl
from tests.ops.op_case import OpCase

_rng = np.random.default_rng(2)


def _expanded(shape, group, lifting):
    """The op on a kernel given as an input: the input's leading axis (the
    functional model's batch axis) is the kernel's first axis, reshaped to
    the static kernel shape the op needs."""

    def fn(kernel):
        return kcl.ops.group_conv2d_kernel(keras.ops.reshape(kernel, shape), group, lifting)

    return fn


OP_CASES = {
    "group_conv2d_kernel": [
        OpCase(
            [_rng.normal(size=(3, 3, 2, 5)).astype("float32")],
            _expanded((3, 3, 2, 5), "C4", True),
        ),
        OpCase(
            [_rng.normal(size=(3, 3, 8 * 2, 3)).astype("float32")],
            _expanded((3, 3, 16, 3), "D4", False),
        ),
        OpCase(
            [_rng.normal(size=(5, 5, 4 * 3, 2)).astype("float32")],
            _expanded((5, 5, 12, 2), "c4", False),
        ),
    ],
}
