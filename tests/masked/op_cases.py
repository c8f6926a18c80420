"""Functional-model cases of the masked convolution ops."""

import numpy as np

import keras_cv_layers as kcl
from tests.ops.op_case import OpCase, channels_first

_rng = np.random.default_rng(1)


def _channels_first(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1)) if channels_first() else a


def _case(op, kernel, x_shape, mask_channels=None, float_mask=False, bias=None, **options):
    """`op(x, mask, kernel, bias, **options)` on a random `x` of the
    channels_last shape `x_shape` (about a third of its values 0, for derived
    masks) and a random mask of `mask_channels` channels (None: no mask),
    both in the Keras config's data format."""
    x = _rng.normal(size=x_shape) * (_rng.random(x_shape) < 0.7)
    inputs = [_channels_first(x.astype("float32"))]
    if mask_channels is None:
        return OpCase(inputs, lambda x: op(x, None, kernel, bias, **options))
    mask = _rng.random(x_shape[:-1] + (mask_channels,))
    mask = mask if float_mask else mask < 0.5
    inputs.append(_channels_first(mask.astype("float32")))
    return OpCase(inputs, lambda x, m: op(x, m, kernel, bias, **options))


def _weights(*shape):
    return _rng.normal(size=shape).astype("float32")


_K2 = _weights(3, 3, 4, 6)
_K_DW = _weights(3, 3, 4, 2)

OP_CASES = {
    "partial_conv": [
        _case(kcl.ops.partial_conv, _K2, (2, 6, 5, 4), 4, bias=_weights(6), padding="same"),
        _case(
            kcl.ops.partial_conv,
            _weights(3, 3, 2, 6),  # groups=2
            (2, 7, 6, 4),
            1,
            float_mask=True,
            strides=2,
            binary=False,
            eps=1e-4,
        ),
        _case(kcl.ops.partial_conv, _weights(3, 3, 5), (2, 9, 3), dilation_rate=2, padding="same"),
    ],
    "sparse_conv": [
        _case(kcl.ops.sparse_conv, _K2, (2, 6, 5, 4), 1, bias=_weights(6), binary=False),
        _case(
            kcl.ops.sparse_conv,
            _weights(2, 3, 3, 3, 4),
            (2, 5, 4, 5, 3),
            padding="same",
            strides=(1, 2, 1),
        ),
    ],
    "partial_depthwise_conv2d": [
        _case(
            kcl.ops.partial_depthwise_conv2d,
            _K_DW,
            (2, 6, 5, 4),
            4,
            bias=_weights(8),
            padding="same",
        ),
        _case(
            kcl.ops.partial_depthwise_conv2d,
            _K_DW,
            (2, 7, 6, 4),
            1,
            float_mask=True,
            strides=2,
            binary=False,
        ),
        _case(kcl.ops.partial_depthwise_conv2d, _K_DW, (2, 6, 5, 4), dilation_rate=(2, 1)),
    ],
}
