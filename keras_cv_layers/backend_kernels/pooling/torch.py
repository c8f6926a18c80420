"""PyTorch fast paths of argmax pooling (`max_pool2d` with indices; 2D only)
and unpooling (one scatter into the output; any rank)."""

from __future__ import annotations

import math

import torch

from keras_cv_layers.utils.argument_validation import same_padding_amounts

_POOL_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def max_pool_with_argmax2d(inputs, pool_size, strides, padding: str, data_format: str):
    """`torch.nn.functional.max_pool2d(return_indices=True)` on an NCHW view
    (channels_last inputs are permuted without a copy: torch pools the
    channels_last memory format natively); "same" pads with -inf
    explicitly.  torch's per-channel `h * W + w` indices (of the padded
    input) are converted to the package's per-example flat indices.  2D
    only (other ranks are declined)."""
    if len(pool_size) != 2:
        return NotImplemented
    if not isinstance(inputs, torch.Tensor) or inputs.dtype not in _POOL_DTYPES:
        return NotImplemented
    channels_last = data_format == "channels_last"
    x = inputs.permute(0, 3, 1, 2) if channels_last else inputs
    _, channels, height, width = x.shape
    top = left = 0
    if padding == "same":
        top, bottom = same_padding_amounts(height, pool_size[0], strides[0])
        left, right = same_padding_amounts(width, pool_size[1], strides[1])
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


def _scatter_max(values, targets, size: int):
    """(B, size): each target's value, the largest where several values
    share a target (scatter-max into zeros), for targets in [0, size).

    Written once: a plain `scatter_` (~4x faster than the `amax`
    `scatter_reduce` on the CPU), then a check that every value is at most
    what its target holds, which fails only where a larger value sharing a
    target was overwritten by a smaller one (overlapping windows of values
    that are not the pooled maxima); then, and while compiling (no
    data-dependent branch), the `amax` reduction."""
    out = values.new_zeros((values.shape[0], size))
    if torch.compiler.is_compiling():
        return out.scatter_reduce_(1, targets, values, reduce="amax", include_self=False)
    out.scatter_(1, targets, values)
    if not bool((out.gather(1, targets) >= values).all()):
        out.zero_().scatter_reduce_(1, targets, values, reduce="amax", include_self=False)
    return out


class _ScatterMaxUnpool(torch.autograd.Function):
    """Forward: scatter-max of the values into a zero tensor (one value per
    position, not a sum; `_scatter_max`); backward: the gather of the output
    gradient.  With `dropped`, target `size` is a dropped extra column (the
    out-of-range indices)."""

    @staticmethod
    def forward(ctx, values, targets, size: int, dropped: bool):
        ctx.save_for_backward(targets)
        ctx.dropped = dropped
        if dropped:
            return _scatter_max(values, targets, size + 1)[:, :size]
        return _scatter_max(values, targets, size)

    @staticmethod
    def backward(ctx, grad):
        (targets,) = ctx.saved_tensors
        if ctx.dropped:
            grad = torch.nn.functional.pad(grad, (0, 1))
        return grad.gather(1, targets), None, None, None


def max_unpool2d(inputs, indices, output_size, block_size, data_format: str):
    """One native scatter over the per-example flat indices, which are the
    package's index convention in either data format (`_scatter_max`: a
    plain scatter into a contiguous output, or the `amax` reduction where
    values sharing a target differ); out-of-range indices, found by one
    `aminmax`, are sent to a dropped extra column; the gradient is a gather
    (a custom autograd function).  Any rank (1D, 2D, 3D)."""
    if not isinstance(inputs, torch.Tensor) or inputs.dtype not in _POOL_DTYPES:
        return NotImplemented
    output_size = tuple(int(v) for v in output_size)
    batch = inputs.shape[0]
    channels = inputs.shape[-1] if data_format == "channels_last" else inputs.shape[1]
    size = math.prod(output_size) * channels
    targets = indices.reshape(batch, -1).to(torch.int64)
    if targets.numel() == 0:
        dropped = False
    elif torch.compiler.is_compiling():
        dropped = True
    else:
        low, high = torch.aminmax(targets)
        dropped = bool(low < 0) or bool(high >= size)
    if dropped:
        targets = torch.where((targets >= 0) & (targets < size), targets, size)
    out = _ScatterMaxUnpool.apply(inputs.reshape(batch, -1), targets, size, dropped)
    if data_format == "channels_last":
        return out.view(batch, *output_size, channels)
    return out.view(batch, channels, *output_size)
