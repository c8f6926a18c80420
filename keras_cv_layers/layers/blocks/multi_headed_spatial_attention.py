"""Stand-alone local self-attention over k×k windows (multi-head)."""

from __future__ import annotations

import keras
from keras import initializers, ops, regularizers

from keras_cv_layers.ops import attention as attention_ops
from keras_cv_layers.ops._operation import is_empty_batch
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

    After the projections the layer is `kcl.ops.local_attention2d(q, k, v,
    kernel_size, heads, dilation_rate, logit_bias=g, key_position=p)`: both
    compute through `kcl.ops.attention.attend`.  Every intermediate tensor
    has at most `batch · H · W · k² · filters` elements; no per-pixel loops
    and no identity-kernel convolution (`keras.ops.image.extract_patches` is
    one, O(k⁴C²)). Two equivalent paths, chosen from the static sizes:

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
        self.use_bias = av.check_bool(use_bias, "use_bias", cls)
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
        self.compute_output_shape(input_shape)
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

    #: The route of `kcl.ops.attention.attend`: None (chosen from the sizes),
    #: "direct" or "blocked" (tests force one; both give the same numbers).
    _route = None

    # -------------------------------------------------------------- internals
    def _projections(self, inputs):
        """q, k, v split by heads: `(B, H, W, heads, d)` for channels_last,
        `(B, heads, d, H, W)` for channels_first."""
        g, d = self.heads, self.key_dim
        cg = self.input_channels // g
        shape = ops.shape(inputs)
        if self.data_format == "channels_last":
            x = ops.reshape(inputs, (-1, shape[1], shape[2], g, cg))
            equation, bias_shape = "byxgc,cgj->byxgj", (g, d)
        else:
            x = ops.reshape(inputs, (-1, g, cg, shape[2], shape[3]))
            equation, bias_shape = "bgcyx,cgj->bgjyx", (g, d, 1, 1)
        # One einsum for the three projections: kernels side by side, (cg, g, 3d).
        kernels = [
            ops.reshape(ops.cast(w, self.compute_dtype), (cg, g, d))
            for w in (self.query_kernel, self.key_kernel, self.value_kernel)
        ]
        qkv = ops.einsum(equation, x, ops.concatenate(kernels, axis=-1))
        # A split, not three slices: on TensorFlow each slice's gradient is
        # a zero-padded copy of the whole `qkv` (benchmarks/memory.py).
        q, k, v = ops.split(qkv, 3, axis=-1 if self.data_format == "channels_last" else 2)
        if self.use_bias:
            q = q + ops.reshape(ops.cast(self.query_bias, q.dtype), bias_shape)
            v = v + ops.reshape(ops.cast(self.value_bias, v.dtype), bias_shape)
        return q, k, v

    def relative_embeddings(self):
        """Learned `p` (heads, kh, kw, d): concat(rel_rows[:, i], rel_cols[:, j])."""
        kh, kw = self.kernel_size
        rows = ops.repeat(ops.cast(self.rel_rows, self.compute_dtype), kw, axis=1)
        cols = ops.tile(ops.cast(self.rel_cols, self.compute_dtype), (1, kh, 1))
        embeddings = ops.concatenate([rows, cols], axis=-1)  # (heads, kh*kw, d)
        return ops.reshape(embeddings, (self.heads, kh, kw, self.key_dim))

    # -------------------------------------------------------------------- call
    def call(self, inputs):
        output_shape = self.compute_output_shape(inputs.shape)  # empty spatial axis: ValueError
        if is_empty_batch(inputs):  # the blocked routes reshape by the batch
            return ops.zeros(output_shape, self.compute_dtype)
        q, k, v = self._projections(inputs)
        logit_bias = key_position = None
        if self.position == "gaussian":
            logit_bias = attention_ops.gaussian_logit_bias(self.kernel_size, self.dilation_rate)
        elif self.position == "learned":
            key_position = self.relative_embeddings()
        return attention_ops.attend(
            q,
            k,
            v,
            self.kernel_size,
            self.dilation_rate,
            logit_bias,
            key_position,
            self.data_format,
            route=self._route,
        )

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        # Stride 1, every window centred on its pixel: the output has the
        # input's size, which must not be zero.
        av.check_output_size(
            av.layer_owner(self),
            input_shape,
            av.spatial_dims(input_shape, self.data_format),
            kernel_size=self.kernel_size,
            dilation_rate=self.dilation_rate,
        )
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
