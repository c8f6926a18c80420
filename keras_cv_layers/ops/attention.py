"""Local (windowed) multi-head self-attention as a Keras operation:
`local_attention2d`, the attention of `kcl.MultiHeadedSpatialAttention`
after its projections.

`attend` is its computation on head-split tensors; the layer calls it too,
so the op and the layer are one implementation.  It chooses between two
equivalent routes from the static sizes (`use_blocks`): the direct one
gathers each pixel's window (`local_windows2d`), the blocked one attends
block by block to halos (`blocked_attention`, as HaloNet).  The math of
both is in `_attention_kernels`; the backend fast paths in
`backend_kernels/attention`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_cv_layers.ops import _attention_kernels as kernels
from keras_cv_layers.ops._operation import Operation, register_op, run, static_shape
from keras_cv_layers.utils import argument_validation as av

__all__ = ["local_attention2d"]

_NAME = "local_attention2d"

#: Side of the query blocks of the blocked route: 4 halves the logits of 8
#: (`(4 + k - 1)²` vs `(8 + k - 1)²` keys per 16 vs 64 queries) and measured
#: faster on JAX, TensorFlow and PyTorch (benchmarks/blocks.py).
BLOCK = 4

#: Dtypes in which `attend` computes in float32 (and casts the result back).
_REDUCED = ("float16", "bfloat16")


# ------------------------------------------------------------------ windows
def window_padding(kernel_size: tuple, dilation_rate: tuple) -> tuple:
    """`((top, bottom), (left, right))`: the "same" padding of a stride-1
    convolution with this kernel and dilation (the window of pixel `(y, x)`
    starts at `(y - top, x - left)`)."""
    return tuple(av.same_padding_amounts(1, k, 1, d) for k, d in zip(kernel_size, dilation_rate))


def window_offsets(kernel_size: tuple, dilation_rate: tuple) -> tuple:
    """Pixel offsets of the window positions along each axis:
    `(i * dy - top for i < kh)`, `(j * dx - left for j < kw)`."""
    pads = window_padding(kernel_size, dilation_rate)
    return tuple(
        tuple(i * d - before for i in range(k))
        for k, d, (before, _) in zip(kernel_size, dilation_rate, pads)
    )


def gaussian_logit_bias(kernel_size: tuple, dilation_rate: tuple) -> np.ndarray:
    """`exp(-|r|)` per window position, `(kh, kw)` float64, with `r` the
    offset in window steps (pixel offset / dilation rate): the "gaussian"
    position term of `kcl.MultiHeadedSpatialAttention`."""
    offsets = window_offsets(kernel_size, dilation_rate)
    ry = np.asarray(offsets[0], "float64") / dilation_rate[0]
    rx = np.asarray(offsets[1], "float64") / dilation_rate[1]
    return np.exp(-np.sqrt(ry[:, None] ** 2 + rx[None, :] ** 2))


def _axis_valid(length, offsets):
    """Bool `(len(offsets), length)`: `pos + offset` inside `[0, length)`."""
    pos = ops.convert_to_tensor(np.asarray(offsets, "int32")[:, None]) + ops.expand_dims(
        ops.arange(0, length, dtype="int32"), 0
    )
    return ops.logical_and(ops.greater_equal(pos, 0), ops.less(pos, length))


def _flat_bias(logit_bias, heads: int):
    """`logit_bias` `(kh, kw)` → `(kh*kw,)`, `(heads, kh, kw)` → `(heads,
    kh*kw)` (`(kh*kw,)` for one head); numpy stays numpy."""
    if logit_bias is None:
        return None
    per_head = len(logit_bias.shape) == 3 and heads > 1
    shape = (heads, -1) if per_head else (-1,)
    if isinstance(logit_bias, np.ndarray):
        return logit_bias.astype("float32").reshape(shape)
    return ops.reshape(ops.cast(logit_bias, "float32"), shape)


# ------------------------------------------------------------------- routes
def _direct(q, k, v, kernel_size, dilation_rate, bias, rel):
    """Each pixel's window of keys and values gathered: `q, k (B, g, d, H,
    W)`, `v (B, g, dv, H, W)` → `(B, g, dv, H, W)`; `bias` float32 `(K,)` or
    `(g, K)` (K = kh*kw) or None, `rel` `(g, K, d)` or None."""
    (kh, kw) = kernel_size
    pads = window_padding(kernel_size, dilation_rate)
    offsets = window_offsets(kernel_size, dilation_rate)
    shape = ops.shape(q)
    height, width = shape[3], shape[4]
    keys = kernels.local_windows2d(k, kernel_size, dilation_rate, pads)  # (B, g, d, K, H, W)
    logits = ops.sum(ops.expand_dims(q, 3) * keys, axis=2)  # (B, g, K, H, W)
    if rel is not None:
        logits = logits + ops.einsum("bgjyx,goj->bgoyx", q, rel)
    logits = ops.cast(logits, "float32")
    if bias is not None:
        bias = bias[..., None, None]
        logits = logits + (ops.convert_to_tensor(bias) if isinstance(bias, np.ndarray) else bias)
    rows = ops.repeat(_axis_valid(height, offsets[0]), kw, axis=0)  # (K, H)
    cols = ops.tile(_axis_valid(width, offsets[1]), (kh, 1))  # (K, W)
    valid = ops.logical_and(ops.expand_dims(rows, 2), ops.expand_dims(cols, 1))
    weights = ops.cast(kernels.masked_softmax(logits, valid, axis=2), v.dtype)
    values = kernels.local_windows2d(v, kernel_size, dilation_rate, pads)
    return ops.sum(ops.expand_dims(weights, 2) * values, axis=3)  # (B, g, dv, H, W)


def halo_size(kernel_size: tuple, dilation_rate: tuple) -> tuple:
    """`(halo_h, halo_w)`: the keys seen by a `BLOCK`×`BLOCK` block of queries."""
    return tuple(BLOCK + (k - 1) * d for k, d in zip(kernel_size, dilation_rate))


def block_maps(kernel_size: tuple, dilation_rate: tuple) -> tuple:
    """Static `(BLOCK², halo²)` maps of the blocked route: whether a halo key
    lies in the query's window (bool) and its window position (int32)."""
    (kh, kw), (dy, dx) = kernel_size, dilation_rate
    halo_h, halo_w = halo_size(kernel_size, dilation_rate)
    uy, ux, wy, wx = np.meshgrid(
        np.arange(BLOCK), np.arange(BLOCK), np.arange(halo_h), np.arange(halo_w), indexing="ij"
    )
    ry, rx = wy - uy, wx - ux
    inside = (
        (ry >= 0) & (ry % dy == 0) & (ry // dy < kh) & (rx >= 0) & (rx % dx == 0) & (rx // dx < kw)
    )
    index = np.where(inside, (ry // dy) * kw + rx // dx, 0)
    shape = (BLOCK * BLOCK, halo_h * halo_w)
    return inside.reshape(shape), index.reshape(shape).astype("int32")


def _blocked(q, k, v, kernel_size, dilation_rate, bias, rel):
    """Blocked local attention (as HaloNet): each `BLOCK`×`BLOCK` block of
    queries attends, by batched matmuls, to the keys of its halo, masked to
    each query's own window.  `q, k, v (B, g, H, W, d)` → `(B, g, H, W, d)`;
    `bias`, `rel` as `_direct`."""
    b = BLOCK
    halo_h, halo_w = halo = halo_size(kernel_size, dilation_rate)
    (top, _), (left, _) = window_padding(kernel_size, dilation_rate)
    shape = ops.shape(q)
    height, width = shape[2], shape[3]
    n_y, n_x = (height + b - 1) // b, (width + b - 1) // b
    inside, index = block_maps(kernel_size, dilation_rate)
    blocked = kernels.blocked_attention
    if bias is not None:
        # The window position's bias at every halo key (0 outside the window).
        if isinstance(bias, np.ndarray):
            bias = ops.convert_to_tensor(np.where(inside, bias[..., index], 0.0).astype("float32"))
        else:
            bias = ops.where(ops.convert_to_tensor(inside), ops.take(bias, index, axis=-1), 0.0)
        if len(bias.shape) == 3:
            # A bias per head, (g, 1, 1, BLOCK², halo²): the generic kernel
            # (the fast paths take one bias for all heads).
            bias = ops.expand_dims(ops.expand_dims(bias, 1), 1)
            blocked = kernels.blocked_attention.generic
    # Keys inside the image: (n_y, halo_h) rows, (n_x, halo_w) columns; a
    # numpy constant when the sizes are static (no per-call mask ops).
    static = isinstance(height, int) and isinstance(width, int)
    xp, const = (np, np.asarray) if static else (ops, ops.convert_to_tensor)
    ry = xp.expand_dims(xp.arange(n_y, dtype="int32") * b, 1) + const(
        (np.arange(halo_h) - top).astype("int32")[None, :]
    )
    rx = xp.expand_dims(xp.arange(n_x, dtype="int32") * b, 1) + const(
        (np.arange(halo_w) - left).astype("int32")[None, :]
    )
    row_ok = xp.logical_and(xp.greater_equal(ry, 0), xp.less(ry, height))
    col_ok = xp.logical_and(xp.greater_equal(rx, 0), xp.less(rx, width))
    row_ok = xp.repeat(row_ok, halo_w, axis=1)  # (n_y, halo²)
    col_ok = xp.tile(col_ok, (1, halo_h))  # (n_x, halo²)
    key_ok = xp.logical_and(xp.expand_dims(row_ok, 1), xp.expand_dims(col_ok, 0))
    valid = xp.logical_and(xp.expand_dims(key_ok, 2), const(inside))  # (n_y, n_x, b², halo²)
    # softmax(float32(q · (k + p)) + bias) over the valid keys, times v.
    return blocked(q, k, v, valid, bias, rel, index, b, halo, (top, left))


def use_blocks(height, width, kernel_size: tuple, dilation_rate: tuple, heads: int, channels):
    """Whether the blocked route is taken: when its logits (`heads · halo²`
    per pixel, the image padded to whole blocks) and its key / value halos
    (`channels · halo²` per block) fit the `H · W · kh·kw · channels` budget
    of the direct route (`channels`: heads · d)."""
    halo_h, halo_w = halo_size(kernel_size, dilation_rate)
    per_pixel = halo_h * halo_w * max(heads, channels / BLOCK**2)
    budget = kernel_size[0] * kernel_size[1] * channels
    if isinstance(height, int) and isinstance(width, int):
        padded = (-(-height // BLOCK) * BLOCK) * (-(-width // BLOCK) * BLOCK)
        return per_pixel * padded <= budget * height * width
    return per_pixel <= budget


def split_heads(x, heads: int, data_format: str):
    """`(B, H, W, heads·d)` → `(B, H, W, heads, d)`; channels_first
    `(B, heads·d, H, W)` → `(B, heads, d, H, W)` (reshapes, no copy)."""
    shape = ops.shape(x)
    if data_format == "channels_last":
        return ops.reshape(x, (-1, shape[1], shape[2], heads, int(x.shape[3]) // heads))
    return ops.reshape(x, (-1, heads, int(x.shape[1]) // heads, shape[2], shape[3]))


def attend(
    query,
    key,
    value,
    kernel_size: tuple,
    dilation_rate: tuple,
    logit_bias=None,
    key_position=None,
    data_format: str = "channels_last",
    route: str | None = None,
):
    """The computation of `local_attention2d` (`kcl.MultiHeadedSpatialAttention`
    calls it), on head-split tensors and normalized arguments.

    `query`, `key` `(B, H, W, heads, d)` (channels_last) or `(B, heads, d, H,
    W)` (channels_first), `value` the same with `dv`; `logit_bias` `(kh, kw)`
    or `(heads, kh, kw)` (numpy or tensor), `key_position` `(heads, kh, kw,
    d)`, or None.  `route`: `"direct"`, `"blocked"` or None (chosen by
    `use_blocks`; the blocked route needs `dv == d`).  Returns
    `(B, H, W, heads·dv)` (or channels_first) in the dtype of `value`.
    """
    (kh, kw) = kernel_size
    if data_format == "channels_last":
        _, height, width, heads, depth = query.shape
        depth_v = value.shape[4]
    else:
        _, heads, depth, height, width = query.shape
        depth_v = value.shape[2]
    heads, depth, depth_v = int(heads), int(depth), int(depth_v)
    if route is None:
        blocks = depth_v == depth and use_blocks(
            height, width, kernel_size, dilation_rate, heads, heads * depth
        )
        route = "blocked" if blocks else "direct"
    if route == "blocked" and depth_v != depth:
        raise ValueError(f"{_NAME}: the blocked route needs values as deep as the keys.")
    out_dtype = keras.backend.standardize_dtype(value.dtype)
    if out_dtype in _REDUCED:
        # float16 logits overflow (|q|, |k| ~ 300 suffice): the whole
        # attention runs in float32, the result is cast back.
        query, key, value = (ops.cast(t, "float32") for t in (query, key, value))
    query = query * ops.cast(1.0 / math.sqrt(depth), query.dtype)
    bias = _flat_bias(logit_bias, heads)
    rel = None
    if key_position is not None:
        rel = ops.reshape(ops.cast(key_position, query.dtype), (heads, kh * kw, depth))
    cl = data_format == "channels_last"
    if route == "blocked":
        perm = (0, 3, 1, 2, 4) if cl else (0, 1, 3, 4, 2)
        q, k, v = (ops.transpose(t, perm) for t in (query, key, value))  # (B, g, H, W, d)
        out = _blocked(q, k, v, kernel_size, dilation_rate, bias, rel)
        out = ops.transpose(out, (0, 2, 3, 1, 4) if cl else (0, 1, 4, 2, 3))
    else:
        if cl:  # (B, g, d, H, W)
            query, key, value = (ops.transpose(t, (0, 3, 4, 1, 2)) for t in (query, key, value))
        out = _direct(query, key, value, kernel_size, dilation_rate, bias, rel)
        if cl:
            out = ops.transpose(out, (0, 3, 4, 1, 2))
    out = ops.cast(out, out_dtype)
    shape = ops.shape(out)
    if cl:  # (B, H, W, g, dv)
        return ops.reshape(out, (-1, shape[1], shape[2], heads * depth_v))
    return ops.reshape(out, (-1, heads * depth_v, shape[3], shape[4]))  # (B, g, dv, H, W)


# ---------------------------------------------------------------- operation
def _describe(data_format: str, channels: str) -> str:
    return av.spatial_description(2, data_format, channels)


@register_op
class LocalAttention2D(Operation):
    """The operation of `local_attention2d`."""

    def __init__(
        self,
        kernel_size,
        heads: int = 1,
        dilation_rate=1,
        data_format: str | None = None,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.arguments = {
            "kernel_size": av.normalize_tuple(kernel_size, 2, "kernel_size", layer_name=_NAME),
            "heads": av.positive_int(heads, "heads", _NAME),
            "dilation_rate": av.normalize_tuple(
                dilation_rate, 2, "dilation_rate", layer_name=_NAME
            ),
            "data_format": av.normalize_data_format(data_format, _NAME),
        }

    def _check(self, query, key, value, logit_bias, key_position) -> tuple:
        """Validates the shapes; returns `(d, dv)`."""
        a = self.arguments
        heads, data_format, (kh, kw) = a["heads"], a["data_format"], a["kernel_size"]
        axis = av.channel_axis(data_format)

        def depth(name, shape, what):
            if len(shape) != 4 or shape[axis] is None or shape[axis] % heads:
                raise ValueError(
                    f"{_NAME}: `{name}` must have shape {_describe(data_format, what)} with a "
                    f"known channel count divisible by `heads`={heads}; received shape "
                    f"{tuple(shape)}."
                )
            return shape[axis] // heads

        q_shape, k_shape, v_shape = static_shape(query), static_shape(key), static_shape(value)
        d = depth("query", q_shape, "heads*d")
        depth("key", k_shape, "heads*d")
        dv = depth("value", v_shape, "heads*dv")
        spatial = [i for i in range(4) if i != axis % 4]

        def same(shape, dims) -> bool:
            return all(
                shape[i] is None or q_shape[i] is None or shape[i] == q_shape[i] for i in dims
            )

        if not same(k_shape, range(4)):
            raise ValueError(
                f"{_NAME}: `key` must have the shape of `query`, {q_shape}; received {k_shape}."
            )
        if not same(v_shape, spatial):
            raise ValueError(
                f"{_NAME}: `value` must have the batch and spatial sizes of `query` "
                f"{q_shape}, i.e. shape {_describe(data_format, 'heads*dv')}; received "
                f"{v_shape}."
            )
        if logit_bias is not None and tuple(logit_bias.shape) not in ((kh, kw), (heads, kh, kw)):
            raise ValueError(
                f"{_NAME}: `logit_bias` must have shape {(kh, kw)} or {(heads, kh, kw)} "
                f"(kernel_size, or heads and kernel_size); received {tuple(logit_bias.shape)}."
            )
        if key_position is not None and tuple(key_position.shape) != (heads, kh, kw, d):
            raise ValueError(
                f"{_NAME}: `key_position` must have shape {(heads, kh, kw, d)} "
                f"(heads, kernel_size, d); received {tuple(key_position.shape)}."
            )
        return d, dv

    def call(self, query, key, value, logit_bias=None, key_position=None):
        self._check(query, key, value, logit_bias, key_position)
        a = self.arguments
        heads, data_format = a["heads"], a["data_format"]
        return attend(
            split_heads(query, heads, data_format),
            split_heads(key, heads, data_format),
            split_heads(value, heads, data_format),
            a["kernel_size"],
            a["dilation_rate"],
            logit_bias,
            key_position,
            data_format,
        )

    def compute_output_spec(self, query, key, value, logit_bias=None, key_position=None):
        self._check(query, key, value, logit_bias, key_position)
        return keras.KerasTensor(value.shape, dtype=value.dtype)


def local_attention2d(
    query,
    key,
    value,
    kernel_size,
    heads: int = 1,
    dilation_rate=1,
    logit_bias=None,
    key_position=None,
    data_format: str | None = None,
):
    """Local multi-head self-attention over each pixel's k×k window.

    The attention of `kcl.MultiHeadedSpatialAttention` after its projections
    (stand-alone self-attention).  The channels of `query` and `key` are
    `heads` groups of `d`, those of `value` `heads` groups of `dv`.  For
    each pixel `x`, head `h` and window position `o = (i, j)` (`i < kh`,
    `j < kw`) at pixel `y = x + (i·dy - top, j·dx - left)` (the offsets of a
    stride-1 "same" convolution with this kernel and dilation: `top =
    ((kh - 1)·dy) // 2`, `left = ((kw - 1)·dx) // 2`):

        logit(x, o) = q_h(x) · (k_h(y) + key_position[h, i, j]) / sqrt(d)
                      + logit_bias[h, i, j]     (logit_bias[i, j] if shared)
        a(x, ·)     = softmax over the window positions o whose y lies inside the image
        out_h(x)    = sum_o a(x, o) v_h(y)

    Masking: window positions outside the image get weight exactly 0 and
    the softmax is normalised over those inside (the centre always is);
    the logits and the softmax are computed in float32 (the weights are cast
    to the dtype of `value` for the last sum; float16 and bfloat16 inputs
    are attended in float32 throughout, the result cast back), with no inf
    or NaN in values or gradients, whatever the logits.

    Two equivalent routes, chosen from the static sizes: blocked (HaloNet:
    `4×4` blocks of queries attend by batched matmuls to the keys of their
    halo, masked to each query's window) where its logits and halos take
    no more memory than the direct route, which gathers each pixel's window
    of keys and values (`(B, heads, d, kh·kw, H, W)`).

    Args:
        query: `(batch, height, width, heads*d)` (channels_last) or
            `(batch, heads*d, height, width)`.
        key: same shape as `query`.
        value: `(batch, height, width, heads*dv)` (or channels_first).
        kernel_size: int or tuple of 2 ints, the window size `(kh, kw)`.
        heads: int, the number of heads. Default 1.
        dilation_rate: int or tuple of 2 ints `(dy, dx)`. Default 1.
        logit_bias: None or a float tensor `(kh, kw)` (shared by the heads)
            or `(heads, kh, kw)` added to the logits (e.g. the "gaussian"
            locality prior `exp(-|r|)` of the layer).
        key_position: None or a float tensor `(heads, kh, kw, d)` added to
            the keys by window position (the "learned" relative embeddings
            of the layer: `q · p` is added to the logit).
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Returns:
        `(batch, height, width, heads*dv)` (or channels_first), in the dtype
        of `value`.

    Raises:
        ValueError: naming the argument, for inputs that are not 4-D with a
            channel count divisible by `heads`, a `key` not shaped like
            `query`, a `value` of other batch or spatial sizes, or a
            `logit_bias` / `key_position` of the wrong shape.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> rng = np.random.default_rng(0)
    >>> q, k, v = rng.normal(size=(3, 2, 5, 5, 8)).astype("float32")
    >>> y = kcl.ops.local_attention2d(q, k, v, 3, heads=2, data_format="channels_last")
    >>> tuple(y.shape)
    (2, 5, 5, 8)
    >>> # With equal keys, the corner pixel averages the 4 values of its
    >>> # window that lie inside the image.
    >>> y = kcl.ops.local_attention2d(q, np.zeros_like(k), v, 3, data_format="channels_last")
    >>> bool(np.allclose(np.asarray(y)[0, 0, 0], v[0, :2, :2].mean((0, 1)), atol=1e-6))
    True

    References: Ramachandran et al., "Stand-Alone Self-Attention in Vision
    Models" (2019), arXiv:1906.05909; Vaswani et al., "Scaling Local
    Self-Attention for Parameter Efficient Visual Backbones" (HaloNet, 2021),
    arXiv:2103.12731.
    """
    operation = LocalAttention2D(kernel_size, heads, dilation_rate, data_format)
    logit_bias, key_position = (
        np.asarray(t, "float32") if isinstance(t, (list, tuple, float, int)) else t
        for t in (logit_bias, key_position)
    )
    return run(operation, query, key, value, logit_bias, key_position)
