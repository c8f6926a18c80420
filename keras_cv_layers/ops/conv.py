"""Convolutions and kernel transforms.

Public: `weight_standardize` and `weight_normalize`, the kernel transforms
of the weight-standardized and weight-normalized convolutions, as Keras
operations.  Package-private: `conv`, `depthwise_conv` (every convolution of
the package runs through them, with the backend fast paths of
`backend_kernels/conv`) and `bias_add`.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.backend_kernels import conv as _fast
from keras_cv_layers.backend_kernels import with_fast_path
from keras_cv_layers.ops._operation import Operation, register_op, run, static_shape
from keras_cv_layers.utils import argument_validation as av

__all__ = ["weight_normalize", "weight_standardize"]


def _tuple(value, rank: int) -> tuple:
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def _keras_conv(op, inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    return op(
        inputs,
        kernel,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        data_format=data_format,
    )


@with_fast_path(_fast.conv)
def _conv_kernel(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """`keras.ops.conv` (strides and dilation as tuples)."""
    return _keras_conv(ops.conv, inputs, kernel, strides, padding, dilation_rate, data_format)


@with_fast_path(_fast.depthwise_conv)
def _depthwise_conv_kernel(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """`keras.ops.depthwise_conv` (strides and dilation as tuples)."""
    return _keras_conv(
        ops.depthwise_conv, inputs, kernel, strides, padding, dilation_rate, data_format
    )


def _normalized_call(kernel_fn, inputs, kernel, strides, padding, dilation_rate, data_format):
    rank = len(kernel.shape) - 2
    return kernel_fn(
        inputs,
        kernel,
        _tuple(strides, rank),
        padding,
        _tuple(dilation_rate, rank),
        data_format or keras.config.image_data_format(),
    )


def conv(inputs, kernel, strides=1, padding: str = "valid", dilation_rate=1, data_format=None):
    """`keras.ops.conv` with the same arguments, through the backend fast
    paths (on TensorFlow without a GPU, channels_first runs channels_last
    between two transposes: TF's CPU kernels take NHWC only)."""
    return _normalized_call(
        _conv_kernel, inputs, kernel, strides, padding, dilation_rate, data_format
    )


def depthwise_conv(
    inputs, kernel, strides=1, padding: str = "valid", dilation_rate=1, data_format=None
):
    """`keras.ops.depthwise_conv` with the same arguments (see `conv`)."""
    return _normalized_call(
        _depthwise_conv_kernel, inputs, kernel, strides, padding, dilation_rate, data_format
    )


def bias_add(outputs, bias, data_format: str):
    """`outputs + bias` along the channel axis of `data_format` (any rank);
    `outputs` unchanged when `bias` is None.

    channels_last: `ops.add` of the `(1, ..., 1, n)` bias, which TensorFlow
    runs as a `BiasAdd` that XLA and grappler fuse with the convolution.
    channels_first: `+`, never `ops.add`: there TF's `bias_add` special case
    assumes channels last and, when the width equals `n`, adds along the
    width."""
    if bias is None:
        return outputs
    rank = len(outputs.shape)
    bias = ops.cast(bias, outputs.dtype)
    if data_format == "channels_last":
        return ops.add(outputs, ops.reshape(bias, (1,) * (rank - 1) + (-1,)))
    return outputs + ops.reshape(bias, (1, -1) + (1,) * (rank - 2))


# ------------------------------------------------------------ kernel transforms
@with_fast_path(_fast.weight_standardize)
def standardize_kernel(kernel, eps: float):
    """`(kernel - mean) / sqrt(var + eps)` per output filter (last axis):
    mean and biased variance over all axes but the last; `kernel` float32."""
    axes = tuple(range(len(kernel.shape) - 1))
    mean = ops.mean(kernel, axis=axes, keepdims=True)
    centered = kernel - mean
    var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return centered * ops.rsqrt(var + eps)


def normalize_kernel(kernel, gain, axes: tuple, eps: float):
    """`kernel / sqrt(sum(kernel**2 over axes) + eps) * gain` (float32 in,
    `gain` broadcastable to the kernel)."""
    sq = ops.sum(ops.square(kernel), axis=axes, keepdims=True)
    return kernel * ops.rsqrt(sq + eps) * gain


def _check_kernel_rank(name: str, shape) -> None:
    if len(shape) < 2:
        raise ValueError(
            f"{name}: `kernel` must have rank >= 2, (..., filters); received shape {shape}."
        )


@register_op
class WeightStandardize(Operation):
    """The operation of `weight_standardize`."""

    def __init__(self, eps: float = 1e-6, *, name: str | None = None):
        super().__init__(name=name)
        self.arguments = {"eps": _eps(eps, "weight_standardize")}

    def call(self, kernel):
        _check_kernel_rank("weight_standardize", static_shape(kernel))
        out = standardize_kernel(ops.cast(kernel, "float32"), self.arguments["eps"])
        return ops.cast(out, kernel.dtype)

    def compute_output_spec(self, kernel):
        _check_kernel_rank("weight_standardize", static_shape(kernel))
        return keras.KerasTensor(kernel.shape, dtype=kernel.dtype)


def _eps(value, name: str) -> float:
    # > 0: with eps = 0 a zero (or constant) kernel would give 0 / 0.
    return av.check_float(value, "eps", name)


def weight_standardize(kernel, eps: float = 1e-6):
    """Weight standardization of a convolution kernel, per output filter.

    `(kernel - mean) / sqrt(var + eps)`, with the mean and biased variance
    over all axes but the last (the filters), computed in float32 and cast
    back to the kernel's dtype: the transform of `kcl.WSConv2D` (as timm's
    `StdConv2d`).

    Args:
        kernel: tensor of rank >= 2, `(..., filters)` (Keras kernel layout).
        eps: float >= 0 added to the variance. Default 1e-6.

    Returns:
        The standardized kernel, same shape and dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> k = np.random.default_rng(0).normal(size=(3, 3, 4, 8)).astype("float32")
    >>> w = np.asarray(kcl.ops.weight_standardize(k))
    >>> bool(np.allclose(w.reshape(-1, 8).mean(0), 0.0, atol=1e-5))
    True

    Reference: Qiao et al., "Micro-Batch Training with Batch-Channel
    Normalization and Weight Standardization" (2019), arXiv:1903.10520.
    """
    return run(WeightStandardize(eps), kernel)


@register_op
class WeightNormalize(Operation):
    """The operation of `weight_normalize`."""

    def __init__(self, eps: float = 1e-6, *, name: str | None = None):
        super().__init__(name=name)
        self.arguments = {"eps": _eps(eps, "weight_normalize")}

    @staticmethod
    def _check(kernel_shape, g_shape) -> None:
        _check_kernel_rank("weight_normalize", kernel_shape)
        if tuple(g_shape) != tuple(kernel_shape[-1:]):
            raise ValueError(
                f"weight_normalize: `g` must have shape ({kernel_shape[-1]},), one gain per "
                f"output channel (the last axis of `kernel`, shape {tuple(kernel_shape)}); "
                f"received {tuple(g_shape)}."
            )

    def call(self, kernel, g):
        self._check(static_shape(kernel), static_shape(g))
        axes = tuple(range(len(kernel.shape) - 1))
        out = normalize_kernel(
            ops.cast(kernel, "float32"), ops.cast(g, "float32"), axes, self.arguments["eps"]
        )
        return ops.cast(out, kernel.dtype)

    def compute_output_spec(self, kernel, g):
        self._check(static_shape(kernel), static_shape(g))
        return keras.KerasTensor(kernel.shape, dtype=kernel.dtype)


def weight_normalize(kernel, g, eps: float = 1e-6):
    """Weight normalization of a kernel: `g * kernel / sqrt(sum(kernel**2) + eps)`.

    The sum runs over every axis but the last (one norm per output channel),
    in float32; the result is cast back to the kernel's dtype.  The
    transform of `kcl.Conv2D(weightnorm=True)` (the depthwise layers take
    one norm per (channel, multiplier) pair instead).

    Args:
        kernel: tensor of rank >= 2, `(..., filters)` (Keras kernel layout).
        g: the gains, `(filters,)`.
        eps: float >= 0 under the square root. Default 1e-6.

    Returns:
        The normalized kernel, same shape and dtype as `kernel`.

    Raises:
        ValueError: when `g` is not `(filters,)`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> k = np.random.default_rng(0).normal(size=(3, 3, 4, 8)).astype("float32")
    >>> w = np.asarray(kcl.ops.weight_normalize(k, np.full((8,), 2.0, "float32")))
    >>> np.round(np.linalg.norm(w.reshape(-1, 8), axis=0), 4).tolist()[:2]
    [2.0, 2.0]

    Reference: Salimans & Kingma, "Weight Normalization: A Simple
    Reparameterization to Accelerate Training of Deep Neural Networks"
    (2016), arXiv:1602.07868.
    """
    return run(WeightNormalize(eps), kernel, g)
