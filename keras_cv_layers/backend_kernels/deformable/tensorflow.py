"""TensorFlow fast path of the deformable convolution: the reference kernel
and its hand-written backward as loops over the kernel taps in nested XLA
functions."""

from __future__ import annotations

import tensorflow as tf

from keras_cv_layers.backend_kernels.tf_graph import in_xla_context
from keras_cv_layers.ops import _deformable_kernels as reference

_DEFORM_XLA: dict = {}

#: Bytes of one (pixels, channels) float32 buffer of a chunk: the loops run
#: over chunks of output pixels of about this size (see `deform_conv2d`).
CHUNK_BYTES = 4 * 2**20


def _scan(body, init, xs):
    """`jax.lax.scan(body, init, xs)` as a `tf.while_loop` (None leaves of
    `xs` and of the outputs allowed; the length static), one iteration at a
    time, so that one step's buffers are freed (or, in XLA, reused) before
    the next.  The outputs' structure, shapes and dtypes (for their
    `TensorArray`s) come from a trace of the body that is never run, so the
    XLA program holds the body once (emitting a first step before the loop
    doubled it: ~1.4x the backward's compile time)."""
    leaves = tf.nest.flatten(xs)
    length = int(next(v for v in leaves if v is not None).shape[0])

    def step(carry, i):
        x = tf.nest.pack_sequence_as(xs, [None if v is None else tf.gather(v, i) for v in leaves])
        return body(carry, x)

    probe = tf.function(lambda carry: step(carry, tf.constant(0)), autograph=False)
    _, y_spec = probe.get_concrete_function(init).structured_outputs
    y_leaves = tf.nest.flatten(y_spec)
    arrays = [
        tf.TensorArray(y.dtype, size=length, element_shape=y.shape)
        for y in y_leaves
        if y is not None
    ]

    def loop(i, carry, arrays):
        carry, y = step(carry, i)
        ys = [v for v in tf.nest.flatten(y) if v is not None]
        return i + 1, carry, [a.write(i, v) for a, v in zip(arrays, ys)]

    _, carry, arrays = tf.while_loop(
        lambda i, *_: i < length,
        loop,
        (tf.constant(0), init, arrays),
        parallel_iterations=1,
        maximum_iterations=length,
    )
    stacked = iter([a.stack() for a in arrays])
    ys = [None if y is None else next(stacked) for y in y_leaves]
    return carry, tf.nest.pack_sequence_as(y_spec, ys)


def _fori_loop(lower, upper, body, init):
    """`keras.ops.fori_loop` one iteration at a time (no parallel iterations)."""
    return tf.while_loop(
        lambda i, _: i < upper,
        lambda i, carry: (i + 1, body(i, carry)),
        (tf.constant(lower), init),
        parallel_iterations=1,
    )[1]


def _deform_functions(key):
    """The nested XLA forward and backward functions of one configuration."""
    fns = _DEFORM_XLA.get(key)
    if fns is None:
        strides, padding, dilation_rate, groups, no_mask, chunk, kernel_shape, n_off = key
        loops = (_scan, _fori_loop, chunk)
        # One trace for every input size (XLA still compiles per shape; a
        # Python trace per new size took 0.3-1 s).
        images = [None, None, None]
        specs = [
            tf.TensorSpec(images + [kernel_shape[2] * groups], tf.float32),
            tf.TensorSpec(images + [n_off], tf.float32),
            tf.TensorSpec(kernel_shape, tf.float32),
        ]
        upstream_spec = [tf.TensorSpec(images + [kernel_shape[3]], tf.float32)]
        mask_spec = [] if no_mask else [tf.TensorSpec(images + [n_off // 2], tf.float32)]

        def forward(x, off, k, *m):
            return reference.deform_conv2d_forward_chunked(
                x, off, k, m[0] if m else None, strides, padding, dilation_rate, groups, *loops
            )

        def scatter_add(acc, index, values):
            return tf.tensor_scatter_nd_add(acc, index[:, None], values)

        def backward(x, off, k, upstream, *m):
            grads = reference.deform_conv2d_backward_chunked(
                x,
                off,
                k,
                m[0] if m else None,
                upstream,
                strides,
                padding,
                dilation_rate,
                groups,
                *loops,
                scatter_add=scatter_add,
            )
            return grads if m else grads[:3]

        fns = _DEFORM_XLA[key] = (
            tf.function(
                forward,
                input_signature=specs + mask_spec,
                jit_compile=True,
                autograph=False,
            ),
            tf.function(
                backward,
                input_signature=specs + upstream_spec + mask_spec,
                jit_compile=True,
                autograph=False,
            ),
        )
    return fns


def deform_conv2d(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    """The generic kernel as loops over chunks of output pixels
    (`CHUNK_BYTES` per (pixels, channels) buffer) and, within a chunk, over
    the taps (`deform_conv2d_forward_chunked`), in a nested
    `tf.function(jit_compile=True)`, float32 only, with
    `deform_conv2d_backward_chunked` (also one XLA function, its
    scatter-adds in place into the loops' input-gradient carry) as its
    gradient.  XLA fuses each tap's four corner gathers with their bilinear
    weighting into one pass, where the op-by-op graph writes a dozen
    tensors of that size (benchmarks/deformable.py); the loops keep one
    chunk's tap buffers alive at a time (the unrolled taps' backward held
    ~20x a Conv2D training step's memory, benchmarks/memory.py).  Declined
    for mixed precision and inside an outer XLA compilation, where the
    generic kernel inlines.  Unknown dimensions are fine (XLA compiles per
    concrete shape at run time)."""
    if inputs.dtype != tf.float32 or kernel.dtype != tf.float32 or in_xla_context():
        return NotImplemented
    if offsets.dtype != tf.float32 or (mask is not None and mask.dtype != tf.float32):
        return NotImplemented
    chunk = max(1, CHUNK_BYTES // (4 * max(int(inputs.shape[-1]), int(kernel.shape[-1]))))
    key = (
        tuple(strides),
        padding,
        tuple(dilation_rate),
        int(groups),
        mask is None,
        chunk,
        tuple(int(d) for d in kernel.shape),
        int(offsets.shape[-1]),
    )
    forward, backward = _deform_functions(key)
    extra = () if mask is None else (mask,)

    def shaped(results, like):
        # The functions' signatures leave the sizes unknown: the static
        # shapes of their results (symbolic tensors) come from the arguments.
        for result, shape in zip(results, like):
            result.set_shape(shape)
        return results

    @tf.custom_gradient
    def run(x, off, k, *m):
        def grad(upstream):
            grads = backward(x, off, k, upstream, *m)
            return shaped(list(grads), [t.shape for t in (x, off, k, *m)])

        # Not recorded by an outer tape (its while loop's TensorLists cannot
        # leave XLA as the intermediates of a differentiated call).
        out = forward(*(tf.stop_gradient(t) for t in (x, off, k, *m)))
        return shaped([out], [off.shape[:3].concatenate(k.shape[-1:])])[0], grad

    return run(inputs, offsets, kernel, *extra)
