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


def _scatter_max(values, targets, size: int, unique: bool = False):
    """(B, size): each target's value, the largest where several values
    share a target (scatter-max into zeros), for targets in [0, size).

    Written once: a plain `scatter_` (~4x faster than the `amax`
    `scatter_reduce` on the CPU).  Unless the targets are known to be
    `unique`, then a check that every value is at most what its target
    holds (the minimum of their differences), which fails only where a
    larger value sharing a target was overwritten by a smaller one
    (overlapping windows of values that are not the pooled maxima), or for
    NaN and infinite values; then, and while compiling (no data-dependent
    branch), the `amax` reduction."""
    out = values.new_zeros((values.shape[0], size))
    if torch.compiler.is_compiling():  # (`unique` is never known then)
        return out.scatter_reduce_(1, targets, values, reduce="amax", include_self=False)
    out.scatter_(1, targets, values)
    if unique or values.numel() == 0:
        return out
    if not bool(torch.amin(out.gather(1, targets) - values) >= 0):
        out.zero_().scatter_reduce_(1, targets, values, reduce="amax", include_self=False)
    return out


class _ScatterMaxUnpool(torch.autograd.Function):
    """Forward: scatter-max of the values into a zero tensor (one value per
    position, not a sum; `_scatter_max`); backward: the gather of the output
    gradient.  With `dropped`, target `size` is a dropped extra column (the
    out-of-range indices); `unique`: no two values share a target."""

    @staticmethod
    def forward(ctx, values, targets, size: int, dropped: bool, unique: bool):
        ctx.save_for_backward(targets)
        ctx.dropped = dropped
        if dropped:
            return _scatter_max(values, targets, size + 1)[:, :size]
        return _scatter_max(values, targets, size, unique)

    @staticmethod
    def backward(ctx, grad):
        (targets,) = ctx.saved_tensors
        if ctx.dropped:
            grad = torch.nn.functional.pad(grad, (0, 1))
        return grad.gather(1, targets), None, None, None, None


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _in_own_blocks(indices, pooled_sizes, output_size, block_size, channels, data_format):
    """Whether every index lies in the block of its own pooled position and
    channel (then no two share a target and all are in range), checked
    without a division when the output's strides and the block sizes are
    powers of two: the offset of an index from its block's first position
    is then a sum of `a_i * stride_i` (`a_i < block_i`) exactly when it has
    no bit outside those of the block offsets.  A negative offset has the
    sign bit set; an int32 wrap cannot land on a valid offset.  Returns
    False (not known) in every other case, and when compiling."""
    if block_size is None or torch.compiler.is_compiling():
        return False
    block_size = tuple(int(b) for b in block_size)
    if len(block_size) != len(output_size) or any(
        p * b != o for p, b, o in zip(pooled_sizes, block_size, output_size)
    ):
        return False
    # Strides of the spatial axes in the per-example flat index.
    inner = channels if data_format == "channels_last" else 1
    strides = []
    for size in reversed(output_size):
        strides.append(inner)
        inner *= size
    strides.reverse()
    if not all(_power_of_two(v) for v in (*strides, *block_size)):
        return False
    allowed = 0
    for b, stride in zip(block_size, strides):
        allowed |= (b - 1) * stride
    device = indices.device
    rank = len(output_size)
    first = torch.zeros((), dtype=torch.int32, device=device)
    spatial_axis = 1 if data_format == "channels_last" else 2
    ndim = rank + 2
    for axis, (p, b, stride) in enumerate(zip(pooled_sizes, block_size, strides)):
        shape = [1] * ndim
        shape[spatial_axis + axis] = p
        step = torch.arange(p, dtype=torch.int32, device=device) * (b * stride)
        first = first + step.view(shape)
    shape = [1] * ndim
    channel_axis = ndim - 1 if data_format == "channels_last" else 1
    shape[channel_axis] = channels
    channel_stride = 1 if data_format == "channels_last" else math.prod(output_size)
    first = first + (
        torch.arange(channels, dtype=torch.int32, device=device) * channel_stride
    ).view(shape)
    outside = torch.sub(indices, first).bitwise_and_(~allowed)
    low, high = torch.aminmax(outside)
    return not (bool(low) or bool(high))


def max_unpool2d(inputs, indices, output_size, block_size, data_format: str):
    """One native scatter over the per-example flat indices, which are the
    package's index convention in either data format (`_scatter_max`: a
    plain scatter into a contiguous output, or the `amax` reduction where
    values sharing a target differ); out-of-range indices, found by one
    `aminmax`, are sent to a dropped extra column; the gradient is a gather
    (a custom autograd function).  Where every index lies in its own
    `block_size` block (`_in_own_blocks`: power-of-two sizes, the SegNet
    case), the scatter is written without those checks.  Any rank (1D, 2D,
    3D)."""
    if not isinstance(inputs, torch.Tensor) or inputs.dtype not in _POOL_DTYPES:
        return NotImplemented
    output_size = tuple(int(v) for v in output_size)
    batch = inputs.shape[0]
    if data_format == "channels_last":
        channels, pooled_sizes = inputs.shape[-1], tuple(inputs.shape[1:-1])
    else:
        channels, pooled_sizes = inputs.shape[1], tuple(inputs.shape[2:])
    size = math.prod(output_size) * channels
    indices = indices.to(torch.int32)
    unique = indices.numel() > 0 and _in_own_blocks(
        indices, pooled_sizes, output_size, block_size, channels, data_format
    )
    if unique or indices.numel() == 0:
        dropped = False
    elif torch.compiler.is_compiling():
        dropped = True
    else:
        low, high = torch.aminmax(indices)
        dropped = bool(low < 0) or bool(high >= size)
    targets = indices.reshape(batch, -1).to(torch.int64)
    if dropped:
        targets = torch.where((targets >= 0) & (targets < size), targets, size)
    out = _ScatterMaxUnpool.apply(inputs.reshape(batch, -1), targets, size, dropped, unique)
    if data_format == "channels_last":
        return out.view(batch, *output_size, channels)
    return out.view(batch, channels, *output_size)
