"""The reference math of `deform_conv2d`, in `keras.ops`: the kernel, tap
by tap, its hand-written backward, and the pieces the backend fast paths
reuse with their own loops, gathers and scatters (`backend_kernels/deformable`).

Layout: channels_last, no bias; `kcl.ops.deform_conv2d` handles the rest.
"""

from __future__ import annotations

from keras import ops
from keras.backend import standardize_dtype

from keras_cv_layers.backend_kernels import deformable as _fast
from keras_cv_layers.backend_kernels import with_fast_path
from keras_cv_layers.utils.argument_validation import same_padding_amounts
from keras_cv_layers.utils.numerics import batch_positions


def deform_pad_before(length, kernel: int, stride: int, dilation: int, padding: str):
    """Leading zero padding of one axis of a deformable convolution
    ("valid": 0; "same": the Keras/TF amount); shared by the fast paths."""
    if padding == "valid":
        return 0
    return same_padding_amounts(length, kernel, stride, dilation)[0]


class DeformGeometry:
    """What every tap of a deformable convolution shares (small tensors only).

    Built by `deform_geometry`.  Attributes: `flat` (B*og*H*W, C/og), the rows
    to gather from; `base` (B, 1, 1, og) int32, the first row of each (example,
    offset group); `rows` (1, H', 1, 1) and `cols` (1, 1, W', 1) float32, the
    undeformed top-left sampling positions; `off` (B, H', W', og, taps, 2)
    float32 offsets; `mask` (B, H', W', og, taps) float32 or None; the ints
    `og`, `cg`, `taps`, `kernel_size`, `dilation_rate`, `strides`; `pads`
    (top, left); `height`, `width` (int32 tensors or ints) and the shapes
    `in_shape`, `out_h`, `out_w`.  `deform_chunk_geometry` restricts it to
    a run of output pixels.
    """


def deform_geometry(inputs, offsets, mask, kernel_size, strides, padding, dilation_rate):
    """The `DeformGeometry` of one call (inputs (B, H, W, C); offsets (B, H',
    W', og*kh*kw*2) ordered [offset group][kernel row][kernel col][dy, dx];
    mask (B, H', W', og*kh*kw) or None)."""
    g = DeformGeometry()
    kh, kw = kernel_size
    sh, sw = strides
    dh, dw = dilation_rate
    g.kernel_size, g.dilation_rate, g.strides = (kh, kw), (dh, dw), (sh, sw)
    g.taps = taps = kh * kw
    g.in_shape = ops.shape(inputs)
    batch, height, width, channels = g.in_shape
    g.og = og = int(offsets.shape[-1]) // (2 * taps)
    g.cg = cg = int(channels) // og
    out_shape = ops.shape(offsets)
    g.out_h, g.out_w = out_h, out_w = out_shape[1], out_shape[2]
    pad_top = deform_pad_before(height, kh, sh, dh, padding)
    pad_left = deform_pad_before(width, kw, sw, dw, padding)
    g.pads = (pad_top, pad_left)
    g.off = ops.reshape(ops.cast(offsets, "float32"), (-1, out_h, out_w, og, taps, 2))
    g.mask = None
    if mask is not None:
        g.mask = ops.reshape(ops.cast(mask, "float32"), (-1, out_h, out_w, og, taps))
    g.rows = ops.reshape(ops.cast(ops.arange(0, out_h) * sh - pad_top, "float32"), (1, -1, 1, 1))
    g.cols = ops.reshape(ops.cast(ops.arange(0, out_w) * sw - pad_left, "float32"), (1, 1, -1, 1))
    g.height = ops.cast(height, "int32")
    g.width = ops.cast(width, "int32")
    if og > 1:
        flat = ops.transpose(ops.reshape(inputs, (-1, height, width, og, cg)), (0, 3, 1, 2, 4))
        g.flat = ops.reshape(flat, (-1, cg))
        base = batch_positions(inputs)[:, None] * og + ops.arange(0, og, dtype="int32")
        g.base = ops.reshape(base * (g.height * g.width), (-1, 1, 1, og))
    else:
        g.flat = ops.reshape(inputs, (-1, channels))
        g.base = ops.reshape(batch_positions(inputs) * (g.height * g.width), (-1, 1, 1, 1))
    return g


