"""TensorFlow fast paths (see `backend_kernels/__init__.py` for the contract).

Convolutions (channels_first on CPU as channels_last between transposes),
argmax pooling / unpooling, deformable sampling (nested XLA) and the local
attention kernels (halo patches, fused softmax).
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf


# ---- convolution kernels ----
@functools.cache
def _has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def _channels_last_conv(op, inputs, kernel, strides, padding, dilation_rate):
    """`op` run channels_last on a channels_first input (transposed in and
    out): TensorFlow's CPU convolutions take NHWC only (NCHW works only in
    oneDNN builds running on CPUs that enable it, and under XLA)."""
    rank = len(inputs.shape)
    outputs = op(
        tf.transpose(inputs, (0, *range(2, rank), 1)),
        kernel,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        data_format="channels_last",
    )
    return tf.transpose(outputs, (0, rank - 1, *range(1, rank - 1)))


def conv(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """channels_first on a machine without GPU: the convolution channels_last
    between two transposes (declines otherwise: the generic op is native)."""
    if data_format != "channels_first" or _has_gpu():
        return NotImplemented
    return _channels_last_conv(keras.ops.conv, inputs, kernel, strides, padding, dilation_rate)


def _unequal_strides_depthwise(inputs, kernel, strides, padding, dilation_rate, data_format):
    """2D depthwise convolution of a channels_last input (static spatial
    size) with unequal strides, which TF's CPU kernel rejects: the "same"
    zero padding of those strides made explicit, a stride-1 "valid"
    convolution, then every (sh, sw)-th output."""
    from keras_cv_layers.utils.argument_validation import same_padding_amounts

    if padding == "same":
        pads = [
            same_padding_amounts(int(n), int(k), int(s), int(d))
            for n, k, s, d in zip(inputs.shape[1:3], kernel.shape[:2], strides, dilation_rate)
        ]
        inputs = tf.pad(inputs, [(0, 0), pads[0], pads[1], (0, 0)])
    outputs = keras.ops.depthwise_conv(
        inputs,
        kernel,
        strides=1,
        padding="valid",
        dilation_rate=dilation_rate,
        data_format=data_format,
    )
    return outputs[:, :: strides[0], :: strides[1], :]


def depthwise_conv(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """As `conv` for channels_first; and unequal 2D strides (rejected by TF's
    CPU kernel; static spatial size only) as a stride-1 convolution
    subsampled."""
    if _has_gpu():
        return NotImplemented
    unequal = len(strides) == 2 and strides[0] != strides[1]
    if unequal and None in tuple(inputs.shape[1:]):
        return NotImplemented
    op = _unequal_strides_depthwise if unequal else keras.ops.depthwise_conv
    if data_format == "channels_first":
        return _channels_last_conv(op, inputs, kernel, strides, padding, dilation_rate)
    if not unequal:
        return NotImplemented
    return op(inputs, kernel, strides, padding, dilation_rate, "channels_last")


# ---- pooling kernels ----
def _pool_in_xla() -> bool:
    """Whether the current graph is being compiled by XLA (`jit_compile=True`),
    which has no kernel for `MaxPoolWithArgmax`.  When this cannot be told
    (a TF internal moved), answers True so that the generic path runs."""
    if tf.executing_eagerly():
        return False
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:
        return True
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


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
    fit the input."""
    if inputs.dtype not in _POOL_DTYPES or _pool_in_xla():
        return NotImplemented
    if all(d is not None for d in inputs.shape):
        from keras_cv_layers.backend_kernels import generic

        key = (tuple(pool_size), tuple(strides), padding, data_format)
        fn = _POOL_XLA.get(key)
        if fn is None:

            def pool(x):
                return generic.max_pool_with_argmax2d(x, *key)

            fn = _POOL_XLA[key] = tf.function(pool, jit_compile=True, autograph=False)
        return fn(inputs)
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
    branch.  Static shapes only (XLA needs them); inside an outer XLA
    compilation the generic kernel inlines instead."""
    if _pool_in_xla():
        return NotImplemented
    if any(d is None for d in (*inputs.shape, *indices.shape)):
        return NotImplemented
    try:
        output_size = tuple(int(v) for v in output_size)
    except (TypeError, ValueError):  # a size only known at run time
        return NotImplemented
    from keras_cv_layers.backend_kernels import generic

    key = (output_size, None if block_size is None else tuple(block_size), data_format)
    fn = _UNPOOL_XLA.get(key)
    if fn is None:

        def unpool(x, idx):
            return generic.max_unpool2d(x, idx, output_size, key[1], data_format)

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


# ---- deformable kernels ----
_DEFORM_XLA: dict = {}


def _deform_functions(key):
    """The nested XLA forward and backward functions of one configuration."""
    fns = _DEFORM_XLA.get(key)
    if fns is None:
        from keras_cv_layers.backend_kernels import generic

        strides, padding, dilation_rate, groups, _ = key

        def forward(x, off, k, *m):
            return generic.deform_conv2d_forward(
                x, off, k, m[0] if m else None, strides, padding, dilation_rate, groups
            )

        def scatter_add(acc, index, values):
            return tf.tensor_scatter_nd_add(acc, index[:, None], values)

        def backward(x, off, k, upstream, *m):
            grads = generic.deform_conv2d_backward(
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
    `generic.deform_conv2d_backward` (also one XLA function, its scatter-adds
    in place) as its gradient.  XLA fuses each tap's plan and four corner
    gathers with their bilinear weighting into one pass, where the op-by-op
    graph writes a dozen tensors of that size (benchmarks/deformable.py).
    Declined for mixed precision and inside an outer XLA compilation, where
    the generic kernel inlines.  Unknown dimensions are fine (XLA compiles
    per concrete shape at run time)."""
    if inputs.dtype != tf.float32 or kernel.dtype != tf.float32 or _pool_in_xla():
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


