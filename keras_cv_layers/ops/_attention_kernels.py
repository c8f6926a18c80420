"""The reference math of local self-attention, in `keras.ops`: masked
softmax, per-pixel windows and blocked (halo) attention, with the fast
paths of `backend_kernels/attention`."""

from __future__ import annotations

from keras import ops

from keras_cv_layers.backend_kernels import attention as _fast
from keras_cv_layers.backend_kernels import with_fast_path


def _masked_softmax(logits, valid, axis: int):
    """Softmax (float32) over the `valid` entries of `axis`; invalid → 0.

    The max is taken over the valid entries (invalid ones are lowered by
    1e9 first); `exp` sees the valid entries' differences to it clamped
    to >= -80 (no underflow: CPU `exp` is very slow on denormals, and
    entries that far below the max weigh < 2e-35 either way) and -80 for
    the invalid ones (never an overflow, even in a row without valid
    entries), which are then zeroed exactly, so every row with a valid
    entry sums to >= 1 before normalising. A row without any valid entry
    gives zeros. No inf/NaN in values or gradients.
    """
    mask = ops.cast(valid, "float32")
    top = ops.max(logits + (mask - 1.0) * 1e9, axis=axis, keepdims=True)
    shifted = ops.where(valid, ops.maximum(logits - ops.stop_gradient(top), -80.0), -80.0)
    weights = ops.exp(shifted) * mask
    return weights / ops.maximum(ops.sum(weights, axis=axis, keepdims=True), 1.0)


@with_fast_path(_fast.masked_softmax)
def masked_softmax(logits, valid, axis: int):
    """Softmax of float32 `logits` over the `valid` (bool, broadcastable)
    entries of `axis`; invalid entries → exactly 0, rows without a valid
    entry → zeros (never inf/NaN, values or gradients)."""
    return _masked_softmax(logits, valid, axis)


def masked_attention(query, key, value, valid, bias=None):
    """`masked_softmax(float32(query @ keyᵀ) + bias, valid, -1) @ value`.

    `query (..., L, d)`, `key`/`value (..., S, d)`; `valid` (bool) and `bias`
    (float32 or None) broadcastable to the logits `(..., L, S)`; the weights
    are cast to `value.dtype` before the last matmul.
    """
    logits = ops.cast(ops.matmul(query, ops.swapaxes(key, -1, -2)), "float32")
    if bias is not None:
        logits = logits + bias
    weights = _masked_softmax(logits, valid, -1)
    return ops.matmul(ops.cast(weights, value.dtype), value)


@with_fast_path(_fast.local_windows2d)
def local_windows2d(x, kernel_size: tuple, dilation_rate: tuple, padding: tuple):
    """Every pixel's k×k window: `(..., H, W)` → `(..., kh*kw, H, W)`.

    `out[..., i * kw + j, y, x] = x_padded[..., y + i * dy, x + j * dx]`, where
    `x_padded` is `x` zero-padded by `padding = ((top, bottom), (left, right))`
    (with the "same" amounts of a stride-1 conv the output keeps H, W).
    Padding and strided slices: no identity-kernel convolution.
    """
    (kh, kw), (dy, dx) = kernel_size, dilation_rate
    (top, bottom), (left, right) = padding
    rank = len(x.shape)
    shape = ops.shape(x)
    height = shape[-2] + top + bottom - (kh - 1) * dy
    width = shape[-1] + left + right - (kw - 1) * dx
    padded = ops.pad(x, [[0, 0]] * (rank - 2) + [[top, bottom], [left, right]])
    slices = [
        padded[..., i * dy : i * dy + height, j * dx : j * dx + width]
        for i in range(kh)
        for j in range(kw)
    ]
    return ops.stack(slices, axis=rank - 2)


