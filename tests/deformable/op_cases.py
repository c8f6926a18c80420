"""Functional-model cases (tests/ops/test_functional_ops.py) of `deform_conv2d`."""

import numpy as np

import keras_cv_layers as kcl
from tests.ops.op_case import OpCase, image

_rng = np.random.default_rng(0)
_KERNEL = _rng.normal(size=(3, 3, 4, 6)).astype("float32")


def _deform(x, offsets):
    return kcl.ops.deform_conv2d(x, offsets, _KERNEL, padding="same")


def _deform_modulated(x, offsets, mask):
    return kcl.ops.deform_conv2d(
        x, offsets, _KERNEL[:, :, :2], bias=np.ones((6,), "float32"), mask=mask, groups=2
    )


def _offsets(height, width, channels):
    return image(_rng, 2, height, width, channels) * 0.7


OP_CASES = {
    "deform_conv2d": [
        OpCase([image(_rng, 2, 6, 5, 4), _offsets(6, 5, 18)], _deform, atol=1e-4),
        OpCase(
            [image(_rng, 2, 6, 5, 4), _offsets(4, 3, 18), np.abs(_offsets(4, 3, 9))],
            _deform_modulated,
            atol=1e-4,
        ),
    ],
}
