"""TensorFlow fast paths of argmax pooling and unpooling: the reference
kernels compiled by XLA as nested functions, or TF's native op."""

from __future__ import annotations

import tensorflow as tf

from keras_cv_layers.backend_kernels.tf_graph import in_xla_context
from keras_cv_layers.ops import _pooling_kernels as reference

_POOL_DTYPES = (tf.float32, tf.float16, tf.bfloat16, tf.float64)


_POOL_XLA: dict = {}


def max_pool_with_argmax2d(inputs, pool_size, strides, padding: str, data_format: str):
    """With static shapes: the generic kernel in a nested
    `tf.function(jit_compile=True)` (XLA fuses its strided-slice max/argmax
    into one pass: several times faster on CPU than the op-by-op graph and
    than `tf.nn.max_pool_with_argmax`; measured in benchmarks/pooling.py).
    Otherwise `tf.nn.max_pool_with_argmax(include_batch_in_index=False)`,
    whose indices are the package's channels_last convention; channels_first
    inputs are transposed and their indices converted.  Declined inside XLA
    (the generic kernel inlines there) and when a "valid" window does not
    fit the input.  The XLA route serves every rank (1D, 3D: ~20x faster
    than the eager op-by-op kernel); the native op is 2D only, so other
    ranks of unknown size are declined."""
    if inputs.dtype not in _POOL_DTYPES or in_xla_context():
        return NotImplemented
    if all(d is not None for d in inputs.shape):
        key = (tuple(pool_size), tuple(strides), padding, data_format)
        fn = _POOL_XLA.get(key)
        if fn is None:

            def pool(x):
                return reference.max_pool_with_argmax.generic(x, *key)

            fn = _POOL_XLA[key] = tf.function(pool, jit_compile=True, autograph=False)
        return fn(inputs)
    if len(pool_size) != 2:
        return NotImplemented
    channels_first = data_format == "channels_first"
    x = tf.transpose(inputs, (0, 2, 3, 1)) if channels_first else inputs
    height, width = x.shape[1], x.shape[2]
    if padding == "valid" and (
        height is None or width is None or height < pool_size[0] or width < pool_size[1]
    ):
        return NotImplemented
    pooled, indices = tf.nn.max_pool_with_argmax(
        x,
        ksize=(1, *pool_size, 1),
        strides=(1, *strides, 1),
        padding=padding.upper(),
        # int64: TF registers the gradient kernel for int64 argmax only.
        output_dtype=tf.int64,
        include_batch_in_index=False,
    )
    indices = tf.cast(indices, tf.int32)
    if not channels_first:
        return pooled, indices
    shape = tf.shape(x)
    channels = shape[3]
    position = indices // channels
    channel = indices - position * channels
    indices = channel * (shape[1] * shape[2]) + position
    return tf.transpose(pooled, (0, 3, 1, 2)), tf.transpose(indices, (0, 3, 1, 2))


_UNPOOL_XLA: dict = {}


def max_unpool2d(inputs, indices, output_size, block_size, data_format: str):
    """The generic kernel in a nested `tf.function(jit_compile=True)`: XLA
    fuses its dense path (in-block check, one broadcast select) into a
    couple of passes, where the op-by-op graph runs a dozen full-size ones
    (measured in benchmarks/pooling.py), and its `cond` runs only the taken
    branch.  Static shapes only (XLA needs them).  Inside an outer XLA
    compilation (`jit_compile=True`) the generic kernel inlines, with the
    same written-out gradient: TF cannot compile the gradient of its `cond`
    (the scatter branch's `UnsortedSegmentMax` gradient fails to convert
    when the spatial size is only known at run time).  Every rank (1D,
    3D: ~20x faster than the eager op-by-op kernel)."""
    if in_xla_context():

        def inline(x, idx):
            return reference.max_unpool.generic(x, idx, output_size, block_size, data_format)

        return _unpool_with_gather_grad(inline, inputs, tf.cast(indices, tf.int32))
    if any(d is None for d in (*inputs.shape, *indices.shape)):
        return NotImplemented
    try:
        output_size = tuple(int(v) for v in output_size)
    except (TypeError, ValueError):  # a size only known at run time
        return NotImplemented
    key = (output_size, None if block_size is None else tuple(block_size), data_format)
    fn = _UNPOOL_XLA.get(key)
    if fn is None:

        def unpool(x, idx):
            return reference.max_unpool.generic(x, idx, output_size, key[1], data_format)

        fn = _UNPOOL_XLA[key] = tf.function(unpool, jit_compile=True, autograph=False)
    return _unpool_with_gather_grad(fn, inputs, tf.cast(indices, tf.int32))


def _unpool_with_gather_grad(fn, inputs, indices):
    """`fn(inputs, indices)` with the gradient w.r.t. `inputs` written out
    as the gather of the output gradient at `indices` (zero for out-of-range
    ones): the generic kernel's gradient, without differentiating its `cond`
    inside the XLA function (which TF cannot compile)."""

    @tf.custom_gradient
    def run(x):
        def grad(upstream):
            batch = tf.shape(upstream)[0]
            flat = tf.reshape(upstream, (batch, -1))
            size = tf.shape(flat, out_type=tf.int32)[1]
            idx = tf.reshape(indices, (batch, -1))
            valid = tf.logical_and(idx >= 0, idx < size)
            taken = tf.gather(flat, tf.where(valid, idx, 0), batch_dims=1)
            taken = tf.where(valid, taken, tf.zeros((), taken.dtype))
            return tf.reshape(taken, tf.shape(x))

        return fn(x, indices), grad

    return run(inputs)