def deform_chunk_geometry(g: DeformGeometry, start, size):
    """`g` restricted to the `size` output pixels from flat pixel `start`
    (pixel `(b*H' + i)*W' + j`; `start` may be traced): `rows`, `cols`
    (size, 1) and `base` (size, og) per pixel, `off` (size, og, taps, 2),
    `mask` (size, og, taps) or None; the input rows `flat` and the rest
    shared.  Its plan (`deform_tap_plan`) has the rows of those pixels."""
    c = DeformGeometry()
    c.__dict__.update(g.__dict__)
    out_h, out_w = (ops.cast(n, "int32") for n in (g.out_h, g.out_w))
    pixel = start + ops.arange(0, size, dtype="int32")
    b = pixel // (out_h * out_w)
    i = (pixel // out_w) % out_h
    j = pixel % out_w
    (sh, sw), (pad_top, pad_left) = g.strides, g.pads
    c.rows = ops.cast(i * sh - pad_top, "float32")[:, None]
    c.cols = ops.cast(j * sw - pad_left, "float32")[:, None]
    image = g.height * g.width
    c.base = (b[:, None] * g.og + ops.arange(0, g.og, dtype="int32")[None, :]) * image
    off = ops.reshape(g.off, (-1, g.og, g.taps, 2))
    c.off = ops.slice(off, (start, 0, 0, 0), (size, g.og, g.taps, 2))
    if g.mask is not None:
        mask = ops.reshape(g.mask, (-1, g.og, g.taps))
        c.mask = ops.slice(mask, (start, 0, 0), (size, g.og, g.taps))
    return c


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


def sample_dtype(dtype) -> str:
    """The dtype of the bilinear weighting: float32 for float16 and
    bfloat16 inputs (the weights, and the gradients of the sampling
    positions, stay in float32), else `dtype`."""
    dtype = standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def _tap_columns(g: DeformGeometry, corners, mask_t, dtype, take=None):
    """(B*H'*W'*og, C/og) bilinear samples of one tap, in `dtype` (and the
    gathered corner rows, for the backward pass); weighted and summed in
    float32 when `dtype` is float16 or bfloat16."""
    take = take or (lambda rows, index: ops.take(rows, index, axis=0))
    work = sample_dtype(dtype)
    columns, gathered = None, []
    for index, wy, wx, _, _ in corners:
        weight = wy * wx if mask_t is None else wy * wx * mask_t
        rows = take(g.flat, index)
        gathered.append(rows)
        term = ops.cast(rows, work) * ops.cast(weight, work)[:, None]
        columns = term if columns is None else columns + term
    return ops.cast(columns, dtype), gathered


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
        s = ops.sum(ops.cast(d_rows, "float32") * ops.cast(rows, "float32"), axis=-1)
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
    g: DeformGeometry,
    inputs,
    offsets,
    kernel,
    mask,
    d_flat,
    d_off,
    d_kernel,
    d_mask,
    taps_first: bool = True,
):
    """The gradients `(d_inputs, d_offsets, d_kernel, d_mask)` in the
    arguments' shapes and dtypes, from the input rows' gradient `d_flat` and
    the per-tap ones stacked on a leading taps axis: `d_off` (taps, N, 2),
    `d_kernel` (taps, C/groups, F), `d_mask` (taps, N) or None (with
    `taps_first=False`, `d_off` and `d_mask` are already in the pixel-major
    order of `offsets` and `mask`)."""
    kh, kw, cin_g, filters = (int(d) for d in kernel.shape)
    taps = kh * kw
    channels = g.og * g.cg
    height, width = g.in_shape[1], g.in_shape[2]
    if g.og > 1:
        d_x = ops.reshape(d_flat, (-1, g.og, height, width, g.cg))
        d_x = ops.reshape(ops.transpose(d_x, (0, 2, 3, 1, 4)), (-1, height, width, channels))
    else:
        d_x = ops.reshape(d_flat, (-1, height, width, channels))
    if taps_first:  # (taps, B*H'*W'*og, 2) -> (B, H', W', og, taps, 2)
        d_off = ops.transpose(ops.reshape(d_off, (taps, -1, 2)), (1, 0, 2))
    d_off = ops.reshape(d_off, ops.shape(offsets))
    d_kernel = ops.reshape(d_kernel, (kh, kw, cin_g, filters))
    if mask is not None:
        if taps_first:
            d_mask = ops.transpose(ops.reshape(d_mask, (taps, -1)))
        d_mask = ops.cast(ops.reshape(d_mask, ops.shape(mask)), mask.dtype)
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
    off = ops.moveaxis(g.off, -2, 0)  # (taps, B, H', W', og, 2) or (taps, pixels, og, 2)
    pos = [deform_tap_position(g, t) for t in range(taps)]
    ones = (1,) * (len(off.shape) - 2)
    dy, dx = (
        ops.reshape(ops.convert_to_tensor([p[i] for p in pos], "float32"), (taps,) + ones)
        for i in range(2)
    )
    mask = None if g.mask is None else ops.reshape(ops.moveaxis(g.mask, -1, 0), (taps, -1))
    plan = []
    for corner in deform_corners(g, off, dy, dx):
        index, wy, wx, dwy, dwx = (ops.reshape(v, (taps, -1)) for v in corner)
        if fold_weights:
            weight = wy * wx if mask is None else wy * wx * mask
            plan.append((index, weight, None, None, None))
        else:
            plan.append((index, wy, wx, dwy, dwx))
    return plan, None if fold_weights else mask, ops.reshape(kernel, (taps, cin_g, filters))


