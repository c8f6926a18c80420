"""PyTorch fast path of the deformable convolution: an embedding-bag
over a per-tap product table without recorded gradients, `grid_sample` per
kernel row with them."""

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


def _dimensions(inputs, offsets, kernel, strides, padding: str, dilation_rate):
    """`(batch, height, width, channels, out_h, out_w, og, pads)` of a call:
    sizes, offset groups and the leading (top, left) zero padding."""
    batch, height, width, channels = inputs.shape
    kh, kw = kernel.shape[0], kernel.shape[1]
    _, out_h, out_w, n_off = offsets.shape
    pads = (
        deform_pad_before(height, kh, strides[0], dilation_rate[0], padding),
        deform_pad_before(width, kw, strides[1], dilation_rate[1], padding),
    )
    return batch, height, width, channels, out_h, out_w, n_off // (2 * kh * kw), pads


def _sampling_plan(offsets, mask, sizes, kernel_size, strides, dilation_rate, pads):
    """The bilinear corners of every (output pixel, offset group, tap) of
    `offsets` (b, H', W', og*taps*2): `(index, weight)`, each (b, H'*W',
    og*taps*4), `index` int32 `(y*W + x)*og*taps + o*taps + t` (the row of
    the image's `_embedding_bag_forward` table; clamped into the image) and
    `weight` float32 (zero where the corner lies outside the input; times
    the mask, if any)."""
    (height, width), (kh, kw) = sizes, kernel_size
    batch, out_h, out_w, n_off = offsets.shape
    taps = kh * kw
    og = n_off // (2 * taps)
    device = offsets.device
    tap_y = (torch.arange(kh, device=device) * dilation_rate[0]).repeat_interleave(kw)
    tap_x = (torch.arange(kw, device=device) * dilation_rate[1]).repeat(kh)
    rows = torch.arange(out_h, device=device) * strides[0] - pads[0]
    cols = torch.arange(out_w, device=device) * strides[1] - pads[1]
    off = offsets.to(torch.float32).reshape(batch, out_h, out_w, og, taps, 2)
    py = off[..., 0] + (rows[:, None, None, None] + tap_y).to(torch.float32)
    px = off[..., 1] + (cols[:, None, None] + tap_x).to(torch.float32)
    y0f, x0f = py.floor(), px.floor()
    ly, lx = py - y0f, px - x0f
    y0, x0 = y0f.to(torch.int32), x0f.to(torch.int32)
    wy0 = torch.where((y0 >= 0) & (y0 < height), 1.0 - ly, 0.0)
    wy1 = torch.where((y0 >= -1) & (y0 < height - 1), ly, 0.0)
    wx0 = torch.where((x0 >= 0) & (x0 < width), 1.0 - lx, 0.0)
    wx1 = torch.where((x0 >= -1) & (x0 < width - 1), lx, 0.0)
    if mask is not None:
        m = mask.to(torch.float32).reshape(batch, out_h, out_w, og, taps)
        wy0, wy1 = wy0 * m, wy1 * m
    weight = torch.stack([wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1], -1)
    stride = og * taps  # table rows per input pixel
    og_tap = torch.arange(stride, device=device, dtype=torch.int32).reshape(og, taps, 1)
    r0 = y0.clamp(0, height - 1) * (width * stride)
    r1 = (y0 + 1).clamp(0, height - 1) * (width * stride)
    c0, c1 = x0.clamp(0, width - 1) * stride, (x0 + 1).clamp(0, width - 1) * stride
    index = torch.stack([r0 + c0, r0 + c1, r1 + c0, r1 + c1], -1).add_(og_tap)
    per = og * taps * 4
    return index.reshape(batch, -1, per), weight.reshape(batch, -1, per)


#: Bytes of the `_embedding_bag_forward` table (the input times every tap's
#: kernel slice) of one chunk of images: larger images go one at a time.
TABLE_BYTES = 2 * 2**20

#: Bytes of the corner indices and weights computed at once (chunks of images).
PLAN_BYTES = 16 * 2**20


