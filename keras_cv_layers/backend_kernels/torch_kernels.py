"""PyTorch fast paths (see `backend_kernels/__init__.py` for the contract)."""

from __future__ import annotations

import torch

from keras_cv_layers.backend_kernels import generic as _generic


def weight_standardize(kernel, eps: float):
    """One fused `torch.var_mean` reduction instead of two passes."""
    if kernel.dtype != torch.float32:
        return NotImplemented
    axes = tuple(range(kernel.dim() - 1))
    var, mean = torch.var_mean(kernel, dim=axes, keepdim=True, correction=0)
    return (kernel - mean) * torch.rsqrt(var + eps)


# ---- pooling kernels ----
def _pool_same_pads(length: int, kernel: int, stride: int) -> tuple[int, int]:
    from keras_cv_layers.utils.argument_validation import same_padding_amounts

    return same_padding_amounts(length, kernel, stride)


_POOL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def max_pool_with_argmax2d(inputs, pool_size, strides, padding: str, data_format: str):
    """`torch.nn.functional.max_pool2d(return_indices=True)` on an NCHW view
    (channels_last inputs are permuted without a copy: torch pools the
    channels_last memory format natively); "same" pads with -inf
    explicitly.  torch's per-channel `h * W + w` indices (of the padded
    input) are converted to the package's per-example flat indices."""
    if not isinstance(inputs, torch.Tensor) or inputs.dtype not in _POOL_DTYPES:
        return NotImplemented
    channels_last = data_format == "channels_last"
    x = inputs.permute(0, 3, 1, 2) if channels_last else inputs
    _, channels, height, width = x.shape
    top = left = 0
    if padding == "same":
        top, bottom = _pool_same_pads(height, pool_size[0], strides[0])
        left, right = _pool_same_pads(width, pool_size[1], strides[1])
        if top or bottom or left or right:
            x = torch.nn.functional.pad(x, (left, right, top, bottom), value=float("-inf"))
    padded_w = x.shape[3]
    if x.shape[2] < pool_size[0] or padded_w < pool_size[1]:
        return NotImplemented
    pooled, ind = torch.nn.functional.max_pool2d(x, pool_size, strides, return_indices=True)
    if top or left or padded_w != width:
        rows = torch.div(ind, padded_w, rounding_mode="floor")
        ind = (rows - top) * width + (ind - rows * padded_w - left)
    ind = ind.to(torch.int32)
    channel = torch.arange(channels, device=ind.device, dtype=torch.int32).view(1, -1, 1, 1)
    if channels_last:
        # One fused pass: channel + channels * ind.
        indices = torch.add(channel, ind, alpha=channels).permute(0, 2, 3, 1)
        return pooled.permute(0, 2, 3, 1), indices
    return pooled, torch.add(ind, channel, alpha=height * width)


class _ScatterMaxUnpool(torch.autograd.Function):
    """Forward: scatter-max of the values into a zero tensor (one value per
    position, not a sum); backward: the gather of the output gradient."""

    @staticmethod
    def forward(ctx, values, targets, size: int):
        out = values.new_zeros((values.shape[0], size + 1))
        out.scatter_reduce_(1, targets, values, reduce="amax", include_self=False)
        ctx.save_for_backward(targets)
        return out[:, :size]

    @staticmethod
    def backward(ctx, grad):
        (targets,) = ctx.saved_tensors
        grad = torch.nn.functional.pad(grad, (0, 1))
        return grad.gather(1, targets), None, None


