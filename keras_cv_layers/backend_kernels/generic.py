"""Generic kernels written with `keras.ops` only: they define the numbers.

`KERNELS` lists the kernel names (every function decorated with `@register_kernel`);
each backend module may provide a fast path of the same name and signature
(see `backend_kernels/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from keras import ops

KERNELS: list[str] = []


def register_kernel(fn: Callable) -> Callable:
    """Registers `fn` as a generic kernel under its own name."""
    KERNELS.append(fn.__name__)
    return fn


@register_kernel
def weight_standardize(kernel, eps: float):
    """`(kernel - mean) / sqrt(var + eps)` per output filter (last axis).

    Mean and biased variance over all axes but the last; `kernel` float32.
    """
    axes = tuple(range(len(kernel.shape) - 1))
    mean = ops.mean(kernel, axis=axes, keepdims=True)
    centered = kernel - mean
    var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return centered * ops.rsqrt(var + eps)
