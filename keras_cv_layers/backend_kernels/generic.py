"""Generic kernels written with `keras.ops` only: they define the numbers.

`KERNELS` lists the kernel names; each backend module may provide a fast
path of the same name and signature (see `backend_kernels/__init__.py`).
"""

from __future__ import annotations

from keras import ops

KERNELS = ("weight_standardize",)


def weight_standardize(kernel, eps: float):
    """`(kernel - mean) / sqrt(var + eps)` per output filter (last axis).

    Mean and biased variance over all axes but the last; `kernel` float32.
    """
    axes = tuple(range(len(kernel.shape) - 1))
    mean = ops.mean(kernel, axis=axes, keepdims=True)
    centered = kernel - mean
    var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return centered * ops.rsqrt(var + eps)
