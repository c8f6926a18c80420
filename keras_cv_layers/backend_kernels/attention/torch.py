"""PyTorch fast paths of local self-attention: `F.unfold` windows and
halos, a fused softmax, `scaled_dot_product_attention`."""

from __future__ import annotations

import torch

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


def blocked_attention(q, k, v, valid, bias, rel, index, block: int, halo: tuple, start: tuple):
    """Halos cut by `Tensor.unfold`, the additive mask (bias, -inf at the
    invalid keys) built once per block, `(n_y·n_x, block², halo²)`, and
    `F.scaled_dot_product_attention` (a fused CPU/GPU kernel: no logits in
    memory). No learned `rel` (generic)."""
    if rel is not None or q.dtype != torch.float32:
        return NotImplemented
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