def _embedding_bag_forward(inputs, offsets, kernel, mask, strides, padding, dilation_rate):
    """The forward pass without recorded gradients (`groups=1`): the input
    times every tap's kernel slice first, a table of (H*W*og*taps, F) rows
    per image (one matmul), then each output pixel the sum of its
    og*taps*4 bilinear corners' rows of that table, weighted
    (`torch.nn.functional.embedding_bag`, mode "sum", per-sample weights:
    one fused pass, nothing of the im2col tensor's size written), a chunk of
    images at a time (`TABLE_BYTES`; the corners for `PLAN_BYTES`).  ~1.5x
    faster than the `grid_sample` rows on the CPU (benchmarks/deformable.py)."""
    kh, kw, _, filters = kernel.shape
    batch, height, width, channels, out_h, out_w, og, pads = _dimensions(
        inputs, offsets, kernel, strides, padding, dilation_rate
    )
    taps = kh * kw
    cg = channels // og
    per = og * taps * 4
    # (og, C/og, taps*F): the table's columns of each offset group.
    k = kernel.reshape(taps, og, cg, filters).permute(1, 2, 0, 3).reshape(og, cg, taps * filters)
    image_rows = height * width * og * taps
    step = max(1, TABLE_BYTES // (image_rows * filters * 4))
    plan_step = max(step, PLAN_BYTES // (out_h * out_w * per * 8) // step * step)
    out = inputs.new_empty(batch, out_h * out_w, filters)
    # One table buffer for every chunk (a fresh one per chunk costs page
    # faults: more than the matmul filling it).
    buffer = inputs.new_empty(min(step, batch) * height * width, og, taps * filters)
    for plan_start in range(0, batch, plan_step):
        plan_stop = min(plan_start + plan_step, batch)
        index, weight = _sampling_plan(
            offsets[plan_start:plan_stop],
            None if mask is None else mask[plan_start:plan_stop],
            (height, width),
            (kh, kw),
            strides,
            dilation_rate,
            pads,
        )
        for start in range(plan_start, plan_stop, step):
            stop = min(start + step, plan_stop)
            x = inputs[start:stop].reshape(-1, og, cg)
            table = buffer[: x.shape[0]]
            if og == 1:
                torch.mm(x[:, 0], k[0], out=table[:, 0])
            else:
                torch.bmm(x.transpose(0, 1), k, out=table.transpose(0, 1))
            rows = index[start - plan_start : stop - plan_start]
            if stop - start > 1:  # the rows of each image's table
                first = torch.arange(stop - start, device=inputs.device, dtype=torch.int32)
                rows = rows + (first * image_rows)[:, None, None]
            out[start:stop] = torch.nn.functional.embedding_bag(
                rows.reshape(-1, per),
                table.reshape(-1, filters),
                per_sample_weights=weight[start - plan_start : stop - plan_start].reshape(-1, per),
                mode="sum",
            ).reshape(stop - start, -1, filters)
    return out.reshape(batch, out_h, out_w, filters)


def deform_conv2d(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    """Without recorded gradients (inference, `predict`) and with
    `groups=1`: `_embedding_bag_forward`.  Otherwise bilinear sampling with
    `torch.nn.functional.grid_sample` (zeros padding: each out-of-range
    corner contributes zero, as in torchvision),
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
    tensors = (inputs, offsets, kernel) + (() if mask is None else (mask,))
    record = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    if not record and groups == 1:
        return _embedding_bag_forward(
            inputs, offsets, kernel, mask, strides, padding, dilation_rate
        )
    kh, kw, cin_g, filters = kernel.shape
    batch, height, width, channels, out_h, out_w, og, pads = _dimensions(
        inputs, offsets, kernel, strides, padding, dilation_rate
    )
    taps = kh * kw
    cg = channels // og
    x = inputs.permute(0, 3, 1, 2).reshape(batch * og, cg, height, width)
    base, scale = _deform_base_grid(
        (kh, kw),
        strides,
        dilation_rate,
        pads,
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
