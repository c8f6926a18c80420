"""TensorFlow fast paths of the convolutions: channels_first (and unequal
depthwise strides) on a CPU, where TF's kernels take NHWC only."""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from keras_cv_layers.utils.argument_validation import same_padding_amounts


@functools.cache
def _has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def _channels_last_conv(op, inputs, kernel, strides, padding, dilation_rate):
    """`op` run channels_last on a channels_first input (transposed in and
    out): TensorFlow's CPU convolutions take NHWC only (NCHW works only in
    oneDNN builds running on CPUs that enable it, and under XLA)."""
    rank = len(inputs.shape)
    outputs = op(
        tf.transpose(inputs, (0, *range(2, rank), 1)),
        kernel,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        data_format="channels_last",
    )
    return tf.transpose(outputs, (0, rank - 1, *range(1, rank - 1)))


def conv(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """channels_first on a machine without GPU: the convolution channels_last
    between two transposes (declines otherwise: the generic op is native)."""
    if data_format != "channels_first" or _has_gpu():
        return NotImplemented
    return _channels_last_conv(keras.ops.conv, inputs, kernel, strides, padding, dilation_rate)


def _unequal_strides_depthwise(inputs, kernel, strides, padding, dilation_rate, data_format):
    """2D depthwise convolution of a channels_last input (static spatial
    size) with unequal strides, which TF's CPU kernel rejects: the "same"
    zero padding of those strides made explicit, a stride-1 "valid"
    convolution, then every (sh, sw)-th output."""
    if padding == "same":
        pads = [
            same_padding_amounts(int(n), int(k), int(s), int(d))
            for n, k, s, d in zip(inputs.shape[1:3], kernel.shape[:2], strides, dilation_rate)
        ]
        inputs = tf.pad(inputs, [(0, 0), pads[0], pads[1], (0, 0)])
    outputs = keras.ops.depthwise_conv(
        inputs,
        kernel,
        strides=1,
        padding="valid",
        dilation_rate=dilation_rate,
        data_format=data_format,
    )
    return outputs[:, :: strides[0], :: strides[1], :]


def depthwise_conv(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """As `conv` for channels_first; and unequal 2D strides (rejected by TF's
    CPU kernel; static spatial size only) as a stride-1 convolution
    subsampled."""
    if _has_gpu():
        return NotImplemented
    unequal = len(strides) == 2 and strides[0] != strides[1]
    if unequal and None in tuple(inputs.shape[1:]):
        return NotImplemented
    op = _unequal_strides_depthwise if unequal else keras.ops.depthwise_conv
    if data_format == "channels_first":
        return _channels_last_conv(op, inputs, kernel, strides, padding, dilation_rate)
    if not unequal:
        return NotImplemented
    return op(inputs, kernel, strides, padding, dilation_rate, "channels_last")
