"""PyTorch fast path of the deformable convolution: `grid_sample` per
kernel row."""

from __future__ import annotations

import torch
import torch.utils.checkpoint

from keras_cv_layers.ops._deformable_kernels import deform_pad_before

_DEFORM_BASE_GRIDS: dict = {}

#: Bytes of the samples of all kernel rows (the im2col tensor) above which a
#: recorded forward pass recomputes them in the backward pass.
CHECKPOINT_BYTES = 64 * 2**20


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
    and matmul on CPU, where fresh large buffers cost page faults).  When
    gradients are recorded and the im2col tensor is larger than
    `CHECKPOINT_BYTES`, each row is a `torch.utils.checkpoint`: its samples
    are recomputed in the backward pass instead of kept (kept, the rows'
    samples are the whole im2col tensor: at (8, 128, 128, 64) a training
    step held 2.3x a Conv2D step's memory, benchmarks/memory.py).  float32
    only (mixed precision takes the generic kernel)."""
    if inputs.dtype != torch.float32 or kernel.dtype != torch.float32:
        return NotImplemented
    batch, height, width, channels = inputs.shape
    kh, kw, cin_g, filters = kernel.shape
    _, out_h, out_w, n_off = offsets.shape
    taps = kh * kw
    og = n_off // (2 * taps)
    cg = channels // og
    pad_top = deform_pad_before(height, kh, strides[0], dilation_rate[0], padding)
    pad_left = deform_pad_before(width, kw, strides[1], dilation_rate[1], padding)
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

    def row_term(x, taps_grid, m_row, k_row):
        samples = torch.nn.functional.grid_sample(
            x, taps_grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (B*og, cg, kw*H', W')
        if m_row is not None:
            samples = samples * m_row
        samples = samples.reshape(batch, groups, cin_g * kw, out_h * out_w)
        return torch.matmul(k_row, samples)  # (B, groups, fg, H'W')

    tensors = (x, grid, kernel) + (() if mask is None else (m,))
    record = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    # Recompute only where keeping the samples (the im2col tensor) costs more
    # than `CHECKPOINT_BYTES`; below, the recomputation costs ~15% of the step.
    record = record and batch * channels * taps * out_h * out_w * 4 > CHECKPOINT_BYTES
    out = None
    for row in range(kh):
        taps_grid = grid[:, row * kw : (row + 1) * kw].reshape(batch * og, kw * out_h, out_w, 2)
        m_row = None
        if mask is not None:
            m_row = m[:, row * kw : (row + 1) * kw].reshape(batch * og, 1, kw * out_h, out_w)
        if record:  # the samples recomputed in the backward pass, not kept
            term = torch.utils.checkpoint.checkpoint(
                row_term, x, taps_grid, m_row, k[row], use_reentrant=False
            )
        else:
            term = row_term(x, taps_grid, m_row, k[row])
        # Accumulated in place (matmul's backward does not need its output).
        out = term if out is None else out.add_(term)
    return out.reshape(batch, filters, out_h, out_w).permute(0, 2, 3, 1)
