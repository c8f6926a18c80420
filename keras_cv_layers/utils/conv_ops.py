"""The package's convolution entry points: `keras.ops.conv` and
`keras.ops.depthwise_conv` with the same arguments, routed through
`backend_kernels` (on TensorFlow without a GPU, channels_first runs as
channels_last between two transposes: TF's CPU kernels take NHWC only)."""

from __future__ import annotations

import keras

from keras_cv_layers import backend_kernels


def _tuple(value, rank: int) -> tuple:
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def _dispatch(name: str, inputs, kernel, strides, padding, dilation_rate, data_format):
    rank = len(kernel.shape) - 2
    return backend_kernels.dispatch(
        name,
        inputs,
        kernel,
        _tuple(strides, rank),
        padding,
        _tuple(dilation_rate, rank),
        data_format or keras.config.image_data_format(),
    )


def conv(inputs, kernel, strides=1, padding: str = "valid", dilation_rate=1, data_format=None):
    """`keras.ops.conv(inputs, kernel, strides, padding, data_format, dilation_rate)`."""
    return _dispatch("conv", inputs, kernel, strides, padding, dilation_rate, data_format)


def depthwise_conv(
    inputs, kernel, strides=1, padding: str = "valid", dilation_rate=1, data_format=None
):
    """`keras.ops.depthwise_conv(...)` with the same arguments."""
    return _dispatch("depthwise_conv", inputs, kernel, strides, padding, dilation_rate, data_format)
