"""JAX fast paths (see `backend_kernels/__init__.py` for the contract).

No kernel of the foundation needs one: XLA fuses the generic versions.
Later kernels (deformable sampling, argmax pooling, group-kernel expansion)
add theirs here.
"""

# ---- deformable kernels ----
import functools  # noqa: E402

import jax  # noqa: E402

from keras_cv_layers.backend_kernels import generic as _generic  # noqa: E402


def _take_in_bounds(rows, index):
    return rows.at[index].get(mode="promise_in_bounds")


def _scatter_add_in_bounds(acc, index, values):
    return acc.at[index].add(values, mode="promise_in_bounds")


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _deform(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    return _generic.deform_conv2d_forward_scan(
        inputs,
        offsets,
        kernel,
        mask,
        strides,
        padding,
        dilation_rate,
        groups,
        jax.lax.scan,
        _take_in_bounds,
    )


def _deform_fwd(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    out = _deform(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups)
    return out, (inputs, offsets, kernel, mask)


def _deform_bwd(strides, padding, dilation_rate, groups, residuals, upstream):
    inputs, offsets, kernel, mask = residuals
    return _generic.deform_conv2d_backward_scan(
        inputs,
        offsets,
        kernel,
        mask,
        upstream,
        strides,
        padding,
        dilation_rate,
        groups,
        jax.lax.scan,
        _take_in_bounds,
        _scatter_add_in_bounds,
    )


_deform.defvjp(_deform_fwd, _deform_bwd)


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _deform_conv2d(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    return _deform(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups)


def deform_conv2d(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    """The generic kernel as a `lax.scan` over the kernel taps
    (`generic.deform_conv2d_forward_scan`: every tap's corner indices and
    weights computed before the loop, one tap's buffers reused by the next;
    on the CPU ~2x faster than the unrolled taps, measured in
    benchmarks/deformable.py) with in-bounds gathers (the plan clamps its
    indices), compiled as one program (also in eager mode: one compilation
    per shape instead of one per op), and with
    `generic.deform_conv2d_backward_scan` as its gradient (in-place
    in-bounds scatter-adds into the loop's input-gradient carry), several
    times faster than XLA's derivative of the gathers."""
    return _deform_conv2d(
        inputs, offsets, kernel, mask, tuple(strides), padding, tuple(dilation_rate), int(groups)
    )


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
    return _generic.max_pool_with_argmax2d(inputs, pool_size, strides, padding, data_format)


def max_pool_with_argmax2d(inputs, pool_size, strides, padding: str, data_format: str):
    """The generic kernel, jit-compiled (static window arguments)."""
    return _max_pool_with_argmax2d_jit(
        inputs, tuple(pool_size), tuple(strides), padding, data_format
    )


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _max_unpool2d_jit(inputs, indices, output_size, block_size, data_format):
    return _generic.max_unpool2d(inputs, indices, output_size, block_size, data_format)


def max_unpool2d(inputs, indices, output_size, block_size, data_format: str):
    """The generic kernel, jit-compiled (static output size and block)."""
    try:
        output_size = tuple(int(v) for v in output_size)
    except TypeError:  # a traced size: leave it to the generic kernel
        return NotImplemented
    block_size = None if block_size is None else tuple(block_size)
    return _max_unpool2d_jit(inputs, indices, output_size, block_size, data_format)