# ---- blocks kernels ----
def _tf_additive_mask(valid, axis: int):
    """(float32 mask: 0 at the valid entries, -inf at the others, 0 in rows
    without a valid entry; float `has_valid` row indicator)."""
    valid = tf.convert_to_tensor(valid)
    has_valid = tf.reduce_any(valid, axis=axis, keepdims=True)
    keep = tf.logical_or(valid, tf.logical_not(has_valid))
    mask = tf.where(keep, tf.constant(0.0, tf.float32), tf.constant(-float("inf"), tf.float32))
    return mask, has_valid


def _tf_softmax(logits, axis: int):
    """`tf.nn.softmax`; over the last axis of a tensor of rank > 5 (which the
    softmax op rejects) as a (rows, last) matrix."""
    rank = logits.shape.rank
    if rank <= 5:
        return tf.nn.softmax(logits, axis=axis)
    flat = tf.reshape(logits, (-1, tf.shape(logits)[-1]))
    return tf.reshape(tf.nn.softmax(flat, axis=-1), tf.shape(logits))


def masked_softmax(logits, valid, axis: int):
    """One fused `tf.nn.softmax` instead of max / where / exp / sum / divide."""
    if logits.dtype != tf.float32 or (
        logits.shape.rank > 5 and axis not in (-1, logits.shape.rank - 1)
    ):
        return NotImplemented
    axis = axis - logits.shape.rank if axis >= 0 else axis  # `valid` broadcasts from the right
    mask, has_valid = _tf_additive_mask(valid, axis)
    weights = _tf_softmax(logits + mask, axis)
    return weights * tf.cast(has_valid, weights.dtype)


def masked_attention(query, key, value, valid, bias=None):
    """Matmuls around a fused softmax; the additive mask (bias, -inf at the
    invalid keys) is built at the mask's (broadcast) size."""
    mask, has_valid = _tf_additive_mask(valid, -1)
    if bias is not None:
        mask = mask + bias
    logits = tf.cast(tf.matmul(query, key, transpose_b=True), tf.float32)
    weights = tf.cast(_tf_softmax(logits + mask, -1), value.dtype)
    return tf.matmul(weights, value) * tf.cast(has_valid, value.dtype)


def _tf_halo_patches(x, block: int, halo: tuple, start: tuple):
    """Halos of `x (B, g, H, W, d)` (static H, W) as `(B·g, n_y·n_x, halo², d)`
    by one `tf.image.extract_patches` on the zero-padded `(B·g, H', W', d)`:
    no transposes, and its gradient is one segment sum (the slices and
    concatenations of the generic kernel back-propagate several times
    slower on CPU)."""
    from keras_cv_layers.backend_kernels.generic import halo_grid

    (halo_h, halo_w), (top, left) = halo, start
    _, groups, height, width, depth = x.shape
    n_y, n_x, bottom, right = halo_grid(height, width, block, halo, start)
    t = tf.reshape(x, (-1, height, width, depth))
    t = tf.pad(t, [[0, 0], [top, bottom], [left, right], [0, 0]])
    t = tf.image.extract_patches(
        t, (1, halo_h, halo_w, 1), (1, block, block, 1), (1, 1, 1, 1), "VALID"
    )  # (B·g, n_y', n_x', halo_h·halo_w·d), rows then columns then channels
    return tf.reshape(t[:, :n_y, :n_x], (-1, n_y * n_x, halo_h * halo_w, depth))


