"""PyTorch fast paths of local self-attention: `F.unfold` windows and
halos, a fused softmax, `scaled_dot_product_attention`."""

from __future__ import annotations

import torch
import torch.utils.checkpoint

from keras_cv_layers.ops._attention_kernels import halo_grid


def local_windows2d(x, kernel_size: tuple, dilation_rate: tuple, padding: tuple):
    """`F.unfold` (im2col, one kernel; its backward is `F.fold`) instead of
    kh*kw strided slices and a stack."""
    (top, bottom), (left, right) = padding
    lead, (height, width) = tuple(x.shape[:-2]), tuple(x.shape[-2:])
    flat = x.reshape((1, -1, height, width) if not lead else (lead[0], -1, height, width))
    flat = torch.nn.functional.pad(flat, (left, right, top, bottom))
    cols = torch.nn.functional.unfold(flat, kernel_size, dilation=dilation_rate)
    out_h = height + top + bottom - (kernel_size[0] - 1) * dilation_rate[0]
    out_w = width + left + right - (kernel_size[1] - 1) * dilation_rate[1]
    return cols.reshape(lead + (kernel_size[0] * kernel_size[1], out_h, out_w))


def _torch_masked_softmax(logits, valid, axis: int):
    """Fused `torch.softmax` of the logits with -inf at the invalid entries;
    rows without a valid entry get 0 logits (finite) and are then zeroed."""
    axis = axis - logits.dim() if axis >= 0 else axis  # `valid` broadcasts from the right
    valid = torch.as_tensor(valid, device=logits.device)
    has_valid = valid.any(dim=axis, keepdim=True)
    mask = torch.where(valid | ~has_valid, 0.0, float("-inf")).to(torch.float32)
    weights = torch.softmax(logits + mask, dim=axis)
    return weights * has_valid.to(weights.dtype)


def masked_softmax(logits, valid, axis: int):
    """One fused softmax instead of max / where / exp / sum / divide."""
    if logits.dtype != torch.float32:
        return NotImplemented
    return _torch_masked_softmax(logits, valid, axis)


def _halo_view(t, block: int, halo: tuple, start: tuple, n_y: int, n_x: int):
    """(B, g, H, W, d) → (B·g, n_y·n_x, halo², d), zeros outside `t`: one
    `F.unfold` (im2col; its backward, `F.fold`, is far faster than the one of
    `Tensor.unfold`) at stride `block`."""
    batch, groups, height, width, depth = t.shape
    (halo_h, halo_w), (top, left) = halo, start
    _, _, bottom, right = halo_grid(height, width, block, halo, start)
    t = t.permute(0, 1, 4, 2, 3).reshape(batch * groups, depth, height, width)
    t = torch.nn.functional.pad(t, (left, right, top, bottom))
    cols = torch.nn.functional.unfold(t, (halo_h, halo_w), stride=block)  # (Bg, d·halo², L)
    cols = cols.view(batch * groups, depth, halo_h * halo_w, n_y * n_x)
    return cols.permute(0, 3, 2, 1).contiguous()


#: Bytes of float32 logits (B·g·n_y·n_x·block²·halo²) above which
#: `blocked_attention` attends in chunks of (batch, head) images.
CHUNK_BYTES = 16 * 2**20


def _chunk_items(items: int, per_item: int) -> int:
    """The largest divisor of `items` whose chunk's logits fit `CHUNK_BYTES`."""
    limit = max(1, CHUNK_BYTES // max(per_item, 1))
    return max(c for c in range(1, min(items, limit) + 1) if items % c == 0)


def blocked_attention(q, k, v, valid, bias, rel, index, block: int, halo: tuple, start: tuple):
    """Halos cut by `F.unfold`, the additive mask (bias, -inf at the
    invalid keys) built once per block, `(n_y·n_x, block², halo²)`, and
    `F.scaled_dot_product_attention` (a fused CPU/GPU kernel: no logits in
    memory).  No learned `rel` (generic).  When the logits of the whole
    batch outgrow `CHUNK_BYTES`, in chunks of (batch, head) images, each a
    `torch.utils.checkpoint` when gradients are recorded: its halos are
    recomputed in the backward pass instead of kept for the whole batch
    (at (8, 128, 128, 64), k=7, 8 heads they are ~0.2 GB each for the keys
    and the values, twice that while cut; benchmarks/memory.py)."""
    if rel is not None or q.dtype != torch.float32 or v.dtype != torch.float32:
        return NotImplemented
    batch, groups, height, width, depth = q.shape
    n_y, n_x = -(-height // block), -(-width // block)
    items = batch * groups
    chunk = _chunk_items(items, n_y * n_x * block * block * halo[0] * halo[1] * 4)
    if chunk >= items:
        return _blocked_attention(q, k, v, valid, bias, block, halo, start)

    def attend(qc, kc, vc):
        return _blocked_attention(qc, kc, vc, valid, bias, block, halo, start)

    record = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    q, k, v = (t.reshape((items, 1) + tuple(t.shape[2:])) for t in (q, k, v))
    outs = []
    for i in range(0, items, chunk):
        qc, kc, vc = (t[i : i + chunk] for t in (q, k, v))
        if record:
            outs.append(torch.utils.checkpoint.checkpoint(attend, qc, kc, vc, use_reentrant=False))
        else:
            outs.append(attend(qc, kc, vc))
    return torch.cat(outs, 0).reshape(batch, groups, height, width, -1)


def _blocked_attention(q, k, v, valid, bias, block: int, halo: tuple, start: tuple):
    """`blocked_attention` of `q, k, v (B, g, H, W, d)` in one go."""
    batch, groups, height, width, depth = q.shape
    b = block
    n_y, n_x = -(-height // b), -(-width // b)
    kb = _halo_view(k, b, halo, start, n_y, n_x)
    vb = _halo_view(v, b, halo, start, n_y, n_x)
    if n_y * b != height or n_x * b != width:
        q = torch.nn.functional.pad(q, (0, 0, 0, n_x * b - width, 0, n_y * b - height))
    qb = q.reshape(batch, groups, n_y, b, n_x, b, depth).permute(0, 1, 2, 4, 3, 5, 6)
    qb = qb.reshape(batch * groups, n_y * n_x, b * b, depth)
    valid = torch.as_tensor(valid, device=q.device)
    has_valid = valid.any(dim=-1, keepdim=True)
    # Rows without a valid key (only queries of the padding, cropped at the
    # end) get a finite 0 mask: no NaN, and their zero gradient stays 0.
    mask = torch.where(valid | ~has_valid, 0.0, float("-inf")).to(torch.float32)
    if bias is not None:
        mask = mask + bias
    mask = torch.broadcast_to(mask, (n_y, n_x, b * b, kb.shape[2]))
    mask = mask.reshape(1, n_y * n_x, b * b, -1).expand(batch * groups, -1, -1, -1)
    out = torch.nn.functional.scaled_dot_product_attention(qb, kb, vb, attn_mask=mask, scale=1.0)
    out = out.reshape(batch, groups, n_y, n_x, b, b, depth).permute(0, 1, 2, 4, 3, 5, 6)
    out = out.reshape(batch, groups, n_y * b, n_x * b, depth)
    return out[:, :, :height, :width]