def max_unpool2d(inputs, indices, output_size, block_size, data_format: str):
    """One native `scatter_reduce` (amax) over the per-example flat indices,
    which are the package's index convention in either data format, with
    out-of-range indices sent to a dropped extra column; the gradient is a
    gather (a custom autograd function)."""
    if not isinstance(inputs, torch.Tensor) or inputs.dtype not in _POOL_DTYPES:
        return NotImplemented
    out_h, out_w = (int(v) for v in output_size)
    batch = inputs.shape[0]
    channels = inputs.shape[3] if data_format == "channels_last" else inputs.shape[1]
    size = out_h * out_w * channels
    targets = indices.reshape(batch, -1).to(torch.int64)
    targets = torch.where((targets >= 0) & (targets < size), targets, size)
    out = _ScatterMaxUnpool.apply(inputs.reshape(batch, -1), targets, size)
    if data_format == "channels_last":
        return out.view(batch, out_h, out_w, channels)
    return out.view(batch, channels, out_h, out_w)


# ---- blocks kernels ----
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


def masked_attention(query, key, value, valid, bias=None):
    """Matmuls around a fused softmax; the additive mask (bias, -inf at the
    invalid keys) is built once at the mask's (broadcast) size."""
    valid = torch.as_tensor(valid, device=query.device)
    has_valid = valid.any(dim=-1, keepdim=True)
    mask = torch.where(valid | ~has_valid, 0.0, float("-inf")).to(torch.float32)
    if bias is not None:
        mask = mask + bias
    logits = torch.matmul(query, key.transpose(-1, -2)).to(torch.float32)
    weights = torch.softmax(logits + mask, dim=-1).to(value.dtype)
    return torch.matmul(weights, value) * has_valid.to(value.dtype)


def _halo_view(t, block: int, halo: tuple, start: tuple, n_y: int, n_x: int):
    """(B, g, H, W, d) → (B·g, n_y·n_x, halo², d), zeros outside `t`: one
    `F.unfold` (im2col; its backward, `F.fold`, is far faster than the one of
    `Tensor.unfold`) at stride `block`."""
    batch, groups, height, width, depth = t.shape
    (halo_h, halo_w), (top, left) = halo, start
    _, _, bottom, right = _generic.halo_grid(height, width, block, halo, start)
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


# ---- deformable kernels ----
_DEFORM_BASE_GRIDS: dict = {}


def _deform_base_grid(kernel_size, strides, dilation_rate, pads, in_size, out_size, device):
    """The undeformed sampling grid in `grid_sample` coordinates, (kh*kw, H',
    W', [x, y]), and the scale (2/W, 2/H) of an offset in those coordinates
    (align_corners=False reads pixel p at (2p + 1) / size - 1), cached: built
    once per configuration instead of a few broadcast passes per call."""
    key = (tuple(kernel_size), tuple(strides), tuple(dilation_rate), pads, in_size, out_size)
    key = key + (str(device),)
    cached = _DEFORM_BASE_GRIDS.get(key)
    if cached is not None:
        return cached
    (kh, kw), (height, width), (out_h, out_w) = kernel_size, in_size, out_size
    tap_y = torch.arange(kh, dtype=torch.float64) * dilation_rate[0]
    tap_x = torch.arange(kw, dtype=torch.float64) * dilation_rate[1]
    rows = torch.arange(out_h, dtype=torch.float64) * strides[0] - pads[0]
    cols = torch.arange(out_w, dtype=torch.float64) * strides[1] - pads[1]
    by = (2.0 * (tap_y[:, None, None, None] + rows[None, None, :, None]) + 1.0) / height - 1.0
    bx = (2.0 * (tap_x[None, :, None, None] + cols[None, None, None, :]) + 1.0) / width - 1.0
    base = torch.stack(torch.broadcast_tensors(bx, by), -1).reshape(kh * kw, out_h, out_w, 2)
    base = base.to(device=device, dtype=torch.float32).contiguous()
    scale = torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float32, device=device)
    if len(_DEFORM_BASE_GRIDS) > 64:
        _DEFORM_BASE_GRIDS.clear()
    _DEFORM_BASE_GRIDS[key] = (base, scale)
    return base, scale