@with_fast_path(_fast.blocked_attention)
def blocked_attention(q, k, v, valid, bias, rel, index, block: int, halo: tuple, start: tuple):
    """Blocked local attention (as HaloNet): `q, k, v (B, g, H, W, d)` →
    `(B, g, H, W, d)`.

    The queries are cut into `block`×`block` blocks (zero-padded to whole
    blocks), each attending to the `halo` keys and values around it
    (`halo_blocks2d(., block, halo, start)`) with
    `masked_attention(qb, kb, vb, valid, bias')`: `valid` (bool) and `bias`
    (float32 or None) broadcastable to the logits `(n_y, n_x, block², halo²)`.
    With `rel` (g, K, d) (learned relative embeddings) and `index` (numpy
    int32 `(block², halo²)`, the window position of each key), `bias'` adds
    `float32(qb · rel[index])`.
    """
    shape = ops.shape(q)
    groups, height, width, depth = shape[1], shape[2], shape[3], shape[4]
    b = block
    n_y, n_x = (height + b - 1) // b, (width + b - 1) // b
    qb = q
    padded = not (isinstance(height, int) and isinstance(width, int)) or (
        n_y * b != height or n_x * b != width
    )
    if padded:
        qb = ops.pad(q, [[0, 0], [0, 0], [0, b - 1], [0, b - 1], [0, 0]])
        qb = qb[:, :, : n_y * b, : n_x * b]
    qb = ops.reshape(qb, (-1, groups, n_y, b, n_x, b, depth))
    qb = ops.reshape(ops.transpose(qb, (0, 1, 2, 4, 3, 5, 6)), (-1, groups, n_y, n_x, b * b, depth))
    kb = halo_blocks2d(k, block, halo, start)
    vb = halo_blocks2d(v, block, halo, start)
    if rel is not None:
        k2 = rel.shape[1]
        emb = ops.transpose(rel, (0, 2, 1))  # (g, d, K)
        qp = ops.matmul(qb, ops.reshape(emb, (1, groups, 1, 1, depth, k2)))  # (..., b², K)
        qp = ops.reshape(qp, (-1, groups, n_y, n_x, b * b * k2))
        rows = ops.expand_dims(ops.arange(0, b * b, dtype="int32") * k2, 1)
        flat = ops.cast(ops.convert_to_tensor(index), "int32") + rows
        term = ops.cast(ops.take(qp, flat, axis=-1), "float32")
        bias = term if bias is None else term + bias
    out = masked_attention(qb, kb, vb, valid, bias)  # (B, g, n_y, n_x, b², d)
    out = ops.reshape(out, (-1, groups, n_y, n_x, b, b, depth))
    out = ops.reshape(
        ops.transpose(out, (0, 1, 2, 4, 3, 5, 6)), (-1, groups, n_y * b, n_x * b, depth)
    )
    if padded:
        out = out[:, :, :height, :width]
    return out


def halo_grid(height: int, width: int, block: int, halo: tuple, start: tuple) -> tuple:
    """`(n_y, n_x, bottom, right)` of the halo windows of a static `height` x
    `width` image: the block counts and the zero padding after the image
    (before it: `start`) that lets a `halo` window start every `block`
    pixels (the fast paths cut them with unfold / extract_patches)."""
    (halo_h, halo_w), (top, left) = halo, start
    n_y, n_x = -(-height // block), -(-width // block)
    bottom = max(0, (n_y - 1) * block + halo_h - top - height)
    right = max(0, (n_x - 1) * block + halo_w - left - width)
    return n_y, n_x, bottom, right


def halo_blocks2d(x, block: int, halo: tuple, start: tuple):
    """Overlapping `halo` windows at stride `block`: `(B, g, H, W, d)` →
    `(B, g, n_y, n_x, halo_h * halo_w, d)`, `n_y = ceil(H / block)`.

    `out[b, g, ty, tx, u * halo_w + w] = x[b, g, ty * block + u - top, tx * block + w - left]`
    with `(top, left) = start`, and zeros outside `x` (blocked local attention:
    the keys around each `block`×`block` block of queries).
    """
    (halo_h, halo_w), (top, left) = halo, start
    shape = ops.shape(x)
    groups, depth = shape[1], shape[4]
    n_y, n_x = (shape[2] + block - 1) // block, (shape[3] + block - 1) // block
    m_h, m_w = -(-(halo_h - block) // block), -(-(halo_w - block) // block)
    extra_h = max(0, block - 1 + m_h * block - top)
    extra_w = max(0, block - 1 + m_w * block - left)
    t = ops.pad(x, [[0, 0], [0, 0], [top, extra_h], [left, extra_w], [0, 0]])
    t = t[:, :, : (n_y + m_h) * block, : (n_x + m_w) * block]
    t = ops.reshape(t, (-1, groups, n_y + m_h, block, (n_x + m_w) * block, depth))
    t = ops.concatenate([t[:, :, s : s + n_y] for s in range(m_h + 1)], axis=3)
    t = t[:, :, :, :halo_h]
    t = ops.reshape(t, (-1, groups, n_y, halo_h, n_x + m_w, block, depth))
    t = ops.concatenate([t[:, :, :, :, s : s + n_x] for s in range(m_w + 1)], axis=5)
    t = ops.transpose(t[:, :, :, :, :, :halo_w], (0, 1, 2, 4, 3, 5, 6))
    return ops.reshape(t, (-1, groups, n_y, n_x, halo_h * halo_w, depth))
