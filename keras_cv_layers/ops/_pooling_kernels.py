"""The reference math of argmax pooling and unpooling, in `keras.ops`
(`kcl.ops.max_pool_with_argmax1d/2d/3d`, `kcl.ops.max_unpool1d/2d/3d`), with
the fast paths of `backend_kernels/pooling`.

One kernel per operation serves every rank: the number of spatial axes is
`len(pool_size)` (pooling) or `len(output_size)` (unpooling), and so does
each backend fast path, except torch's pooling (its native op is 2D-only:
it declines the other ranks)."""

from __future__ import annotations

import itertools

import keras
from keras import ops

from keras_cv_layers.backend_kernels import is_exporting, with_fast_path
from keras_cv_layers.backend_kernels import pooling as _fast
from keras_cv_layers.utils.argument_validation import same_padding_amounts
from keras_cv_layers.utils.numerics import batch_positions


def _spatial_axes(rank: int, data_format: str) -> tuple:
    """The spatial axes of a `rank + 2`-D tensor of `data_format`."""
    first = 1 if data_format == "channels_last" else 2
    return tuple(range(first, first + rank))


def _pool_spatial(x, data_format: str):
    """`(spatial sizes, channels)` of a `(batch, ..., channels)` or
    channels_first tensor (ints, or scalar tensors for sizes unknown when
    tracing)."""
    shape = tuple(ops.shape(x))
    if data_format == "channels_last":
        return shape[1:-1], shape[-1]
    return shape[2:], shape[1]


def _same_pads(length, kernel: int, stride: int):
    return same_padding_amounts(length, kernel, stride)


def _product(values):
    """The product of ints or int32 scalar tensors (1 for none)."""
    result = 1
    for v in values:
        result = v if isinstance(result, int) and result == 1 else result * v
    return result


def _flat_steps(sizes, channels, data_format: str):
    """`(steps, channel_step)`: how far the per-example flat index moves for
    one step along each spatial axis and along the channels, for spatial
    `sizes` and `channels` (int32 tensors or ints) in `data_format`."""
    rank = len(sizes)
    if data_format == "channels_last":
        steps = tuple(_product((*sizes[d + 1 :], channels)) for d in range(rank))
        return steps, 1
    steps = tuple(_product(sizes[d + 1 :]) for d in range(rank))
    return steps, _product(sizes)


def _along(vector, axis: int, ndim: int):
    """`vector` reshaped to broadcast along `axis` of an `ndim`-D tensor."""
    shape = [1] * ndim
    shape[axis] = -1
    return ops.reshape(vector, shape)


def _times(value, step):
    return value if isinstance(step, int) and step == 1 else value * step


