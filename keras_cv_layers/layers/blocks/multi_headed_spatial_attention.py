"""Stand-alone local self-attention over k×k windows (multi-head)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import initializers, ops, regularizers

from keras_cv_layers.ops import _attention_kernels as attention_ops
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

_POSITIONS = ("gaussian", "learned", None)


@register
class MultiHeadedSpatialAttention(keras.layers.Layer):
    """Stand-alone local self-attention (Ramachandran et al., 2019,
    "Stand-Alone Self-Attention in Vision Models", arXiv:1906.05909).

    Stride 1; the output has the input's spatial size and `filters` channels.
    Queries, keys and values are 1×1 convolutions grouped by `heads` (input
    channel group `h` feeds head `h`, as `keras.layers.Conv2D(filters, 1,
    groups=heads)`). With `d = filters // heads`, for each pixel `x` and head
    `h`, over the positions `y` of its k×k window (dilated by
    `dilation_rate`, offsets as the "same" padding of a k×k convolution):

        logit(x, y) = q_h(x) · (k_h(y) + p_h(y - x)) / sqrt(d)   [+ g(y - x)]
        a(x, ·)     = softmax over the window positions inside the image
        out_h(x)    = sum_y a(x, y) v_h(y)

    The logits are scaled by `1 / sqrt(d)` (as in `keras.layers.MultiHeadAttention`),
    which keeps them O(1) at initialisation. Window positions outside the
    image are excluded: their weight is exactly 0 and the softmax is
    normalised over the positions inside (the centre always is, so it never
    divides by 0). The softmax is computed in float32 and cast back.

    `position`:
        - `"gaussian"`: the fixed term `g(r) = exp(-|r|)`, `|r| = sqrt(ry**2 + rx**2)`
          with `r` the window offset in window steps (pixel offset divided by
          the dilation rate), added to the logits (a locality prior that
          weighs the softmax by `exp(exp(-|r|))`). Adding the scalar to every
          key channel instead would add `exp(-|r|) * sum(q)`, whose sign
          follows the query's channel sum, i.e. a prior that would as often
          push attention away from the centre; as a logit bias it always
          favours near positions. Not trainable.
        - `"learned"`: relative embeddings `p_h(r) = concat(rel_rows[h, i],
          rel_cols[h, j])` for window row `i` and column `j` (Ramachandran et
          al., 2019), each half `d / 2` wide, so `d` must be even.
        - `None`: no positional term.

    The key projection has no bias: a key bias adds the same `q · b` to every
    logit of a window, which the softmax removes (it would never be trained).

    Every intermediate tensor has at most `batch · H · W · k² · filters`
    elements; no per-pixel loops and no identity-kernel convolution
    (`keras.ops.image.extract_patches` is one, O(k⁴C²)). Two equivalent
    paths, chosen from the static sizes:

        - blocked (as HaloNet, Vaswani et al., 2021, arXiv:2103.12731): the
          image is cut into 4×4 query blocks, each attending by batched
          matmuls to the keys of its `(4 + (k - 1) · dilation)²` halo, masked
          to every query's own window; used when those logits
          (`heads · halo²` per pixel, image padded to whole blocks) and the
          key / value halos fit the budget above. About 10× fewer logits than global attention at
          32×32, k=7 (4×4 blocks: half the logits of 8×8 ones, measured
          faster on every backend; kernel `blocked_attention`; on PyTorch
          the halos are cut by `F.unfold` and attended by
          `F.scaled_dot_product_attention` with an additive mask, on
          TensorFlow cut by `tf.image.extract_patches` and attended by
          rank-4 matmuls around `tf.nn.softmax` with a constant mask).
        - direct: each pixel's k×k window of keys and values is gathered
          (zero padding + strided slices, `F.unfold` on PyTorch), `(B, heads,
          d, k², H, W)`, and reduced.

    Args:
        filters: int, output channels (and query/key channels); divisible by `heads`.
        kernel_size: int or tuple of 2 ints, the window size.
        heads: int, the number of heads; divides `filters` and the input channels.
        dilation_rate: int or tuple of 2 ints, the window dilation. Default 1.
        use_bias: bool, whether the query and value projections have biases.
        position: `"gaussian"` (default), `"learned"` or None (see above).
        kernel_initializer: initializer of the three projection kernels.
        bias_initializer: initializer of the biases.
        position_initializer: initializer of `rel_rows` / `rel_cols`.
        kernel_regularizer, bias_regularizer: optional regularizers.
        data_format: `"channels_last"`, `"channels_first"` or None.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Weights: `query_kernel`, `key_kernel`, `value_kernel` (1, 1, C / heads,
    filters); `query_bias`, `value_bias` (filters,) if `use_bias`;
    `rel_rows` (heads, kh, d / 2) and `rel_cols` (heads, kw, d / 2) if
    `position="learned"`.

    Call arguments:
        inputs: `(batch, height, width, channels)` (channels_last) or
            `(batch, channels, height, width)` (channels_first).

    Returns:
        A tensor `(batch, height, width, filters)` (or channels_first), in the
        compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> attn = kcl.MultiHeadedSpatialAttention(8, 3, heads=2, data_format="channels_last")
    >>> tuple(attn(np.ones((2, 6, 6, 4), "float32")).shape)
    (2, 6, 6, 8)
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        heads: int = 1,
        dilation_rate=1,
        use_bias: bool = True,
        position: str | None = "gaussian",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        position_initializer=None,
        kernel_regularizer=None,
        bias_regularizer=None,
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        self.filters = av.positive_int(filters, "filters", cls)
        self.kernel_size = av.normalize_tuple(kernel_size, 2, "kernel_size", layer_name=cls)
        self.heads = av.positive_int(heads, "heads", cls)
        self.dilation_rate = av.normalize_tuple(dilation_rate, 2, "dilation_rate", layer_name=cls)
        if self.filters % self.heads:
            raise ValueError(
                f"{cls}: `filters`={self.filters} must be divisible by `heads`={self.heads}."
            )
        if isinstance(position, str):
            position = position.lower()
        if position not in _POSITIONS:
            raise ValueError(
                f"{cls}: invalid `position`={position!r}; expected one of {_POSITIONS}."
            )
        self.key_dim = self.filters // self.heads
        if position == "learned" and self.key_dim % 2:
            raise ValueError(
                f"{cls}: `position`='learned' splits each head's channels (filters / heads "
                f"= {self.key_dim}) between row and column embeddings, so filters / heads "
                "must be even."
            )
        self.use_bias = bool(use_bias)
        self.position = position
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if position_initializer is None:
            position_initializer = initializers.RandomNormal(stddev=1.0)
        self.position_initializer = initializers.get(position_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.data_format = av.normalize_data_format(data_format, cls)
        self._channel_axis = av.channel_axis(self.data_format)
        # Window offsets (pixels) along each axis: those of a stride-1 "same"
        # convolution (the padding does not depend on the length at stride 1).
        self._offsets = []
        self._pads = []
        for k, d in zip(self.kernel_size, self.dilation_rate):
            before, after = av.same_padding_amounts(1, k, 1, d)
            self._pads.append((before, after))
            self._offsets.append([i * d - before for i in range(k)])

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known channel "
                f"dimension; received input of shape {tuple(input_shape)}."
            )
        channels = int(channels)
        if channels % self.heads:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}'): the input channels "
                f"({channels}) must be divisible by `heads`={self.heads}; received input "
                f"of shape {tuple(input_shape)}, expected "
                f"{av.spatial_description(2, self.data_format)}."
            )
        self.input_channels = channels
        kernel_shape = (1, 1, channels // self.heads, self.filters)
        for name in ("query", "key", "value"):
            setattr(
                self,
                f"{name}_kernel",
                self.add_weight(
                    name=f"{name}_kernel",
                    shape=kernel_shape,
                    initializer=self.kernel_initializer,
                    regularizer=self.kernel_regularizer,
                ),
            )
        if self.use_bias:
            self.query_bias = self.add_weight(
                name="query_bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
            self.value_bias = self.add_weight(
                name="value_bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        if self.position == "learned":
            half = self.key_dim // 2
            kh, kw = self.kernel_size
            self.rel_rows = self.add_weight(
                name="rel_rows", shape=(self.heads, kh, half), initializer=self.position_initializer
            )
            self.rel_cols = self.add_weight(
                name="rel_cols", shape=(self.heads, kw, half), initializer=self.position_initializer
            )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    #: Side of the query blocks of the blocked path (see `_blocked`): 4
    #: halves the logits of 8 (`(4 + k - 1)²` vs `(8 + k - 1)²` keys per
    #: 16 vs 64 queries) and measured faster on JAX, TensorFlow and PyTorch
    #: (benchmarks/blocks.py).
    BLOCK = 4

    # -------------------------------------------------------------- internals
    def _projections(self, inputs, layout: str):
        """q (scaled by 1/sqrt(d)), k, v, each in `layout`: `"bgjyx"`
        (B, heads, d, H, W) or `"bgyxj"` (B, heads, H, W, d)."""
        g, d = self.heads, self.key_dim
        cg = self.input_channels // g
        shape = ops.shape(inputs)
        if self.data_format == "channels_last":
            x = ops.reshape(inputs, (-1, shape[1], shape[2], g, cg))
            equation = f"byxgc,cgj->{layout}"
        else:
            x = ops.reshape(inputs, (-1, g, cg, shape[2], shape[3]))
            equation = f"bgcyx,cgj->{layout}"
        # One einsum for the three projections: kernels side by side, (cg, g, 3d).
        kernels = [
            ops.reshape(ops.cast(w, self.compute_dtype), (cg, g, d))
            for w in (self.query_kernel, self.key_kernel, self.value_kernel)
        ]
        qkv = ops.einsum(equation, x, ops.concatenate(kernels, axis=-1))
        if layout == "bgjyx":
            q, k, v = qkv[:, :, :d], qkv[:, :, d : 2 * d], qkv[:, :, 2 * d :]
        else:
            q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
        bias_shape = (g, d, 1, 1) if layout == "bgjyx" else (g, 1, 1, d)
        if self.use_bias:
            q = q + ops.reshape(ops.cast(self.query_bias, q.dtype), bias_shape)
            v = v + ops.reshape(ops.cast(self.value_bias, v.dtype), bias_shape)
        return q * ops.cast(1.0 / math.sqrt(d), q.dtype), k, v

    def gaussian_term(self) -> np.ndarray:
        """`exp(-|r|)` per window position (kh*kw,), r in window steps."""
        (kh, kw), (dy, dx) = self.kernel_size, self.dilation_rate
        ry = np.asarray(self._offsets[0], "float64") / dy
        rx = np.asarray(self._offsets[1], "float64") / dx
        dist = np.sqrt(ry[:, None] ** 2 + rx[None, :] ** 2)
        return np.exp(-dist).reshape(kh * kw)

    def relative_embeddings(self):
        """Learned `p` (heads, kh*kw, d): concat(rel_rows[:, i], rel_cols[:, j])."""
        kh, kw = self.kernel_size
        rows = ops.repeat(ops.cast(self.rel_rows, self.compute_dtype), kw, axis=1)
        cols = ops.tile(ops.cast(self.rel_cols, self.compute_dtype), (1, kh, 1))
        return ops.concatenate([rows, cols], axis=-1)

    @staticmethod
    def _masked_softmax(logits, valid, axis: int):
        """Softmax (float32) over the `valid` entries of `axis`; invalid → 0
        (see `ops._attention_kernels.masked_softmax`: no inf/NaN, a row
        without valid entries gives zeros)."""
        return attention_ops.masked_softmax(logits, valid, axis)

    @staticmethod
    def _axis_valid(length, offsets):
        """Bool `(len(offsets), length)`: `pos + offset` inside `[0, length)`."""
        pos = ops.convert_to_tensor(np.asarray(offsets, "int32")[:, None]) + ops.expand_dims(
            ops.arange(length, dtype="int32"), 0
        )
        return ops.logical_and(ops.greater_equal(pos, 0), ops.less(pos, length))

    # ---------------------------------------------------- direct (window) path
    def _direct(self, inputs):
        """Gathers each pixel's k×k window of keys and values: (B, g, d, k², H, W)."""
        (kh, kw), pads = self.kernel_size, tuple(self._pads)
        q, k, v = self._projections(inputs, "bgjyx")  # (B, g, d, H, W)
        shape = ops.shape(q)
        height, width = shape[3], shape[4]
        keys = attention_ops.local_windows2d(k, self.kernel_size, self.dilation_rate, pads)
        logits = ops.sum(ops.expand_dims(q, 3) * keys, axis=2)  # (B, g, k², H, W)
        if self.position == "learned":
            logits = logits + ops.einsum("bgjyx,goj->bgoyx", q, self.relative_embeddings())
        logits = ops.cast(logits, "float32")
        if self.position == "gaussian":
            term = self.gaussian_term().astype("float32")[:, None, None]
            logits = logits + ops.convert_to_tensor(term)
        rows = ops.repeat(self._axis_valid(height, self._offsets[0]), kw, axis=0)  # (k², H)
        cols = ops.tile(self._axis_valid(width, self._offsets[1]), (kh, 1))  # (k², W)
        valid = ops.logical_and(ops.expand_dims(rows, 2), ops.expand_dims(cols, 1))
        weights = ops.cast(self._masked_softmax(logits, valid, axis=2), v.dtype)
        values = attention_ops.local_windows2d(v, self.kernel_size, self.dilation_rate, pads)
        out = ops.sum(ops.expand_dims(weights, 2) * values, axis=3)  # (B, g, d, H, W)
        if self.data_format == "channels_first":
            return ops.reshape(out, (-1, self.filters, height, width))
        out = ops.transpose(out, (0, 3, 4, 1, 2))
        return ops.reshape(out, (-1, height, width, self.filters))

    # ---------------------------------------------------------- blocked path
    def _halo(self) -> tuple:
        """(halo_h, halo_w): keys seen by a BLOCK×BLOCK block of queries."""
        return tuple(self.BLOCK + (k - 1) * d for k, d in zip(self.kernel_size, self.dilation_rate))

    def _use_blocks(self, height, width) -> bool:
        """Blocked when its logits (heads·halo² per pixel, padded to whole
        blocks) and its key / value halos (filters·halo² per block, i.e.
        filters·halo² / BLOCK² per pixel) fit the B·H·W·k²·filters budget of
        the direct path."""
        halo_h, halo_w = self._halo()
        per_pixel = halo_h * halo_w * max(self.heads, self.filters / self.BLOCK**2)
        budget = self.kernel_size[0] * self.kernel_size[1] * self.filters
        if isinstance(height, int) and isinstance(width, int):
            b = self.BLOCK
            padded = (-(-height // b) * b) * (-(-width // b) * b)
            return per_pixel * padded <= budget * height * width
        return per_pixel <= budget

    def _block_maps(self):
        """Static (BLOCK², halo²) maps: in-window mask and window index."""
        b, (kh, kw), (dy, dx) = self.BLOCK, self.kernel_size, self.dilation_rate
        halo_h, halo_w = self._halo()
        uy, ux, wy, wx = np.meshgrid(
            np.arange(b), np.arange(b), np.arange(halo_h), np.arange(halo_w), indexing="ij"
        )
        ry, rx = wy - uy, wx - ux
        inside = (
            (ry >= 0)
            & (ry % dy == 0)
            & (ry // dy < kh)
            & (rx >= 0)
            & (rx % dx == 0)
            & (rx // dx < kw)
        )
        index = np.where(inside, (ry // dy) * kw + rx // dx, 0)
        shape = (b * b, halo_h * halo_w)
        return inside.reshape(shape), index.reshape(shape).astype("int32")

    def _blocked(self, inputs):
        """Blocked local attention (as HaloNet, Vaswani et al., 2021): each
        BLOCK×BLOCK block of queries attends, by batched matmuls, to the keys
        of its halo, masked to each query's own window."""
        b = self.BLOCK
        halo_h, halo_w = self._halo()
        (top, _), (left, _) = self._pads
        q, k, v = self._projections(inputs, "bgyxj")  # (B, g, H, W, d)
        shape = ops.shape(q)
        height, width = shape[2], shape[3]
        n_y, n_x = (height + b - 1) // b, (width + b - 1) // b
        inside, index = self._block_maps()
        bias = rel = None
        if self.position == "learned":
            rel = self.relative_embeddings()  # (g, k², d)
        elif self.position == "gaussian":
            term = np.where(inside, self.gaussian_term()[index], 0.0).astype("float32")
            bias = ops.convert_to_tensor(term)
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
        out = attention_ops.blocked_attention(
            q, k, v, valid, bias, rel, index, b, self._halo(), (top, left)
        )  # (B, g, H, W, d)
        if self.data_format == "channels_first":
            out = ops.transpose(out, (0, 1, 4, 2, 3))
            return ops.reshape(out, (-1, self.filters, height, width))
        out = ops.transpose(out, (0, 2, 3, 1, 4))
        return ops.reshape(out, (-1, height, width, self.filters))

    # -------------------------------------------------------------------- call
    def call(self, inputs):
        if self.data_format == "channels_last":
            height, width = inputs.shape[1], inputs.shape[2]
        else:
            height, width = inputs.shape[2], inputs.shape[3]
        if self._use_blocks(height, width):
            return self._blocked(inputs)
        return self._direct(inputs)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.data_format == "channels_last":
            return input_shape[:3] + (self.filters,)
        return (input_shape[0], self.filters) + input_shape[2:]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "heads": self.heads,
                "dilation_rate": self.dilation_rate,
                "use_bias": self.use_bias,
                "position": self.position,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "position_initializer": initializers.serialize(self.position_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "data_format": self.data_format,
            }
        )
        return config
