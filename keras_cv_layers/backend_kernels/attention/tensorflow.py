"""TensorFlow fast paths of local self-attention: a fused softmax, halos by
`tf.image.extract_patches`, rank-4 batched matmuls."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_cv_layers.ops._attention_kernels import halo_grid


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


def _tf_halo_patches(x, block: int, halo: tuple, start: tuple):
    """Halos of `x (B, g, H, W, d)` (static H, W) as `(B·g, n_y·n_x, halo², d)`
    by one `tf.image.extract_patches` on the zero-padded `(B·g, H', W', d)`:
    no transposes, and its gradient is one segment sum (the slices and
    concatenations of the generic kernel back-propagate several times
    slower on CPU)."""
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
        # Groups leading on both sides, so that the batch matmul has equal
        # batch dimensions: TF 2.21's oneDNN BatchMatMulV2 corrupts memory
        # when it broadcasts them (a rank-4 by rank-3 matmul crashed here).
        emb = tf.transpose(tf.cast(rel, q.dtype), (0, 2, 1))  # (g, d, K)
        rows = n_y * n_x * b * b
        qg = tf.transpose(tf.reshape(qb, (-1, groups, rows, depth)), (1, 0, 2, 3))
        qp = tf.matmul(tf.reshape(qg, (groups, -1, depth)), emb)  # (g, B·rows, K)
        qp = tf.transpose(tf.reshape(qp, (groups, -1, rows, k2)), (1, 0, 2, 3))
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
