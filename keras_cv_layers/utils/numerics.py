"""Numerically safe building blocks (statistics in float32, finite gradients)."""

from __future__ import annotations

from keras import ops


def safe_sqrt(x):
    """`sqrt(x)` for x >= 0 whose gradient is 0 (not inf/NaN) where x == 0."""
    positive = ops.greater(x, 0)
    return ops.where(positive, ops.sqrt(ops.where(positive, x, ops.ones_like(x))), 0.0)


def standardize(x, axes, eps: float):
    """`(x - mean) / (std + eps)` with biased std over `axes`, in float32.

    Returns the float32 result; callers cast back to their compute dtype.
    """
    x = ops.cast(x, "float32")
    mean = ops.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return centered / (safe_sqrt(var) + eps)
