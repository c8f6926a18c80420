"""The reference math of argmax pooling and unpooling, in `keras.ops`
(`kcl.ops.max_pool_with_argmax2d`, `kcl.ops.max_unpool2d`), with the
fast paths of `backend_kernels/pooling`."""

from __future__ import annotations

from keras import ops

from keras_cv_layers.backend_kernels import pooling as _fast
from keras_cv_layers.backend_kernels import with_fast_path
from keras_cv_layers.utils.argument_validation import same_padding_amounts


def _pool_spatial(x, data_format: str):
    """`(height, width, channels)` of a 4-D tensor (ints, or scalar tensors
    for sizes unknown when tracing)."""
    shape = ops.shape(x)
    if data_format == "channels_last":
        return shape[1], shape[2], shape[3]
    return shape[2], shape[3], shape[1]


def _same_pads(length, kernel: int, stride: int):
    return same_padding_amounts(length, kernel, stride)


def _strided_window(x, start: int, count, stride: int, axis: int):
    """`x[start : start + (count - 1) * stride + 1 : stride]` along `axis`."""
    index = [slice(None)] * 4
    index[axis] = slice(start, start + (count - 1) * stride + 1, stride)
    return x[tuple(index)]


def _flat_index_grid(height, width, channels, data_format: str, rows, cols):
    """Per-example flat indices (int32) of the positions `rows` x `cols`
    (int32 vectors) in a `(height, width, channels)` tensor of `data_format`,
    broadcast to the 4-D layout."""
    rows = ops.cast(rows, "int32")
    cols = ops.cast(cols, "int32")
    width = ops.cast(width, "int32")
    channel = ops.arange(channels, dtype="int32")
    if data_format == "channels_last":
        channels = ops.cast(channels, "int32")
        hw = rows[:, None] * width + cols[None, :]
        return hw[None, :, :, None] * channels + channel[None, None, None, :]
    height = ops.cast(height, "int32")
    hw = rows[:, None] * width + cols[None, :]
    return channel[None, :, None, None] * (height * width) + hw[None, None, :, :]


@with_fast_path(_fast.max_pool_with_argmax2d)
def max_pool_with_argmax2d(inputs, pool_size, strides, padding: str, data_format: str):
    """2D max pooling that also returns the argmax (`kcl.ops.max_pool_with_argmax2d`).

    `pool_size`, `strides`: tuples of 2 ints; `padding`: `"valid"` or `"same"`
    (Keras arithmetic; the padding is -inf, so never selected).  Returns
    `(pooled, indices)`: `indices` int32, the position of each maximum in its
    own example flattened in `data_format` (channels_last
    `(h * W + w) * C + c`, channels_first `(c * H + h) * W + w`).  Ties go to
    the lowest index (the window is scanned row-major with a strict `>`), and
    so does the gradient.
    """
    kh, kw = pool_size
    sh, sw = strides
    height, width, channels = _pool_spatial(inputs, data_format)
    h_axis, w_axis = (1, 2) if data_format == "channels_last" else (2, 3)
    if padding == "same":
        top, bottom = _same_pads(height, kh, sh)
        left, right = _same_pads(width, kw, sw)
        pads = [[0, 0], [0, 0], [0, 0], [0, 0]]
        pads[h_axis] = [top, bottom]
        pads[w_axis] = [left, right]
        x = ops.pad(inputs, pads, constant_values=float("-inf"))
        out_h = (height + sh - 1) // sh
        out_w = (width + sw - 1) // sw
    else:
        top = left = 0
        x = inputs
        out_h = (height - kh) // sh + 1
        out_w = (width - kw) // sw + 1
    best = None
    offset = None
    for i in range(kh):
        rows = _strided_window(x, i, out_h, sh, h_axis)
        for j in range(kw):
            window = _strided_window(rows, j, out_w, sw, w_axis)
            if best is None:
                best = window
                offset = ops.zeros(ops.shape(window), dtype="int32")
                continue
            better = ops.greater(window, best)
            best = ops.where(better, window, best)
            offset = ops.where(better, i * kw + j, offset)
    row_in_window = offset // kw
    col_in_window = offset - row_in_window * kw
    out_rows = ops.arange(out_h, dtype="int32") * sh - top
    out_cols = ops.arange(out_w, dtype="int32") * sw - left
    base = _flat_index_grid(height, width, channels, data_format, out_rows, out_cols)
    if data_format == "channels_last":
        step = ops.cast(width, "int32") * ops.cast(channels, "int32")
        indices = base + row_in_window * step + col_in_window * ops.cast(channels, "int32")
    else:
        indices = base + row_in_window * ops.cast(width, "int32") + col_in_window
    return best, ops.cast(indices, "int32")


