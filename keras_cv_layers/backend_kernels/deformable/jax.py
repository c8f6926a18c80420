"""JAX fast path of the deformable convolution: the reference kernel as a
`lax.scan` over the kernel taps, with the hand-written backward as its
custom VJP."""

from __future__ import annotations

import functools

import jax

from keras_cv_layers.ops import _deformable_kernels as reference


def _take_in_bounds(rows, index):
    return rows.at[index].get(mode="promise_in_bounds")


def _scatter_add_in_bounds(acc, index, values):
    return acc.at[index].add(values, mode="promise_in_bounds")


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _deform(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    return reference.deform_conv2d_forward_scan(
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
    return reference.deform_conv2d_backward_scan(
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
    (`deform_conv2d_forward_scan`: every tap's corner indices and
    weights computed before the loop, one tap's buffers reused by the next;
    on the CPU ~2x faster than the unrolled taps, measured in
    benchmarks/deformable.py) with in-bounds gathers (the plan clamps its
    indices), compiled as one program (also in eager mode: one compilation
    per shape instead of one per op), and with
    `deform_conv2d_backward_scan` as its gradient (in-place
    in-bounds scatter-adds into the loop's input-gradient carry), several
    times faster than XLA's derivative of the gathers."""
    return _deform_conv2d(
        inputs, offsets, kernel, mask, tuple(strides), padding, tuple(dilation_rate), int(groups)
    )
