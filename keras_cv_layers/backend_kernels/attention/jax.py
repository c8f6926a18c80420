"""JAX fast path of local self-attention: the blocked (halo) attention of a
large image in chunks of images, each rematerialised in the backward pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from keras_cv_layers.ops import _attention_kernels as reference

#: Bytes of float32 logits that one chunk of `blocked_attention` may hold
#: (its softmax and backward keep a few buffers of that size).
CHUNK_BYTES = 16 * 2**20


def _chunk_items(items: int, per_item: int) -> int:
    """The largest divisor of `items` whose chunk's logits fit `CHUNK_BYTES`
    (at least 1)."""
    limit = max(1, CHUNK_BYTES // max(per_item, 1))
    return max(c for c in range(1, min(items, limit) + 1) if items % c == 0)


def blocked_attention(q, k, v, valid, bias, rel, index, block: int, halo: tuple, start: tuple):
    """The generic kernel in chunks of (batch, head) images when its logits
    (`B·g·n_y·n_x·block²·halo²` float32) outgrow `CHUNK_BYTES`: a `lax.map`
    over the chunks whose body, the generic kernel on the chunk's images (as
    the heads of one example, each with its own `rel`), is a
    `jax.checkpoint`: the backward pass recomputes a chunk's halos, logits
    and softmax instead of storing those of the whole batch (at (8, 128, 128,
    64), k=7, 8 heads they are ~0.4 GB per buffer: a training step held 13x
    a Conv2D step's memory, benchmarks/memory.py).  Same numbers (each
    image's arithmetic is unchanged).  Smaller inputs take the generic
    kernel (declined)."""
    batch, groups, height, width, depth = q.shape
    n_y, n_x = -(-height // block), -(-width // block)
    per_item = n_y * n_x * block * block * halo[0] * halo[1] * 4
    items = batch * groups
    chunk = _chunk_items(items, per_item)
    if chunk >= items:
        return NotImplemented
    generic = reference.blocked_attention.generic
    n_chunks = items // chunk

    def chunks(t):  # (B, g, H, W, d) -> (n_chunks, 1, chunk, H, W, d)
        return jnp.reshape(t, (n_chunks, 1, chunk) + tuple(t.shape[2:]))

    xs = [chunks(q), chunks(k), chunks(v)]
    if rel is not None:  # (g, K, d) -> per image, chunked: (n_chunks, chunk, K, d)
        rel = jnp.broadcast_to(rel[None], (batch,) + tuple(rel.shape))
        xs.append(jnp.reshape(rel, (n_chunks, chunk) + tuple(rel.shape[2:])))

    @jax.checkpoint
    def body(x):
        rel_c = x[3] if rel is not None else None
        return generic(x[0], x[1], x[2], valid, bias, rel_c, index, block, halo, start)

    out = jax.lax.map(body, tuple(xs))  # (n_chunks, 1, chunk, H, W, d)
    return jnp.reshape(out, (batch, groups) + tuple(out.shape[3:]))
