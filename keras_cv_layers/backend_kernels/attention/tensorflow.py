"""TensorFlow fast paths of local self-attention: a fused softmax, halos by
`tf.image.extract_patches`, rank-4 batched matmuls."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_cv_layers.backend_kernels.tf_graph import in_xla_context
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


#: Bytes of float32 logits (B·g·n_y·n_x·block²·halo²) above which
#: `blocked_attention` attends in chunks of (batch, head) images.
CHUNK_BYTES = 16 * 2**20


def blocked_attention(q, k, v, valid, bias, rel, index, block: int, halo: tuple, start: tuple):
    """float32, static g, H, W, d (any batch): the layout `(B·g, blocks,
    block², ·)` of rank-4 batched matmuls around one fused `tf.nn.softmax`;
    the halos by `tf.image.extract_patches`; the additive mask (bias, -inf at
    the invalid keys, 0 in rows without any) a numpy constant of
    `(n_y·n_x, block², halo²)` when `valid` and `bias` are known at trace
    time (else built in the graph). About 2.5× faster than the generic
    kernel forward and backward on CPU (measured in benchmarks/blocks.py).

    When the logits of one example outgrow `CHUNK_BYTES` (and the mask is
    a constant; not inside XLA), in chunks of (batch, head) images, one at a
    time (`tf.while_loop`), under a `tf.custom_gradient` whose backward
    recomputes each chunk (halos, logits, softmax) instead of keeping those
    of the whole batch: at (8, 128, 128, 64), k=7, 8 heads they are ~0.4 GB
    per buffer (benchmarks/memory.py)."""
    if q.dtype != tf.float32 or v.dtype != tf.float32 or not _static_spatial(q):
        return NotImplemented
    _, groups, height, width, depth = q.shape
    b = block
    n_y, n_x = -(-height // b), -(-width // b)
    size = halo[0] * halo[1]
    full = (n_y, n_x, b * b, size)
    valid_np, bias_np = _tf_static(valid), _tf_static(bias)
    constant = valid_np is not None and (bias is None or bias_np is not None)
    if constant:
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

    def attend(q, k, v, rel):
        return _blocked(q, k, v, mask, has_valid, rel, index, block, halo, start)

    # Chunks of images dividing B·g (g when the batch is unknown).
    items = groups if q.shape[0] is None else q.shape[0] * groups
    per_item = n_y * n_x * b * b * size * 4
    if items * per_item <= CHUNK_BYTES or not constant or in_xla_context():
        return attend(q, k, v, rel)
    limit = max(1, CHUNK_BYTES // per_item)
    chunk = max(c for c in range(1, min(items, limit) + 1) if items % c == 0)
    return _chunked(attend, q, k, v, rel, chunk)


def _chunked(attend, q, k, v, rel, chunk: int):
    """`attend(q, k, v, rel)` of `q, k, v (B, g, H, W, d)` in chunks of
    `chunk` (a divisor of g) images, each attended as the heads of one
    example (with their own `rel` rows), the backward pass recomputing
    them chunk by chunk."""
    _, groups, height, width, depth = q.shape
    shape = (-1, 1, chunk, height, width, depth)

    def items(t):  # (B, g, H, W, d) -> (B·g / chunk, 1, chunk, H, W, d)
        return tf.reshape(t, shape)

    def heads(i):  # the heads of chunk i's images
        return (i * chunk + tf.range(chunk)) % groups

    def rel_of(i):  # their `rel` rows, (chunk, K, d)
        return None if rel is None else tf.gather(rel, heads(i))

    def loop(body, arrays, carry=()):
        count = tf.shape(items(q))[0]
        return tf.while_loop(
            lambda i, *_: i < count,
            body,
            (tf.constant(0), arrays, carry),
            parallel_iterations=1,
        )[1:]

    def forward(q, k, v, *rel_arg):
        qs, ks, vs = items(q), items(k), items(v)

        def body(i, outs, carry):
            return i + 1, outs.write(i, attend(qs[i], ks[i], vs[i], rel_of(i))), carry

        outs = tf.TensorArray(q.dtype, size=tf.shape(qs)[0], element_shape=qs.shape[1:])
        outs, _ = loop(body, outs)
        return tf.reshape(outs.stack(), tf.shape(q))

    @tf.custom_gradient
    def run(q, k, v, *rel_arg):
        # Not recorded by an outer tape: its gradient is `grad`.
        out = forward(*(tf.stop_gradient(t) for t in (q, k, v, *rel_arg)))

        def grad(upstream):
            qs, ks, vs, ups = items(q), items(k), items(v), items(upstream)

            def body(i, arrays, d_rel):
                qc, kc, vc = qs[i], ks[i], vs[i]
                rel_c = rel_of(i)
                sources = [qc, kc, vc] + ([] if rel is None else [rel_c])
                with tf.GradientTape() as tape:
                    tape.watch(sources)
                    out_c = attend(qc, kc, vc, rel_c)
                grads = tape.gradient(out_c, sources, output_gradients=ups[i])
                arrays = tuple(a.write(i, g) for a, g in zip(arrays, grads[:3]))
                if rel is not None:
                    d_rel = tf.tensor_scatter_nd_add(d_rel, heads(i)[:, None], grads[3])
                return i + 1, arrays, d_rel

            arrays = tuple(
                tf.TensorArray(q.dtype, size=tf.shape(qs)[0], element_shape=qs.shape[1:])
                for _ in range(3)
            )
            d_rel = tf.zeros_like(rel) if rel is not None else tf.zeros(())
            arrays, d_rel = loop(body, arrays, d_rel)
            grads = [tf.reshape(a.stack(), tf.shape(q)) for a in arrays]
            return grads + ([] if rel is None else [d_rel])

        return out, grad

    return run(q, k, v, *(() if rel is None else (tf.cast(rel, q.dtype),)))


def _blocked(q, k, v, mask, has_valid, rel, index, block: int, halo: tuple, start: tuple):
    """The attention of `blocked_attention` with its additive `mask`
    (n_y·n_x, block², halo²) and `has_valid` row indicator (or None)."""
    _, groups, height, width, depth = q.shape
    b = block
    n_y, n_x = -(-height // b), -(-width // b)
    kb = _tf_halo_patches(k, b, halo, start)
    vb = _tf_halo_patches(v, b, halo, start)
    if n_y * b != height or n_x * b != width:
        q = tf.pad(q, [[0, 0], [0, 0], [0, n_y * b - height], [0, n_x * b - width], [0, 0]])
    qb = tf.reshape(q, (-1, n_y, b, n_x, b, depth))
    qb = tf.reshape(tf.transpose(qb, (0, 1, 3, 2, 4, 5)), (-1, n_y * n_x, b * b, depth))
    logits = tf.matmul(qb, kb, transpose_b=True)  # (B·g, n_y·n_x, b², halo²)
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
