"""JAX fast paths of argmax pooling and unpooling: the reference kernels
jit-compiled as one unit (every rank: 1D, 2D and 3D)."""

from __future__ import annotations

import functools

import jax

from keras_cv_layers.ops import _pooling_kernels as reference


# ---- pooling kernels ----
# The generic `keras.ops` formulations are what XLA compiles best here (a
# strided-slice max/argmax over the window offsets fuses into one pass and
# its gradient is a select, much cheaper than reduce_window's
# select-and-scatter; measured in benchmarks/pooling.py).  These fast paths
# only jit-compile them as one unit: eager calls then run one cached
# executable instead of dozens of op-by-op dispatches, and the unpooling's
# dense-or-scatter `cond` runs only the taken branch.  Inside an outer jit
# they inline.
@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _max_pool_with_argmax2d_jit(inputs, pool_size, strides, padding, data_format):
    return reference.max_pool_with_argmax.generic(inputs, pool_size, strides, padding, data_format)


def max_pool_with_argmax2d(inputs, pool_size, strides, padding: str, data_format: str):
    """The generic kernel, jit-compiled (static window arguments), for any
    rank (eager 3D calls: ~15x faster than the op-by-op kernel)."""
    return _max_pool_with_argmax2d_jit(
        inputs, tuple(pool_size), tuple(strides), padding, data_format
    )


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _max_unpool2d_jit(inputs, indices, output_size, block_size, data_format):
    return reference.max_unpool.generic(inputs, indices, output_size, block_size, data_format)


def max_unpool2d(inputs, indices, output_size, block_size, data_format: str):
    """The generic kernel, jit-compiled (static output size and block), for
    any rank (eager 1D/3D calls: several hundred times faster than the
    op-by-op kernel, whose `cond` is traced anew at each call)."""
    try:
        output_size = tuple(int(v) for v in output_size)
    except TypeError:  # a traced size: leave it to the generic kernel
        return NotImplemented
    block_size = None if block_size is None else tuple(block_size)
    return _max_unpool2d_jit(inputs, indices, output_size, block_size, data_format)
