"""Convolutional block attention module (CBAM)."""

from __future__ import annotations

import keras
from keras import initializers, ops, regularizers

from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.ops._operation import is_empty_batch
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class CBAM(keras.layers.Layer):
    """Convolutional block attention module (Woo et al., 2018,
    arXiv:1807.06521): a channel gate, then a spatial gate.

    Channel gate: `a = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`, the pools
    over the spatial axes, `MLP(p) = relu(p @ W1 + b1) @ W2 + b2` shared by
    both pools (so `b2` counts twice, as in the authors' code), with a
    hidden width of `max(1, C // ratio)`; `x1 = x * a`.

    Spatial gate: `s = sigmoid(conv2d([mean_c(x1), max_c(x1)], K) + b)`, the
    mean and max over the channel axis stacked in that order (the paper's
    `[AvgPool(F); MaxPool(F)]`) and convolved by one `kernel_size` filter
    with "same" zero padding and a bias; no BatchNormalization. Output
    `x1 * s`. Both gates lie in (0, 1), so `|outputs| <= |inputs|`.

    The pools and the MLP run in float32; the spatial convolution in the
    compute dtype.

    Args:
        ratio: number > 0, the channel reduction ratio of the MLP. Default 16.
        kernel_size: int or tuple of 2 ints, the spatial gate's kernel.
            Default 7.
        data_format: `"channels_last"`, `"channels_first"` or None
            (→ `keras.config.image_data_format()`).
        kernel_initializer: initializer of the three kernels. Default
            `"glorot_uniform"` (that of `keras.layers.Dense` and `Conv2D`).
        bias_initializer: initializer of the three biases. Default `"zeros"`.
        kernel_regularizer, bias_regularizer: as Keras, applied to the three
            kernels / biases.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Weights: `mlp_hidden_kernel` (C, h), `mlp_hidden_bias` (h,),
    `mlp_out_kernel` (h, C), `mlp_out_bias` (C,) with `h = max(1, C // ratio)`
    (the `Dense` layout); `spatial_kernel` (kh, kw, 2, 1) (the `Conv2D`
    layout, input channel 0 the mean map, 1 the max map; the authors'
    PyTorch `ChannelPool` stacks [max, mean], so a ported weight of shape
    (1, 2, kh, kw) is `transpose(w, (2, 3, 1, 0))[:, :, ::-1]`),
    `spatial_bias` (1,).

    Call arguments:
        inputs: `(batch, height, width, channels)` (channels_last) or
            `(batch, channels, height, width)` (channels_first).

    Returns:
        A tensor of the input's shape, in the compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> cbam = kcl.CBAM(ratio=4, kernel_size=3, data_format="channels_last")
    >>> tuple(cbam(np.ones((2, 5, 5, 8), "float32")).shape)
    (2, 5, 5, 8)
    >>> tuple(cbam.mlp_hidden_kernel.shape), tuple(cbam.spatial_kernel.shape)
    ((8, 2), (3, 3, 2, 1))
    """

    def __init__(
        self,
        ratio: float = 16,
        kernel_size=7,
        data_format: str | None = None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
            raise ValueError(f"{cls}: `ratio` must be a number > 0; received ratio={ratio!r}.")
        self.ratio = ratio
        self.kernel_size = av.normalize_tuple(kernel_size, 2, "kernel_size", layer_name=cls)
        self.data_format = av.normalize_data_format(data_format, cls)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._channel_axis = av.channel_axis(self.data_format)
        self._spatial_axes = (1, 2) if self.data_format == "channels_last" else (2, 3)

    def hidden_channels(self, channels: int) -> int:
        """Width of the MLP's hidden layer: `max(1, channels // ratio)`."""
        return max(1, int(channels // self.ratio))

    def _kernel(self, name: str, shape):
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def _bias(self, name: str, shape):
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
        )

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known channel "
                f"dimension; received input of shape {tuple(input_shape)}."
            )
        channels = int(channels)
        hidden = self.hidden_channels(channels)
        self.mlp_hidden_kernel = self._kernel("mlp_hidden_kernel", (channels, hidden))
        self.mlp_hidden_bias = self._bias("mlp_hidden_bias", (hidden,))
        self.mlp_out_kernel = self._kernel("mlp_out_kernel", (hidden, channels))
        self.mlp_out_bias = self._bias("mlp_out_bias", (channels,))
        self.spatial_kernel = self._kernel("spatial_kernel", (*self.kernel_size, 2, 1))
        self.spatial_bias = self._bias("spatial_bias", (1,))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    def _broadcast_channels(self, gate):
        """(B, C) → (B, 1, 1, C) or (B, C, 1, 1)."""
        if self.data_format == "channels_last":
            return ops.expand_dims(ops.expand_dims(gate, 1), 1)
        return ops.expand_dims(ops.expand_dims(gate, -1), -1)

    def _mlp(self, pooled):
        w1, b1, w2, b2 = (
            ops.cast(w, "float32")
            for w in (
                self.mlp_hidden_kernel,
                self.mlp_hidden_bias,
                self.mlp_out_kernel,
                self.mlp_out_bias,
            )
        )
        return ops.matmul(ops.relu(ops.matmul(pooled, w1) + b1), w2) + b2

    def call(self, inputs):
        if is_empty_batch(inputs):  # Keras' `ops.max` rejects an empty tensor
            return ops.zeros_like(inputs)
        x32 = ops.cast(inputs, "float32")
        avg = ops.mean(x32, axis=self._spatial_axes)
        mx = ops.max(x32, axis=self._spatial_axes)
        gate = ops.sigmoid(self._mlp(avg) + self._mlp(mx))
        x = inputs * ops.cast(self._broadcast_channels(gate), inputs.dtype)

        axis = self._channel_axis
        maps = ops.concatenate(
            [
                ops.cast(ops.mean(ops.cast(x, "float32"), axis=axis, keepdims=True), x.dtype),
                ops.max(x, axis=axis, keepdims=True),
            ],
            axis=axis,
        )
        logits = conv_ops.conv(
            maps,
            ops.cast(self.spatial_kernel, x.dtype),
            padding="same",
            data_format=self.data_format,
        )
        logits = conv_ops.bias_add(logits, self.spatial_bias, self.data_format)
        return x * ops.sigmoid(logits)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "kernel_size": self.kernel_size,
                "data_format": self.data_format,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
