"""TensorFlow fast path of the deformable convolution: the reference kernel
and its hand-written backward as nested XLA functions."""

from __future__ import annotations

import tensorflow as tf

from keras_cv_layers.backend_kernels.tf_graph import in_xla_context
from keras_cv_layers.ops import _deformable_kernels as reference

_DEFORM_XLA: dict = {}


def _deform_functions(key):
    """The nested XLA forward and backward functions of one configuration."""
    fns = _DEFORM_XLA.get(key)
    if fns is None:
        strides, padding, dilation_rate, groups, _ = key

        def forward(x, off, k, *m):
            return reference.deform_conv2d_forward(
                x, off, k, m[0] if m else None, strides, padding, dilation_rate, groups
            )

        def scatter_add(acc, index, values):
            return tf.tensor_scatter_nd_add(acc, index[:, None], values)

        def backward(x, off, k, upstream, *m):
            grads = reference.deform_conv2d_backward(
                x,
                off,
                k,
                m[0] if m else None,
                upstream,
                strides,
                padding,
                dilation_rate,
                groups,
                scatter_add=scatter_add,
            )
            return grads if m else grads[:3]

        fns = _DEFORM_XLA[key] = (
            tf.function(forward, jit_compile=True, autograph=False),
            tf.function(backward, jit_compile=True, autograph=False),
        )
    return fns


def deform_conv2d(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    """The generic kernel (tap by tap) in a nested
    `tf.function(jit_compile=True)`, float32 only, with
    `deform_conv2d_backward` (also one XLA function, its scatter-adds
    in place) as its gradient.  XLA fuses each tap's plan and four corner
    gathers with their bilinear weighting into one pass, where the op-by-op
    graph writes a dozen tensors of that size (benchmarks/deformable.py).
    Declined for mixed precision and inside an outer XLA compilation, where
    the generic kernel inlines.  Unknown dimensions are fine (XLA compiles
    per concrete shape at run time)."""
    if inputs.dtype != tf.float32 or kernel.dtype != tf.float32 or in_xla_context():
        return NotImplemented
    if offsets.dtype != tf.float32 or (mask is not None and mask.dtype != tf.float32):
        return NotImplemented
    key = (tuple(strides), padding, tuple(dilation_rate), int(groups), mask is None)
    forward, backward = _deform_functions(key)
    extra = () if mask is None else (mask,)

    @tf.custom_gradient
    def run(x, off, k, *m):
        def grad(upstream):
            return backward(x, off, k, upstream, *m)

        return forward(x, off, k, *m), grad

    return run(inputs, offsets, kernel, *extra)