def deform_conv2d(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    """Bilinear sampling with `torch.nn.functional.grid_sample` (zeros
    padding: each out-of-range corner contributes zero, as in torchvision),
    whose vectorized CPU kernels and native backward replace the generic
    gathers and scatters.  One kernel row at a time: that row's samples,
    (B, C*kw, H'*W'), times its kernel slice, accumulated, so that no
    intermediate is larger than 1/kh of the im2col tensor (the layer's
    forward measured ~1.4x faster than with one im2col-sized `grid_sample`
    and matmul on CPU, where fresh large buffers cost page faults).  float32 only (mixed
    precision takes the generic kernel)."""
    if inputs.dtype != torch.float32 or kernel.dtype != torch.float32:
        return NotImplemented
    batch, height, width, channels = inputs.shape
    kh, kw, cin_g, filters = kernel.shape
    _, out_h, out_w, n_off = offsets.shape
    taps = kh * kw
    og = n_off // (2 * taps)
    cg = channels // og
    pad_top = _generic.deform_pad_before(height, kh, strides[0], dilation_rate[0], padding)
    pad_left = _generic.deform_pad_before(width, kw, strides[1], dilation_rate[1], padding)
    x = inputs.permute(0, 3, 1, 2).reshape(batch * og, cg, height, width)
    base, scale = _deform_base_grid(
        (kh, kw),
        strides,
        dilation_rate,
        (pad_top, pad_left),
        (height, width),
        (out_h, out_w),
        inputs.device,
    )
    off = offsets.to(torch.float32).reshape(batch, out_h, out_w, og, taps, 2)
    off = off.permute(0, 3, 4, 1, 2, 5).flip(-1)  # (B, og, taps, H', W', [dx, dy])
    grid = torch.addcmul(base, off, scale).reshape(batch * og, taps, out_h, out_w, 2)
    if mask is not None:
        m = mask.reshape(batch, out_h, out_w, og, taps).permute(0, 3, 4, 1, 2)
        m = m.reshape(batch * og, taps, out_h, out_w).to(torch.float32)
    fg = filters // groups
    # One kernel row (kw taps) per step: (B, C, kw, H'*W') samples.
    k = kernel.reshape(kh, kw, cin_g, groups, fg).permute(0, 3, 4, 2, 1)
    k = k.reshape(kh, groups, fg, cin_g * kw)
    out = None
    for row in range(kh):
        taps_grid = grid[:, row * kw : (row + 1) * kw].reshape(batch * og, kw * out_h, out_w, 2)
        samples = torch.nn.functional.grid_sample(
            x, taps_grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (B*og, cg, kw*H', W')
        if mask is not None:
            samples = samples * m[:, row * kw : (row + 1) * kw].reshape(
                batch * og, 1, kw * out_h, out_w
            )
        samples = samples.reshape(batch, groups, cin_g * kw, out_h * out_w)
        if out is None:
            out = torch.matmul(k[row], samples)  # (B, groups, fg, H'W')
        else:  # accumulated in place (matmul's backward does not need its output)
            out = out.add_(torch.matmul(k[row], samples))
    return out.reshape(batch, filters, out_h, out_w).permute(0, 2, 3, 1)


def halo_blocks2d(x, block: int, halo: tuple, start: tuple):
    """`Tensor.unfold` views (one copy; `unfold_backward` as gradient) instead
    of slices and concatenations."""
    (halo_h, halo_w), (top, left) = halo, start
    batch, groups, height, width, depth = x.shape
    n_y, n_x, bottom, right = _generic.halo_grid(height, width, block, halo, start)
    t = torch.nn.functional.pad(x, (0, 0, left, right, top, bottom))
    t = t.unfold(2, halo_h, block).unfold(3, halo_w, block)  # (B, g, n_y, n_x, d, hh, hw)
    t = t[:, :, :n_y, :n_x].permute(0, 1, 2, 3, 5, 6, 4)
    return t.reshape(batch, groups, n_y, n_x, halo_h * halo_w, depth)
