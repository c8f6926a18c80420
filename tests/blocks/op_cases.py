"""Functional-model cases (tests/ops/test_functional_ops.py) of
`local_attention2d` (data in the Keras config's data format)."""

import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.ops import attention as attention_ops
from tests.ops.op_case import OpCase, image

_rng = np.random.default_rng(1)
_BIAS = _rng.normal(size=(3, 3)).astype("float32")
_HEAD_BIAS = _rng.normal(size=(2, 3, 3)).astype("float32")
_POSITIONS = _rng.normal(scale=0.5, size=(2, 3, 3, 16)).astype("float32")

# 16×16 with 16 channels per head takes the blocked route, 6×7 with 4 the direct one.
assert attention_ops.use_blocks(16, 16, (3, 3), (1, 1), 2, 32)
assert not attention_ops.use_blocks(6, 7, (3, 3), (2, 1), 2, 8)


def _qkv(height, width, channels, value_channels=None):
    return [
        image(_rng, 2, height, width, channels),
        image(_rng, 2, height, width, channels),
        image(_rng, 2, height, width, value_channels or channels),
    ]


OP_CASES = {
    "local_attention2d": [
        # Direct route, a shared logit bias, values of another depth.
        OpCase(
            _qkv(6, 7, 8, 6),
            lambda q, k, v: kcl.ops.local_attention2d(
                q, k, v, 3, heads=2, dilation_rate=(2, 1), logit_bias=_BIAS
            ),
            atol=1e-4,
        ),
        # Blocked route, key positions and a logit bias per head.
        OpCase(
            _qkv(16, 16, 32),
            lambda q, k, v: kcl.ops.local_attention2d(
                q, k, v, 3, heads=2, logit_bias=_HEAD_BIAS, key_position=_POSITIONS
            ),
            atol=1e-4,
        ),
    ],
}