@with_fast_path(_fast.max_pool_with_argmax2d)
def max_pool_with_argmax(inputs, pool_size, strides, padding: str, data_format: str):
    """Max pooling that also returns the argmax, over `len(pool_size)` (1, 2
    or 3) spatial axes (`kcl.ops.max_pool_with_argmax1d/2d/3d`).

    `pool_size`, `strides`: tuples of one int per spatial axis; `padding`:
    `"valid"` or `"same"` (Keras arithmetic; the padding is -inf, so never
    selected).  Returns `(pooled, indices)`: `indices` int32, the position
    of each maximum in its own example flattened in `data_format` (2D
    channels_last `(h * W + w) * C + c`, channels_first `(c * H + h) * W + w`,
    likewise for the other ranks).  Ties go to the lowest index (the window
    is scanned in row-major order with a strict `>`), and so does the
    gradient.
    """
    rank = len(pool_size)
    sizes, channels = _pool_spatial(inputs, data_format)
    axes = _spatial_axes(rank, data_format)
    ndim = rank + 2
    if padding == "same":
        pads = [[0, 0]] * ndim
        starts, counts = [], []
        for axis, n, k, s in zip(axes, sizes, pool_size, strides):
            before, after = _same_pads(n, k, s)
            pads[axis] = [before, after]
            starts.append(before)
            counts.append((n + s - 1) // s)
        x = ops.pad(inputs, pads, constant_values=float("-inf"))
    else:
        starts = [0] * rank
        counts = [(n - k) // s + 1 for n, k, s in zip(sizes, pool_size, strides)]
        x = inputs
    sizes_i = tuple(ops.cast(n, "int32") for n in sizes)
    steps, channel_step = _flat_steps(sizes_i, ops.cast(channels, "int32"), data_format)
    best = None
    offset = None
    # The window offsets in row-major order; `offset` holds the flat-index
    # displacement of the best one from its window's first position (no
    # division afterwards: integer division does not export from JAX to
    # ONNX with a symbolic batch).
    for position in itertools.product(*(range(k) for k in pool_size)):
        index = [slice(None)] * ndim
        for axis, i, count, s in zip(axes, position, counts, strides):
            index[axis] = slice(i, i + (count - 1) * s + 1, s)
        window = x[tuple(index)]
        if best is None:
            best = window
            offset = ops.zeros(ops.shape(window), dtype="int32")
            continue
        shift = ops.cast(sum(_times(i, step) for i, step in zip(position, steps) if i), "int32")
        better = ops.greater(window, best)
        best = ops.where(better, window, best)
        offset = ops.where(better, shift, offset)
    # The flat index of each window's first position (which may lie in the
    # padding, outside the input) ...
    channel = ops.arange(0, channels, dtype="int32")
    channel_axis = ndim - 1 if data_format == "channels_last" else 1
    indices = _along(_times(channel, channel_step), channel_axis, ndim)
    for axis, count, s, start, step in zip(axes, counts, strides, starts, steps):
        first = ops.arange(0, count, dtype="int32") * s - start
        indices = indices + _along(_times(first, step), axis, ndim)
    # ... plus the argmax's displacement in its window.
    return best, ops.cast(indices + offset, "int32")


#: The name under which the fast path (and older code) knows the kernel.
max_pool_with_argmax2d = max_pool_with_argmax


def _fit_spatial(y, output_size, data_format: str):
    """Crops or zero-pads the spatial axes of `y` to `output_size`."""
    rank = len(output_size)
    axes = _spatial_axes(rank, data_format)
    shape = ops.shape(y)
    index = [slice(None)] * (rank + 2)
    for axis, out in zip(axes, output_size):
        index[axis] = slice(0, out)
    y = y[tuple(index)]
    missing = [out - shape[axis] for axis, out in zip(axes, output_size)]
    if all(isinstance(m, int) for m in missing):
        if all(m <= 0 for m in missing):
            return y
        missing = [max(m, 0) for m in missing]
    else:
        missing = [ops.maximum(m, 0) for m in missing]
    pads = [[0, 0]] * (rank + 2)
    for axis, m in zip(axes, missing):
        pads[axis] = [0, m]
    return ops.pad(y, pads)


def _unpool_dense_parts(inputs, indices, output_size, block_size, data_format: str):
    """Non-overlapping unpooling without a scatter or integer division.

    Returns `(y, hit)`.  Each index is compared with the flat position of
    its own `block_size` block corner (pooled position times the block, per
    axis, same channel): `diff = indices - corner` names the in-block offset
    `(d0, d1, ...)` when it equals one of the `prod(block_size)` in-block
    strides, and `y[.., i*s0+d0, .., j*s1+d1, ..] = where(diff == stride(d0,
    d1, ...), x, 0)`.  `hit` (bool, the shape of `indices`) says the index
    is out of range or lies in its own block at a position inside the
    output; when all are, `y` is the unpooling (out-of-range indices match
    no kept position: a block position past the output's last row or column
    is cropped away).  The "inside the output" masks are left out when the
    sizes are static and every block fits (`pooled * block <= output` along
    each axis)."""
    rank = len(block_size)
    ndim = rank + 2
    axes = _spatial_axes(rank, data_format)
    channel_axis = ndim - 1 if data_format == "channels_last" else 1
    out_i = tuple(ops.cast(o, "int32") for o in output_size)
    sizes, channels = _pool_spatial(inputs, data_format)
    channels_i = ops.cast(channels, "int32")
    steps, channel_step = _flat_steps(out_i, channels_i, data_format)
    pooled = [ops.arange(0, n, dtype="int32") for n in sizes]
    channel = ops.arange(0, channels, dtype="int32")
    corner = _along(_times(channel, channel_step), channel_axis, ndim)
    for axis, positions, b, step in zip(axes, pooled, block_size, steps):
        corner = corner + _along(positions * (b * step), axis, ndim)
    # Per axis and in-block offset: whether the block position lies inside
    # the output (None: always, statically).
    inside = [
        None
        if _all_blocks_fit(n, b, out)
        else [_along(ops.less(positions * b + delta, o), axis, ndim) for delta in range(b)]
        for n, b, out, o, positions, axis in zip(
            sizes, block_size, output_size, out_i, pooled, axes
        )
    ]
    diff = indices - corner
    size = _product((*out_i, channels_i))
    hit = ops.logical_or(ops.less(indices, 0), ops.greater_equal(indices, size))
    for offsets in itertools.product(*(range(b) for b in block_size)):
        stride = sum(delta * step for delta, step in zip(offsets, steps))
        match = ops.equal(diff, stride)
        for ok, delta in zip(inside, offsets):
            if ok is not None:
                match = ops.logical_and(match, ok[delta])
        hit = ops.logical_or(hit, match)
    # One broadcast select over the (.., p0, s0, p1, s1, .., ..) output: a
    # single pass for XLA (stacking per-offset selects is much slower there).
    # TensorFlow's CPU kernels broadcast at most 5 (grouped) axes, so for 3D
    # the first block axis is unrolled: one select per offset along it over
    # the other two, stacked.
    if rank <= 2:
        y = _block_select(inputs, diff, block_size, steps, data_format)
    else:
        first_block_axis = 2 if data_format == "channels_last" else 3
        y = ops.stack(
            [
                _block_select(
                    inputs,
                    diff - delta * steps[0],
                    block_size[1:],
                    steps[1:],
                    data_format,
                    unrolled=1,
                )
                for delta in range(block_size[0])
            ],
            axis=first_block_axis,
        )
    batch = ops.shape(inputs)[0]
    spatial = tuple(n * b for n, b in zip(sizes, block_size))
    if data_format == "channels_last":
        flat = (batch, *spatial, channels)
    else:
        flat = (batch, channels, *spatial)
    return _fit_spatial(ops.reshape(y, flat), output_size, data_format), hit


def _block_select(inputs, diff, block_size, steps, data_format: str, unrolled: int = 0):
    """`where(diff == in-block stride, x, 0)` broadcast over the block axes
    of the last `len(block_size)` spatial axes: shape `(.., p0, .., pk, sk,
    .., pn, sn, ..)` (the first `unrolled` pooled axes get no block axis)."""
    rank = unrolled + len(block_size)
    expand = [slice(None)] * (2 if data_format == "channels_first" else 1)
    expand += [slice(None)] * unrolled
    for _ in block_size:
        expand += [slice(None), None]
    if data_format == "channels_last":
        expand.append(slice(None))
    first_block_axis = (2 if data_format == "channels_last" else 3) + unrolled
    ndim = rank + len(block_size) + 2
    strides = 0
    for d, (b, step) in enumerate(zip(block_size, steps)):
        offsets = ops.arange(0, b, dtype="int32") * step
        strides = strides + _along(offsets, first_block_axis + 2 * d, ndim)
    match = ops.equal(diff[tuple(expand)], strides)
    return ops.where(match, inputs[tuple(expand)], ops.zeros((), dtype=inputs.dtype))


def _all_blocks_fit(pooled: object, block: int, out: object) -> bool:
    """Whether `pooled` blocks of `block` fit in `out` (statically known)."""
    return isinstance(pooled, int) and isinstance(out, int) and pooled * block <= out


def _all_hit(hit):
    """Scalar bool: all of `hit`.  An int32 count over the last axis (XLA
    fuses it with the comparisons into one parallel pass; a full reduction
    of a bool or uint8 tensor is about twice as slow on CPU), then the min
    of that small tensor."""
    counts = ops.sum(ops.cast(hit, "int32"), axis=-1)
    return ops.greater_equal(ops.min(counts), ops.shape(hit)[-1])


def _unpool_dense(inputs, indices, output_size, block_size, data_format: str):
    """`(y, exact)`: the dense unpooling (`_unpool_dense_parts`) and the
    scalar bool saying it is exact (every in-range index lies in its own
    block at a position inside the output)."""
    y, hit = _unpool_dense_parts(inputs, indices, output_size, block_size, data_format)
    return y, _all_hit(hit)


def _unpool_scatter(inputs, indices, output_size, data_format: str):
    """Unpooling by segment reductions (any indices): each output position
    holds the maximum of the values whose index names it (one value, not a
    sum, when windows overlap), zero elsewhere; out-of-range indices are
    dropped before the scatter.  The gradient w.r.t. `inputs` is the gather
    of the output gradient at `indices` (a linear scatter-add whose forward
    contribution is cancelled exactly: `lin - stop_gradient(lin)` is 0)."""
    output_size = tuple(output_size)
    _, channels = _pool_spatial(inputs, data_format)
    batch = ops.shape(inputs)[0]
    size = _product((*output_size, channels))
    flat_idx = ops.reshape(ops.cast(indices, "int32"), (batch, -1))
    flat_x = ops.reshape(inputs, (batch, -1))
    valid = ops.logical_and(ops.greater_equal(flat_idx, 0), ops.less(flat_idx, size))
    offsets = batch_positions(inputs)[:, None] * ops.cast(size, "int32")
    total = batch * size
    segments = ops.reshape(ops.where(valid, flat_idx + offsets, ops.cast(total, "int32")), (-1,))
    flat_x = ops.reshape(flat_x, (-1,))
    num = total + 1
    values = ops.segment_max(
        ops.cast(ops.stop_gradient(flat_x), "float32"), segments, num_segments=num
    )[:total]
    counts = ops.segment_sum(ops.ones_like(segments, dtype="float32"), segments, num_segments=num)[
        :total
    ]
    values = ops.where(ops.greater(counts, 0.0), values, 0.0)
    linear = ops.segment_sum(ops.cast(flat_x, "float32"), segments, num_segments=num)[:total]
    out = ops.cast(values, inputs.dtype) + ops.cast(
        linear - ops.stop_gradient(linear), inputs.dtype
    )
    if data_format == "channels_last":
        return ops.reshape(out, (batch, *output_size, channels))
    return ops.reshape(out, (batch, channels, *output_size))


@with_fast_path(_fast.max_unpool2d)
def max_unpool(inputs, indices, output_size, block_size, data_format: str):
    """Max unpooling over `len(output_size)` (1, 2 or 3) spatial axes
    (`kcl.ops.max_unpool1d/2d/3d`): scatters `inputs` to the positions
    `indices` (per-example flat indices, as returned by
    `max_pool_with_argmax`) of a zero tensor of spatial size `output_size`.

    `block_size`: one int per spatial axis, or None.  When given and every
    in-range index lies in the `block_size` block of its pooled position
    (pooling with `pool_size <= strides == block_size`, the SegNet case),
    the result is computed densely without a scatter; otherwise
    (overlapping windows, arbitrary indices) by segment reductions.  Both
    give the same numbers; the choice is made at run time (`ops.cond`; the
    check is a few integer comparisons per index, no division, fused into
    one pass with its reduction: see `_all_hit`).
    """
    indices = ops.cast(indices, "int32")
    if block_size is None or (keras.backend.backend() == "torch" and is_exporting()):
        # `torch.export` cannot trace this `ops.cond` (its branches differ
        # in their int dtypes); the scatter alone gives the same numbers.
        return _unpool_scatter(inputs, indices, output_size, data_format)
    return ops.cond(
        _unpool_dense(inputs, indices, output_size, block_size, data_format)[1],
        lambda: _unpool_dense(inputs, indices, output_size, block_size, data_format)[0],
        lambda: _unpool_scatter(inputs, indices, output_size, data_format),
    )


#: The name under which the fast path (and older code) knows the kernel.
max_unpool2d = max_unpool
