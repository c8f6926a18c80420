"""Squeeze-and-excitation block."""

from __future__ import annotations

import math

import keras
from keras import activations, initializers, ops

from keras_cv_layers.layers.convolutional.conv2d import Conv2D
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class SEBlock(keras.layers.Layer):
    """Squeeze-and-excitation block (Hu et al., 2018, arXiv:1709.01507).

    Global average pool → 1×1 conv to `ceil(C / ratio)` channels →
    `activation` → 1×1 conv back to `C` channels → sigmoid → `inputs * a`
    (the gate broadcast over the spatial axes). Both 1×1 convolutions have a
    bias. The spatial mean is computed in float32.

    Args:
        ratio: positive number, the channel reduction ratio. Default 16.
        activation: activation of the bottleneck. Default `"relu"`.
        squeeze_channels: optional int; when given, the bottleneck width
            (overrides `ratio`). `MBConv` uses it for EfficientNet's
            `max(1, int(C_in * se_ratio))` on its expanded features.
        kernel_initializer: initializer of both 1×1 kernels.
        data_format: `"channels_last"`, `"channels_first"` or None
            (→ `keras.config.image_data_format()`).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Weights: `reduce/kernel` (1, 1, C, squeeze), `reduce/bias` (squeeze,),
    `expand/kernel` (1, 1, squeeze, C), `expand/bias` (C,).

    Call arguments:
        inputs: `(batch, height, width, channels)` (channels_last) or
            `(batch, channels, height, width)` (channels_first).

    Returns:
        A tensor of the input's shape, in the compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> se = kcl.SEBlock(ratio=4, data_format="channels_last")
    >>> tuple(se(np.ones((2, 5, 5, 8), "float32")).shape)
    (2, 5, 5, 8)
    >>> tuple(se.reduce.kernel.shape)
    (1, 1, 8, 2)
    """

    def __init__(
        self,
        ratio: float = 16,
        activation="relu",
        squeeze_channels: int | None = None,
        kernel_initializer="glorot_uniform",
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
            raise ValueError(f"{cls}: `ratio` must be a number > 0; received ratio={ratio!r}.")
        if squeeze_channels is not None:
            squeeze_channels = av.positive_int(squeeze_channels, "squeeze_channels", cls)
        self.ratio = ratio
        self.activation = activations.get(activation)
        self.squeeze_channels = squeeze_channels
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.data_format = av.normalize_data_format(data_format, cls)
        self._channel_axis = av.channel_axis(self.data_format)
        self._spatial_axes = (1, 2) if self.data_format == "channels_last" else (2, 3)

    def bottleneck_channels(self, channels: int) -> int:
        """Width of the squeeze: `squeeze_channels` or `ceil(channels / ratio)`."""
        if self.squeeze_channels is not None:
            return self.squeeze_channels
        return max(1, math.ceil(channels / self.ratio))

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known channel "
                f"dimension; received input of shape {tuple(input_shape)}."
            )
        channels = int(channels)
        squeeze = self.bottleneck_channels(channels)
        common = dict(
            kernel_size=1,
            use_bias=True,
            kernel_initializer=initializers.get(initializers.serialize(self.kernel_initializer)),
            data_format=self.data_format,
            dtype=self.dtype_policy,
        )
        self.reduce = Conv2D(squeeze, activation=self.activation, name="reduce", **common)
        self.expand = Conv2D(channels, activation="sigmoid", name="expand", **common)
        pooled = [1, 1, 1, 1]
        pooled[0] = input_shape[0]
        pooled[self._channel_axis] = channels
        self.reduce.build(tuple(pooled))
        pooled[self._channel_axis] = squeeze
        self.expand.build(tuple(pooled))
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    def call(self, inputs):
        pooled = ops.mean(ops.cast(inputs, "float32"), axis=self._spatial_axes, keepdims=True)
        gate = self.expand(self.reduce(ops.cast(pooled, self.compute_dtype)))
        return inputs * ops.cast(gate, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "activation": activations.serialize(self.activation),
                "squeeze_channels": self.squeeze_channels,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "data_format": self.data_format,
            }
        )
        return config