def _forward_taps(g: DeformGeometry, kernel, groups: int, scan, take, dtype):
    """The output rows of geometry `g` (a whole call or a chunk), (rows, F):
    the taps as `scan` over the precomputed `deform_tap_plan`."""
    filters = int(kernel.shape[-1])
    plan, _, kernel_taps = deform_tap_plan(g, kernel, fold_weights=True)

    def body(out, xs):
        plan_t, kernel_t = xs
        corners = [(index, weight, 1.0, None, None) for index, weight, *_ in plan_t]
        return out + deform_tap_forward(g, corners, None, kernel_t, groups, take), None

    rows = ops.shape(plan[0][0])[1] // g.og
    out, _ = scan(body, ops.zeros((rows, filters), dtype), (plan, kernel_taps))
    return out


def _backward_taps(g: DeformGeometry, kernel, up, d_flat, groups: int, scan, take, scatter_add):
    """The gradients of the output rows of geometry `g` (a whole call or a
    chunk) for their output gradient `up` (rows, F): `d_flat` plus their
    input gradient, and the per-tap `d_off` (taps, N, 2), `d_kernel` (taps,
    C/groups, F), `d_mask` (taps, N) or None; the taps as `scan` over the
    precomputed `deform_tap_plan`, the input gradient its carry."""
    plan, mask_taps, kernel_taps = deform_tap_plan(g, kernel, fold_weights=False)

    def body(d_flat, xs):
        plan_t, mask_t, kernel_t = xs
        d_flat, d_off_t, d_k, d_m = deform_tap_backward(
            g, plan_t, mask_t, kernel_t, up, d_flat, groups, take, scatter_add
        )
        return d_flat, (d_off_t, d_k, d_m)

    d_flat, (d_off, d_kernel, d_mask) = scan(body, d_flat, (plan, mask_taps, kernel_taps))
    return d_flat, d_off, d_kernel, d_mask


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
    out = _forward_taps(g, kernel, groups, scan, take, inputs.dtype)
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
    up = ops.reshape(ops.cast(upstream, inputs.dtype), (-1, filters))
    scatter_add = scatter_add or deform_default_scatter_add(g)
    d_flat, d_off, d_kernel, d_mask = _backward_taps(
        g, kernel, up, ops.zeros_like(g.flat), groups, scan, take, scatter_add
    )
    return deform_finish_gradients(
        g, inputs, offsets, kernel, mask, d_flat, d_off, d_kernel, d_mask
    )


