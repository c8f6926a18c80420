"""Generic kernels written with `keras.ops` only: they define the numbers.

`KERNELS` lists the kernel names (every function decorated with `@register_kernel`);
each backend module may provide a fast path of the same name and signature
(see `backend_kernels/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from keras import ops

KERNELS: list[str] = []


def register_kernel(fn: Callable) -> Callable:
    """Registers `fn` as a generic kernel under its own name."""
    KERNELS.append(fn.__name__)
    return fn


@register_kernel
def weight_standardize(kernel, eps: float):
    """`(kernel - mean) / sqrt(var + eps)` per output filter (last axis).

    Mean and biased variance over all axes but the last; `kernel` float32.
    """
    axes = tuple(range(len(kernel.shape) - 1))
    mean = ops.mean(kernel, axis=axes, keepdims=True)
    centered = kernel - mean
    var = ops.mean(ops.square(centered), axis=axes, keepdims=True)
    return centered * ops.rsqrt(var + eps)


# ---- convolution kernels ----
def _keras_conv(op, inputs, kernel, strides, padding, dilation_rate, data_format):
    return op(
        inputs,
        kernel,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        data_format=data_format,
    )


@register_kernel
def conv(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """`keras.ops.conv` (every convolution of the package goes through here).

    `strides` and `dilation_rate` are tuples, `padding` "valid" or "same".
    """
    return _keras_conv(ops.conv, inputs, kernel, strides, padding, dilation_rate, data_format)


@register_kernel
def depthwise_conv(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """`keras.ops.depthwise_conv` (every depthwise convolution goes through here)."""
    return _keras_conv(
        ops.depthwise_conv, inputs, kernel, strides, padding, dilation_rate, data_format
    )


# ---- deformable kernels ----
def deform_pad_before(length, kernel: int, stride: int, dilation: int, padding: str):
    """Leading zero padding of one axis of a deformable convolution
    ("valid": 0; "same": the Keras/TF amount); shared by the fast paths."""
    if padding == "valid":
        return 0
    from keras_cv_layers.utils.argument_validation import same_padding_amounts

    return same_padding_amounts(length, kernel, stride, dilation)[0]


class DeformGeometry:
    """What every tap of a deformable convolution shares (small tensors only).

    Built by `deform_geometry`.  Attributes: `flat` (B*og*H*W, C/og), the rows
    to gather from; `base` (B, 1, 1, og) int32, the first row of each (example,
    offset group); `rows` (1, H', 1, 1) and `cols` (1, 1, W', 1) float32, the
    undeformed top-left sampling positions; `off` (B, H', W', og, taps, 2)
    float32 offsets; `mask` (B, H', W', og, taps) float32 or None; the ints
    `og`, `cg`, `taps`, `kernel_size`, `dilation_rate`; `height`, `width`
    (int32 tensors or ints) and the shapes `in_shape`, `out_h`, `out_w`.
    """


def deform_geometry(inputs, offsets, mask, kernel_size, strides, padding, dilation_rate):
    """The `DeformGeometry` of one call (inputs (B, H, W, C); offsets (B, H',
    W', og*kh*kw*2) ordered [offset group][kernel row][kernel col][dy, dx];
    mask (B, H', W', og*kh*kw) or None)."""
    g = DeformGeometry()
    kh, kw = kernel_size
    sh, sw = strides
    dh, dw = dilation_rate
    g.kernel_size, g.dilation_rate = (kh, kw), (dh, dw)
    g.taps = taps = kh * kw
    g.in_shape = ops.shape(inputs)
    batch, height, width, channels = g.in_shape
    g.og = og = int(offsets.shape[-1]) // (2 * taps)
    g.cg = cg = int(channels) // og
    out_shape = ops.shape(offsets)
    g.out_h, g.out_w = out_h, out_w = out_shape[1], out_shape[2]
    pad_top = deform_pad_before(height, kh, sh, dh, padding)
    pad_left = deform_pad_before(width, kw, sw, dw, padding)
    g.off = ops.reshape(ops.cast(offsets, "float32"), (-1, out_h, out_w, og, taps, 2))
    g.mask = None
    if mask is not None:
        g.mask = ops.reshape(ops.cast(mask, "float32"), (-1, out_h, out_w, og, taps))
    g.rows = ops.reshape(ops.cast(ops.arange(out_h) * sh - pad_top, "float32"), (1, -1, 1, 1))
    g.cols = ops.reshape(ops.cast(ops.arange(out_w) * sw - pad_left, "float32"), (1, 1, -1, 1))
    g.height = ops.cast(height, "int32")
    g.width = ops.cast(width, "int32")
    if og > 1:
        flat = ops.transpose(ops.reshape(inputs, (-1, height, width, og, cg)), (0, 3, 1, 2, 4))
        g.flat = ops.reshape(flat, (-1, cg))
        base = ops.arange(batch, dtype="int32")[:, None] * og + ops.arange(og, dtype="int32")
        g.base = ops.reshape(base * (g.height * g.width), (-1, 1, 1, og))
    else:
        g.flat = ops.reshape(inputs, (-1, channels))
        g.base = ops.reshape(ops.arange(batch, dtype="int32") * (g.height * g.width), (-1, 1, 1, 1))
    return g


def deform_tap_corners(g: DeformGeometry, tap: int):
    """The four bilinear corners of kernel tap `tap` (row-major in the
    kernel): `(index, wy, wx, dwy, dwx)`, each flat of shape (B*H'*W'*og,)
    (row `((b*H' + i)*W' + j)*og + o`): int32 `index` into `g.flat` (clamped),
    float32 weights `wy`, `wx` (zero where the corner lies outside the input)
    and their derivatives by the sampling position (0 or +-1)."""
    dy, dx = deform_tap_position(g, tap)
    return deform_corners(g, g.off[:, :, :, :, tap, :], dy, dx)


def deform_tap_position(g: DeformGeometry, tap: int) -> tuple[float, float]:
    """The undeformed (row, col) displacement of kernel tap `tap`."""
    kw = g.kernel_size[1]
    dh, dw = g.dilation_rate
    return float((tap // kw) * dh), float((tap % kw) * dw)


def deform_corners(g: DeformGeometry, off, dy, dx):
    """`deform_tap_corners` for one tap given as its offsets `off` (B, H',
    W', og, 2) and its displacement `dy`, `dx` (Python or traced floats:
    a backend may loop over the taps)."""
    py = g.rows + dy + off[..., 0]
    px = g.cols + dx + off[..., 1]
    y0f = ops.floor(py)
    x0f = ops.floor(px)
    ly = py - y0f
    lx = px - x0f
    y0 = ops.cast(y0f, "int32")
    x0 = ops.cast(x0f, "int32")

    def axis_terms(start, frac, size):
        terms = []
        for delta, w, sign in ((0, 1.0 - frac, -1.0), (1, frac, 1.0)):
            pos = start + delta
            valid = ops.logical_and(pos >= 0, pos < size)
            terms.append(
                (ops.clip(pos, 0, size - 1), ops.where(valid, w, 0.0), ops.where(valid, sign, 0.0))
            )
        return terms

    corners = []
    for yi, wy, dwy in axis_terms(y0, ly, g.height):
        for xi, wx, dwx in axis_terms(x0, lx, g.width):
            index = g.base + yi * g.width + xi
            corners.append(tuple(ops.reshape(v, (-1,)) for v in (index, wy, wx, dwy, dwx)))
    return corners


def _tap_mask(g: DeformGeometry, tap: int):
    return None if g.mask is None else ops.reshape(g.mask[:, :, :, :, tap], (-1,))


def _tap_columns(g: DeformGeometry, corners, mask_t, dtype, take=None):
    """(B*H'*W'*og, C/og) bilinear samples of one tap (and the gathered
    corner rows, for the backward pass)."""
    take = take or (lambda rows, index: ops.take(rows, index, axis=0))
    columns, gathered = None, []
    for index, wy, wx, _, _ in corners:
        weight = wy * wx if mask_t is None else wy * wx * mask_t
        rows = take(g.flat, index)
        gathered.append(rows)
        term = rows * ops.cast(weight, dtype)[:, None]
        columns = term if columns is None else columns + term
    return columns, gathered


def _grouped_matmul(columns, kernel_t, groups: int):
    """`columns` (N, C) times `kernel_t` (C/groups, F), per group → (N, F)."""
    if groups == 1:
        return ops.matmul(columns, kernel_t)
    cin_g, filters = (int(d) for d in kernel_t.shape)
    cols = ops.reshape(columns, (-1, groups, cin_g))
    k = ops.reshape(kernel_t, (cin_g, groups, filters // groups))
    return ops.reshape(ops.einsum("ngc,cgf->ngf", cols, k), (-1, filters))


def _grouped_matmul_grads(columns, kernel_t, upstream, groups: int):
    """Gradients of `_grouped_matmul` w.r.t. `columns` and `kernel_t`."""
    if groups == 1:
        return (
            ops.matmul(upstream, ops.transpose(kernel_t)),
            ops.matmul(ops.transpose(columns), upstream),
        )
    cin_g, filters = (int(d) for d in kernel_t.shape)
    fg = filters // groups
    up = ops.reshape(upstream, (-1, groups, fg))
    k = ops.reshape(kernel_t, (cin_g, groups, fg))
    d_cols = ops.einsum("ngf,cgf->ngc", up, k)
    d_k = ops.einsum("ngc,ngf->cgf", ops.reshape(columns, (-1, groups, cin_g)), up)
    return ops.reshape(d_cols, (-1, groups * cin_g)), ops.reshape(d_k, (cin_g, filters))


def deform_tap_forward(g: DeformGeometry, corners, mask_t, kernel_t, groups: int, take=None):
    """One tap's share of the output, (B*H'*W', F): its bilinear samples
    (four corner gathers; `corners` from `deform_corners`, `mask_t` (N,) or
    None) times its kernel slice `kernel_t` (C/groups, F)."""
    columns, _ = _tap_columns(g, corners, mask_t, g.flat.dtype, take)
    channels = g.og * g.cg
    return _grouped_matmul(ops.reshape(columns, (-1, channels)), kernel_t, groups)


def deform_tap_backward(
    g: DeformGeometry, corners, mask_t, kernel_t, up, d_flat, groups: int, take, scatter_add
):
    """One tap's gradients for the output gradient `up` (B*H'*W', F):
    `(d_flat, d_off_t, d_kernel_t, d_mask_t)`, with the input gradient
    `d_flat` (rows of `g.flat`) accumulated by `scatter_add`, `d_off_t`
    (N, 2) [dy, dx] and `d_mask_t` (N,) (None without a mask).  The
    columns' gradient is `up @ kernel_tᵀ`; the input gradient scatter-adds
    it, weighted, to the four corners; the weights' gradients (hence the
    offsets' and the mask's) are its dot products with the gathered corner
    rows, which are gathered once and also serve the columns of the kernel
    gradient `columnsᵀ @ up`."""
    channels = g.og * g.cg
    columns, gathered = _tap_columns(g, corners, mask_t, g.flat.dtype, take)
    d_cols, d_k = _grouped_matmul_grads(ops.reshape(columns, (-1, channels)), kernel_t, up, groups)
    d_rows = ops.reshape(d_cols, (-1, g.cg))
    d_py = d_px = d_m = 0.0
    for (index, wy, wx, dwy, dwx), rows in zip(corners, gathered):
        # The corner's weight gradient: the row-wise dot product of the
        # columns' gradient with the corner's row.
        s = ops.sum(ops.cast(d_rows * rows, "float32"), axis=-1)
        m_s = s if mask_t is None else s * mask_t
        d_py = d_py + dwy * wx * m_s
        d_px = d_px + wy * dwx * m_s
        if mask_t is not None:
            d_m = d_m + wy * wx * s
        weight = wy * wx if mask_t is None else wy * wx * mask_t
        d_flat = scatter_add(d_flat, index, d_rows * ops.cast(weight, d_rows.dtype)[:, None])
    d_mask_t = None if mask_t is None else d_m
    return d_flat, ops.stack([d_py, d_px], axis=-1), d_k, d_mask_t


def deform_conv2d_forward(
    inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups, take=None
):
    """The computation of `deform_conv2d` (see there), one kernel tap at a
    time (`deform_tap_forward`): each tap's (B*H'*W', C) bilinear samples
    times that tap's kernel slice, accumulated.  Tap by tap, no intermediate
    is larger than 1/(kh*kw) of the im2col tensor (XLA then keeps every
    buffer small and each gather loop runs over whole C/og rows).  `take(rows,
    index)` overrides the row gather (a backend's in-bounds gather)."""
    kh, kw, cin_g, filters = (int(d) for d in kernel.shape)
    g = deform_geometry(inputs, offsets, mask, (kh, kw), strides, padding, dilation_rate)
    kernel_taps = ops.reshape(kernel, (kh * kw, cin_g, filters))
    out = None
    for tap in range(kh * kw):
        corners = deform_tap_corners(g, tap)
        term = deform_tap_forward(g, corners, _tap_mask(g, tap), kernel_taps[tap], groups, take)
        out = term if out is None else out + term
    return ops.reshape(out, (-1, g.out_h, g.out_w, filters))


def deform_default_scatter_add(g: DeformGeometry):
    """The generic `scatter_add(acc, index, values)` of the backward pass:
    `acc` plus the segment sums of `values` over the rows of `g.flat`."""
    num_rows = ops.shape(g.flat)[0]

    def scatter_add(acc, index, values):
        return acc + ops.segment_sum(values, index, num_segments=num_rows)

    return scatter_add


def deform_finish_gradients(
    g: DeformGeometry, inputs, offsets, kernel, mask, d_flat, d_off, d_kernel, d_mask
):
    """The gradients `(d_inputs, d_offsets, d_kernel, d_mask)` in the
    arguments' shapes and dtypes, from the input rows' gradient `d_flat` and
    the per-tap ones stacked on a leading taps axis: `d_off` (taps, N, 2),
    `d_kernel` (taps, C/groups, F), `d_mask` (taps, N) or None."""
    kh, kw, cin_g, filters = (int(d) for d in kernel.shape)
    taps = kh * kw
    channels = g.og * g.cg
    height, width = g.in_shape[1], g.in_shape[2]
    if g.og > 1:
        d_x = ops.reshape(d_flat, (-1, g.og, height, width, g.cg))
        d_x = ops.reshape(ops.transpose(d_x, (0, 2, 3, 1, 4)), (-1, height, width, channels))
    else:
        d_x = ops.reshape(d_flat, (-1, height, width, channels))
    # (taps, B*H'*W'*og, 2) -> (B, H', W', og, taps, 2)
    d_off = ops.transpose(ops.reshape(d_off, (taps, -1, 2)), (1, 0, 2))
    d_off = ops.reshape(d_off, ops.shape(offsets))
    d_kernel = ops.reshape(d_kernel, (kh, kw, cin_g, filters))
    if mask is not None:
        d_mask = ops.reshape(ops.transpose(ops.reshape(d_mask, (taps, -1))), ops.shape(mask))
        d_mask = ops.cast(d_mask, mask.dtype)
    else:
        d_mask = None
    return (
        ops.cast(d_x, inputs.dtype),
        ops.cast(d_off, offsets.dtype),
        ops.cast(d_kernel, kernel.dtype),
        d_mask,
    )


def deform_conv2d_backward(
    inputs,
    offsets,
    kernel,
    mask,
    upstream,
    strides,
    padding,
    dilation_rate,
    groups,
    take=None,
    scatter_add=None,
):
    """Gradients `(d_inputs, d_offsets, d_kernel, d_mask)` of
    `deform_conv2d_forward` for the output gradient `upstream` (B, H', W', F)
    (`d_mask` None without a mask), tap by tap (`deform_tap_backward`).
    `scatter_add(acc, index, values)` overrides the accumulation of `values`
    at rows `index` of the (B*og*H*W, C/og) input gradient `acc`, which
    starts as zeros (default: `deform_default_scatter_add`)."""
    kh, kw, cin_g, filters = (int(d) for d in kernel.shape)
    g = deform_geometry(inputs, offsets, mask, (kh, kw), strides, padding, dilation_rate)
    taps = kh * kw
    kernel_taps = ops.reshape(kernel, (taps, cin_g, filters))
    up = ops.reshape(ops.cast(upstream, inputs.dtype), (-1, filters))
    scatter_add = scatter_add or deform_default_scatter_add(g)
    d_flat = ops.zeros_like(g.flat)
    d_off, d_mask, d_kernel = [], [], []
    for tap in range(taps):
        corners = deform_tap_corners(g, tap)
        d_flat, d_off_t, d_k, d_m = deform_tap_backward(
            g, corners, _tap_mask(g, tap), kernel_taps[tap], up, d_flat, groups, take, scatter_add
        )
        d_off.append(d_off_t)
        d_kernel.append(d_k)
        d_mask.append(d_m)
    return deform_finish_gradients(
        g,
        inputs,
        offsets,
        kernel,
        mask,
        d_flat,
        ops.stack(d_off, axis=0),
        ops.stack(d_kernel, axis=0),
        None if mask is None else ops.stack(d_mask, axis=0),
    )


def deform_tap_plan(g: DeformGeometry, kernel, fold_weights: bool):
    """Every tap's four bilinear corners at once, for a loop over the taps
    (`deform_conv2d_forward_scan`): a list of four `(index, wy, wx, dwy,
    dwx)` (see `deform_corners`), each of shape (taps, N); the mask (taps,
    N) or None; the kernel slices (taps, C/groups, F).

    Computed before the loop, so that in XLA each gather reads a
    materialised index (fused into the gather, the index arithmetic, a
    dynamic slice of the offsets included, runs once per gathered element,
    not once per row: the JAX backward's gathers took ~1.4x longer).  With `fold_weights` (the forward pass) `wy` is the whole
    weight `wy * wx * mask`, and `wx`, the derivatives and the mask are None."""
    kh, kw, cin_g, filters = (int(d) for d in kernel.shape)
    taps = kh * kw
    off = ops.moveaxis(g.off, 4, 0)  # (taps, B, H', W', og, 2)
    pos = [deform_tap_position(g, t) for t in range(taps)]
    dy, dx = (
        ops.reshape(ops.convert_to_tensor([p[i] for p in pos], "float32"), (taps, 1, 1, 1, 1))
        for i in range(2)
    )
    mask = None if g.mask is None else ops.reshape(ops.moveaxis(g.mask, 4, 0), (taps, -1))
    plan = []
    for corner in deform_corners(g, off, dy, dx):
        index, wy, wx, dwy, dwx = (ops.reshape(v, (taps, -1)) for v in corner)
        if fold_weights:
            weight = wy * wx if mask is None else wy * wx * mask
            plan.append((index, weight, None, None, None))
        else:
            plan.append((index, wy, wx, dwy, dwx))
    return plan, None if fold_weights else mask, ops.reshape(kernel, (taps, cin_g, filters))


def deform_conv2d_forward_scan(
    inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups, scan, take=None
):
    """`deform_conv2d_forward` as a loop over the taps, `scan(body, init,
    xs) -> (carry, ys)` (`jax.lax.scan` semantics; None leaves allowed), on
    the precomputed `deform_tap_plan`.  For XLA: the loop keeps one tap's
    buffers alive, which the next tap reuses (the unrolled taps' buffers
    outgrow the size from which malloc maps fresh, page-faulting memory on
    every call), and each gather reads a materialised index."""
    kh, kw, _, filters = (int(d) for d in kernel.shape)
    g = deform_geometry(inputs, offsets, mask, (kh, kw), strides, padding, dilation_rate)
    plan, _, kernel_taps = deform_tap_plan(g, kernel, fold_weights=True)

    def body(out, xs):
        plan_t, kernel_t = xs
        corners = [(index, weight, 1.0, None, None) for index, weight, *_ in plan_t]
        return out + deform_tap_forward(g, corners, None, kernel_t, groups, take), None

    rows = ops.shape(plan[0][0])[1] // g.og
    out0 = ops.zeros((rows, filters), inputs.dtype)
    out, _ = scan(body, out0, (plan, kernel_taps))
    return ops.reshape(out, (-1, g.out_h, g.out_w, filters))


def deform_conv2d_backward_scan(
    inputs,
    offsets,
    kernel,
    mask,
    upstream,
    strides,
    padding,
    dilation_rate,
    groups,
    scan,
    take=None,
    scatter_add=None,
):
    """`deform_conv2d_backward` as a loop over the taps (see
    `deform_conv2d_forward_scan`), the input gradient the loop's carry."""
    kh, kw, _, filters = (int(d) for d in kernel.shape)
    g = deform_geometry(inputs, offsets, mask, (kh, kw), strides, padding, dilation_rate)
    plan, mask_taps, kernel_taps = deform_tap_plan(g, kernel, fold_weights=False)
    up = ops.reshape(ops.cast(upstream, inputs.dtype), (-1, filters))
    scatter_add = scatter_add or deform_default_scatter_add(g)

    def body(d_flat, xs):
        plan_t, mask_t, kernel_t = xs
        d_flat, d_off_t, d_k, d_m = deform_tap_backward(
            g, plan_t, mask_t, kernel_t, up, d_flat, groups, take, scatter_add
        )
        return d_flat, (d_off_t, d_k, d_m)

    d_flat, (d_off, d_kernel, d_mask) = scan(
        body, ops.zeros_like(g.flat), (plan, mask_taps, kernel_taps)
    )
    return deform_finish_gradients(
        g, inputs, offsets, kernel, mask, d_flat, d_off, d_kernel, d_mask
    )


@register_kernel
def deform_conv2d(inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups):
    """Deformable convolution (torchvision semantics), channels_last, no bias.

    Args:
        inputs: (B, H, W, C).
        offsets: (B, H', W', og*kh*kw*2), [offset group][kernel row][kernel
            col][dy, dx]; H', W' the Keras conv output size.
        kernel: (kh, kw, C/groups, F), same dtype as `inputs`.
        mask: (B, H', W', og*kh*kw) or None.
        strides, dilation_rate: pairs of ints; padding: "valid" or "same".
        groups: int.

    Returns:
        (B, H', W', F) in the dtype of `inputs`.

    Bilinear gathers (each out-of-range corner contributes zero) and one
    matmul per kernel tap (`deform_conv2d_forward`); the gradient is the
    backend's automatic one.  The fast paths of JAX and TensorFlow attach
    the hand-written backward as the gradient instead
    (`deform_conv2d_backward_scan` on JAX, `deform_conv2d_backward` on TF).
    """
    return deform_conv2d_forward(
        inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups
    )


# ---- equivariant (group convolution) kernels ----
@register_kernel
def group_kernel_expansion(kernel, indices):
    """Expands a group-convolution kernel with one gather.

    `kernel`: `(k, k, C_in, F)`; `indices`: int32 `(k, k, C_in, G)` rows of
    `reshape(kernel, (k * k * C_in, F))` (see
    `keras_cv_layers.utils.equivariance.expansion_indices`).  Returns the
    `(k, k, C_in, G * F)` kernel of the equivalent plain convolution, output
    axis group-major.
    """
    filters = kernel.shape[-1]
    rows = ops.reshape(kernel, (-1, filters))
    expanded = ops.take(rows, indices, axis=0)  # (k, k, C_in, G, F)
    shape = tuple(indices.shape)
    return ops.reshape(expanded, shape[:3] + (shape[3] * filters,))


# ---- pooling kernels ----
def _pool_spatial(x, data_format: str):
    """`(height, width, channels)` of a 4-D tensor (ints, or scalar tensors
    for sizes unknown when tracing)."""
    shape = ops.shape(x)
    if data_format == "channels_last":
        return shape[1], shape[2], shape[3]
    return shape[2], shape[3], shape[1]


def _same_pads(length, kernel: int, stride: int):
    from keras_cv_layers.utils.argument_validation import same_padding_amounts

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


@register_kernel
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


@register_kernel
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


# ---- blocks kernels ----
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


@register_kernel
def masked_softmax(logits, valid, axis: int):
    """Softmax of float32 `logits` over the `valid` (bool, broadcastable)
    entries of `axis`; invalid entries → exactly 0, rows without a valid
    entry → zeros (never inf/NaN, values or gradients)."""
    return _masked_softmax(logits, valid, axis)


@register_kernel
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


@register_kernel
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


@register_kernel
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
        rows = ops.expand_dims(ops.arange(b * b, dtype="int32") * k2, 1)
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


@register_kernel
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
