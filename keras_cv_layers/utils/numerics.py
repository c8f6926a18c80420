"""Numerically safe building blocks (statistics in float32, finite gradients)."""

from __future__ import annotations

from keras import ops


def safe_sqrt(x):
    """`sqrt(x)` for x >= 0 whose gradient is 0 (not inf/NaN) where x == 0."""
    positive = ops.greater(x, 0.0)
    return ops.where(positive, ops.sqrt(ops.where(positive, x, ops.ones_like(x))), 0.0)


def standardize(x, axes, eps: float):
    """`(x - mean) / (std + eps)` with biased std over `axes`, in float32.

    The statistics are taken of `x / s`, `s` the largest magnitude over
    `axes` (held constant for the gradient: the result does not depend on
    it), so that inputs near float32's range (1e30) neither overflow the
    variance nor differ from the unscaled result:
    `(x - mean) / (std + eps) = (x_s - mean_s) / (std_s + eps / s)`.

    Returns the float32 result; callers cast back to their compute dtype.
    """
    x = ops.cast(x, "float32")
    # `initial=0` for a statically empty tensor only: TensorFlow rejects an
    # eager max over an empty batch, and JAX's ONNX export rejects `initial`.
    empty = any(isinstance(d, int) and d == 0 for d in x.shape)
    initial = {"initial": 0.0} if empty else {}
    scale = ops.stop_gradient(ops.max(ops.abs(x), axis=axes, keepdims=True, **initial))
    scale = ops.where(ops.greater(scale, 0.0), scale, ops.ones_like(scale))
    x = x / scale
    mean = ops.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return centered / (safe_sqrt(var) + eps / scale)


def batch_positions(x):
    """`0, 1, ..., batch - 1` (int32) for the leading axis of `x`.

    Computed from `x` itself (a cumulative sum of ones), so it also traces
    when the batch size is symbolic, as in JAX's shape-polymorphic export
    to ONNX, where `ops.arange(batch)` cannot be traced.
    """
    first = x[(slice(None),) + (0,) * (len(x.shape) - 1)]
    return ops.cumsum(ops.ones_like(first, dtype="int32")) - 1