def _fit_spatial(y, out_h, out_w, data_format: str):
    """Crops or zero-pads the spatial axes of `y` to `(out_h, out_w)`."""
    h_axis, w_axis = (1, 2) if data_format == "channels_last" else (2, 3)
    shape = ops.shape(y)
    index = [slice(None)] * 4
    index[h_axis] = slice(0, out_h)
    index[w_axis] = slice(0, out_w)
    y = y[tuple(index)]
    pad_h = out_h - shape[h_axis]
    pad_w = out_w - shape[w_axis]
    if isinstance(pad_h, int) and isinstance(pad_w, int):
        if pad_h <= 0 and pad_w <= 0:
            return y
        pad_h, pad_w = max(pad_h, 0), max(pad_w, 0)
    else:
        pad_h, pad_w = ops.maximum(pad_h, 0), ops.maximum(pad_w, 0)
    pads = [[0, 0], [0, 0], [0, 0], [0, 0]]
    pads[h_axis] = [0, pad_h]
    pads[w_axis] = [0, pad_w]
    return ops.pad(y, pads)


def _unpool_dense_parts(inputs, indices, output_size, block_size, data_format: str):
    """Non-overlapping unpooling without a scatter or integer division.

    Returns `(y, hit)`.  Each index is compared with the flat position of
    its own `block_size` block corner (pooled row and column times the block,
    same channel): `diff = indices - corner` names the in-block offset
    `(dy, dx)` when it equals one of the `sh * sw` in-block strides, and
    `y[.., i*sh+dy, .., j*sw+dx, ..] = where(diff == stride(dy, dx), x, 0)`.
    `hit` (bool, the shape of `indices`) says the index is out of range or
    lies in its own block at a position inside the output; when all are,
    `y` is the unpooling (out-of-range indices match no kept position: a
    block position past the output's last row or column is cropped away).
    The "inside the output" masks are left out when the sizes are static
    and every block fits (`height * sh <= out_h`, same for the width)."""
    sh, sw = block_size
    out_h, out_w = output_size
    out_h_i, out_w_i = ops.cast(out_h, "int32"), ops.cast(out_w, "int32")
    height, width, channels = _pool_spatial(inputs, data_format)
    channels_i = ops.cast(channels, "int32")
    pooled_rows = ops.arange(height, dtype="int32")
    pooled_cols = ops.arange(width, dtype="int32")
    channel = ops.arange(channels, dtype="int32")
    if data_format == "channels_last":
        row_step, col_step = out_w_i * channels_i, channels_i
        corner = (
            pooled_rows[:, None, None] * (sh * row_step)
            + pooled_cols[None, :, None] * (sw * col_step)
            + channel[None, None, :]
        )
        row_shape, col_shape = (1, -1, 1, 1), (1, 1, -1, 1)

    else:
        row_step, col_step = out_w_i, 1
        corner = (
            channel[:, None, None] * (out_h_i * out_w_i)
            + pooled_rows[None, :, None] * (sh * row_step)
            + pooled_cols[None, None, :] * sw
        )
        row_shape, col_shape = (1, 1, -1, 1), (1, 1, 1, -1)

    rows_fit = _all_blocks_fit(height, sh, out_h)
    cols_fit = _all_blocks_fit(width, sw, out_w)
    diff = indices - corner[None]
    size = out_h_i * out_w_i * channels_i
    hit = ops.logical_or(ops.less(indices, 0), ops.greater_equal(indices, size))
    for dy in range(sh):
        row_ok = None if rows_fit else ops.less(pooled_rows * sh + dy, out_h_i)
        for dx in range(sw):
            col_ok = None if cols_fit else ops.less(pooled_cols * sw + dx, out_w_i)
            match = ops.equal(diff, dy * row_step + dx * col_step)
            if row_ok is not None:
                match = ops.logical_and(match, ops.reshape(row_ok, row_shape))
            if col_ok is not None:
                match = ops.logical_and(match, ops.reshape(col_ok, col_shape))
            hit = ops.logical_or(hit, match)
    # One broadcast select over the (.., h, sh, w, sw, ..) output: a single
    # pass for XLA (stacking per-offset selects is much slower there).
    strides = (
        ops.arange(sh, dtype="int32")[:, None] * row_step
        + ops.arange(sw, dtype="int32")[None, :] * col_step
    )
    if data_format == "channels_last":
        match = ops.equal(diff[:, :, None, :, None, :], strides[None, None, :, None, :, None])
        up = inputs[:, :, None, :, None, :]
    else:
        match = ops.equal(diff[:, :, :, None, :, None], strides[None, None, None, :, None, :])
        up = inputs[:, :, :, None, :, None]
    y = ops.where(match, up, ops.zeros((), dtype=inputs.dtype))
    batch = ops.shape(inputs)[0]
    if data_format == "channels_last":
        flat = (batch, height * sh, width * sw, channels)
    else:
        flat = (batch, channels, height * sh, width * sw)
    return _fit_spatial(ops.reshape(y, flat), out_h, out_w, data_format), hit


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
    out_h, out_w = output_size
    height, width, channels = _pool_spatial(inputs, data_format)
    batch = ops.shape(inputs)[0]
    size = out_h * out_w * channels
    flat_idx = ops.reshape(ops.cast(indices, "int32"), (batch, -1))
    flat_x = ops.reshape(inputs, (batch, -1))
    valid = ops.logical_and(ops.greater_equal(flat_idx, 0), ops.less(flat_idx, size))
    offsets = ops.arange(batch, dtype="int32")[:, None] * ops.cast(size, "int32")
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
        return ops.reshape(out, (batch, out_h, out_w, channels))
    return ops.reshape(out, (batch, channels, out_h, out_w))


@with_fast_path(_fast.max_unpool2d)
def max_unpool2d(inputs, indices, output_size, block_size, data_format: str):
    """Max unpooling (`kcl.ops.max_unpool2d`): scatters `inputs` to the
    positions `indices` (per-example flat indices, as returned by
    `max_pool_with_argmax2d`) of a zero tensor of spatial size `output_size`.

    `block_size`: `(sh, sw)` or None.  When given and every in-range index
    lies in the `block_size` block of its pooled position (pooling with
    `pool_size <= strides == block_size`, the SegNet case), the result is
    computed densely without a scatter; otherwise (overlapping windows,
    arbitrary indices) by segment reductions.  Both give the same numbers;
    the choice is made at run time (`ops.cond`; the check is a few integer
    comparisons per index, no division, fused into one pass with its
    reduction: see `_all_hit`).
    """
    indices = ops.cast(indices, "int32")
    if block_size is None:
        return _unpool_scatter(inputs, indices, output_size, data_format)
    return ops.cond(
        _unpool_dense(inputs, indices, output_size, block_size, data_format)[1],
        lambda: _unpool_dense(inputs, indices, output_size, block_size, data_format)[0],
        lambda: _unpool_scatter(inputs, indices, output_size, data_format),
    )
