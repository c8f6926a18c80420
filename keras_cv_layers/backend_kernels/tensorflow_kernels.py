"""TensorFlow fast paths (see `backend_kernels/__init__.py` for the contract).

No kernel of the foundation needs one yet; later kernels add theirs here.
"""

from __future__ import annotations

import tensorflow as tf


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


def max_pool_with_argmax2d(inputs, pool_size, strides, padding: str, data_format: str):
    """`tf.nn.max_pool_with_argmax(include_batch_in_index=False)`, whose
    indices are the package's channels_last convention; channels_first
    inputs are transposed and their indices converted.  Declined inside XLA
    (no XLA kernel) and when a "valid" window does not fit the input."""
    if inputs.dtype not in _POOL_DTYPES or _pool_in_xla():
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