def _chunks(g: DeformGeometry, chunk_pixels: int):
    """`(pixels, size, count)`: the output pixels B*H'*W', the pixels per
    chunk (at most `chunk_pixels`) and the number of chunks.  Chunk `c`
    starts at `min(c * size, pixels - size)`: the last one overlaps its
    predecessor rather than running past the end (no padded copies)."""
    pixels = ops.shape(g.off)[0] * g.out_h * g.out_w
    if isinstance(pixels, int):
        size = min(int(chunk_pixels), pixels)
        return pixels, size, -(-pixels // size)
    pixels = ops.cast(pixels, "int32")
    size = ops.minimum(int(chunk_pixels), pixels)
    return pixels, size, (pixels + size - 1) // size


def deform_conv2d_forward_chunked(
    inputs,
    offsets,
    kernel,
    mask,
    strides,
    padding,
    dilation_rate,
    groups,
    scan,
    fori_loop,
    chunk_pixels: int,
    take=None,
):
    """`deform_conv2d_forward_scan` on chunks of at most `chunk_pixels`
    output pixels, one at a time (`fori_loop(lower, upper, body, init)`,
    `keras.ops.fori_loop` semantics; each chunk's plan computed in the loop,
    `deform_chunk_geometry`): no buffer is larger than a chunk's (a plan
    of every tap, and one tap's samples), whatever the image size, except
    the output.  Sizes may be dynamic (XLA: known when it compiles)."""
    kh, kw, _, filters = (int(d) for d in kernel.shape)
    g = deform_geometry(inputs, offsets, mask, (kh, kw), strides, padding, dilation_rate)
    pixels, size, count = _chunks(g, chunk_pixels)

    def body(c, out):
        start = ops.minimum(c * size, pixels - size)
        part = _forward_taps(
            deform_chunk_geometry(g, start, size), kernel, groups, scan, take, inputs.dtype
        )
        return ops.slice_update(out, (start, 0), part)

    out = fori_loop(0, count, body, ops.zeros((pixels, filters), inputs.dtype))
    return ops.reshape(out, (-1, g.out_h, g.out_w, filters))


def deform_conv2d_backward_chunked(
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
    fori_loop,
    chunk_pixels: int,
    take=None,
    scatter_add=None,
):
    """`deform_conv2d_backward_scan` on chunks of output pixels (see
    `deform_conv2d_forward_chunked`), the input, offset, kernel and mask
    gradients the chunk loop's carry.  Where the last chunk overlaps its
    predecessor, its output gradient is zeroed (nothing added twice) and the
    offset and mask gradients kept from the predecessor."""
    kh, kw, cin_g, filters = (int(d) for d in kernel.shape)
    g = deform_geometry(inputs, offsets, mask, (kh, kw), strides, padding, dilation_rate)
    taps, og = g.taps, g.og
    up = ops.reshape(ops.cast(upstream, inputs.dtype), (-1, filters))
    scatter_add = scatter_add or deform_default_scatter_add(g)
    pixels, size, count = _chunks(g, chunk_pixels)

    def per_pixel(v, *tail):  # (taps, size*og, *tail) -> (size, og, taps, *tail)
        v = ops.reshape(v, (taps, size, og) + tail)
        return ops.transpose(v, (1, 2, 0) + tuple(range(3, 3 + len(tail))))

    def body(c, carry):
        d_flat, d_kernel, d_off = carry[:3]
        start = ops.minimum(c * size, pixels - size)
        fresh = start + ops.arange(0, size, dtype="int32") >= c * size  # not done before
        up_c = ops.where(fresh[:, None], ops.slice(up, (start, 0), (size, filters)), 0.0)
        gc = deform_chunk_geometry(g, start, size)
        d_flat, d_off_c, d_k, d_m = _backward_taps(
            gc, kernel, up_c, d_flat, groups, scan, take, scatter_add
        )
        d_kernel = d_kernel + d_k
        old = ops.slice(d_off, (start, 0, 0, 0), (size, og, taps, 2))
        d_off_c = ops.where(fresh[:, None, None, None], per_pixel(d_off_c, 2), old)
        carry_out = [d_flat, d_kernel, ops.slice_update(d_off, (start, 0, 0, 0), d_off_c)]
        if mask is not None:
            d_mask = carry[3]
            old = ops.slice(d_mask, (start, 0, 0), (size, og, taps))
            d_m = ops.where(fresh[:, None, None], per_pixel(d_m), old)
            carry_out.append(ops.slice_update(d_mask, (start, 0, 0), d_m))
        return tuple(carry_out)

    init = [
        ops.zeros_like(g.flat),
        ops.zeros((taps, cin_g, filters), inputs.dtype),
        ops.zeros((pixels, og, taps, 2), "float32"),
    ]
    if mask is not None:
        init.append(ops.zeros((pixels, og, taps), "float32"))
    carry = fori_loop(0, count, body, tuple(init))
    d_flat, d_kernel, d_off = carry[:3]
    d_mask = carry[3] if mask is not None else None
    return deform_finish_gradients(
        g, inputs, offsets, kernel, mask, d_flat, d_off, d_kernel, d_mask, taps_first=False
    )


@with_fast_path(_fast.deform_conv2d)
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
    (`deform_conv2d_backward_scan` on JAX, `deform_conv2d_backward_chunked`
    on TF).  Under mixed precision the sampling (positions, bilinear
    weights, and the gradients of offsets and mask) is in float32.
    """
    return deform_conv2d_forward(
        inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups
    )