def _static_spatial(x) -> bool:
    """Whether `x (B, g, H, W, d)` has static g, H, W, d (B may be None)."""
    return x.shape.rank == 5 and all(s is not None for s in x.shape[1:])


def halo_blocks2d(x, block: int, halo: tuple, start: tuple):
    """`tf.image.extract_patches` (see `_tf_halo_patches`); static sizes only."""
    if not _static_spatial(x):
        return NotImplemented
    _, groups, height, width, depth = x.shape
    n_y, n_x = -(-height // block), -(-width // block)
    t = _tf_halo_patches(x, block, halo, start)
    return tf.reshape(t, (-1, groups, n_y, n_x, halo[0] * halo[1], depth))


def _tf_static(value):
    """`value` as a numpy array when it is known at trace time, else None."""
    if value is None:
        return None
    if tf.is_tensor(value):
        return tf.get_static_value(value)
    return np.asarray(value)


def blocked_attention(q, k, v, valid, bias, rel, index, block: int, halo: tuple, start: tuple):
    """float32, static g, H, W, d (any batch): the layout `(B·g, blocks,
    block², ·)` of rank-4 batched matmuls around one fused `tf.nn.softmax`;
    the halos by `tf.image.extract_patches`; the additive mask (bias, -inf at
    the invalid keys, 0 in rows without any) a numpy constant of
    `(n_y·n_x, block², halo²)` when `valid` and `bias` are known at trace
    time (else built in the graph). About 2.5× faster than the generic
    kernel forward and backward on CPU (measured in benchmarks/blocks.py)."""
    if q.dtype != tf.float32 or not _static_spatial(q):
        return NotImplemented
    _, groups, height, width, depth = q.shape
    b = block
    n_y, n_x = -(-height // b), -(-width // b)
    size = halo[0] * halo[1]
    kb = _tf_halo_patches(k, b, halo, start)
    vb = _tf_halo_patches(v, b, halo, start)
    if n_y * b != height or n_x * b != width:
        q = tf.pad(q, [[0, 0], [0, 0], [0, n_y * b - height], [0, n_x * b - width], [0, 0]])
    qb = tf.reshape(q, (-1, n_y, b, n_x, b, depth))
    qb = tf.reshape(tf.transpose(qb, (0, 1, 3, 2, 4, 5)), (-1, n_y * n_x, b * b, depth))
    logits = tf.matmul(qb, kb, transpose_b=True)  # (B·g, n_y·n_x, b², halo²)
    full = (n_y, n_x, b * b, size)
    valid_np, bias_np = _tf_static(valid), _tf_static(bias)
    if valid_np is not None and (bias is None or bias_np is not None):
        valid_np = np.broadcast_to(valid_np.astype(bool), full)
        has_valid = valid_np.any(axis=-1, keepdims=True)
        mask = np.where(valid_np | ~has_valid, 0.0, -np.inf).astype("float32")
        if bias_np is not None:
            mask = mask + np.asarray(bias_np, "float32")
        mask = tf.constant(mask.reshape(n_y * n_x, b * b, size))
        has_valid = None if has_valid.all() else has_valid.reshape(n_y * n_x, b * b, 1)
    else:
        mask, has_valid = _tf_additive_mask(valid, -1)
        if bias is not None:
            mask = mask + bias
        mask = tf.reshape(tf.broadcast_to(mask, full), (n_y * n_x, b * b, size))
        has_valid = tf.reshape(tf.broadcast_to(has_valid, full[:3] + (1,)), (n_y * n_x, b * b, 1))
    logits = logits + mask
    if rel is not None:
        # + qb · rel[g, index]: (B·g, blocks, b², K) products gathered per key.
        k2 = rel.shape[1]
        emb = tf.transpose(tf.cast(rel, q.dtype), (0, 2, 1))  # (g, d, K)
        qp = tf.matmul(tf.reshape(qb, (-1, groups, n_y * n_x * b * b, depth)), emb)
        qp = tf.reshape(qp, (-1, n_y * n_x, b * b * k2))
        flat = tf.cast(index, tf.int32) + tf.range(b * b, dtype=tf.int32)[:, None] * k2
        logits = logits + tf.gather(qp, flat, axis=2)
    out = tf.matmul(tf.nn.softmax(logits, axis=-1), vb)  # (B·g, n_y·n_x, b², d)
    if has_valid is not None:
        out = out * tf.cast(has_valid, out.dtype)
    out = tf.reshape(out, (-1, groups, n_y, n_x, b, b, depth))
    out = tf.transpose(out, (0, 1, 2, 4, 3, 5, 6))
    out = tf.reshape(out, (-1, groups, n_y * b, n_x * b, depth))
    return out[:, :, :height, :width]
