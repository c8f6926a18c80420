"""Blur2D: anti-aliasing binomial blur with subsampling (BlurPool)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

_BOUNDARIES = ("normalize", "reflect", "zero")


def binomial_filter(filter_size: int) -> np.ndarray:
    """The normalized 2D binomial filter: outer product of a row of Pascal's
    triangle with itself, summing to 1 (float64 numpy)."""
    row = np.array([math.comb(filter_size - 1, k) for k in range(filter_size)], "float64")
    kernel = np.outer(row, row)
    return kernel / kernel.sum()


@register
class Blur2D(keras.layers.Layer):
    """Anti-aliased downsampling: a depthwise binomial blur followed by
    subsampling (BlurPool; Zhang, 2019, "Making Convolutional Networks
    Shift-Invariant Again", arXiv:1904.11486).

    The filter is the outer product of row `filter_size - 1` of Pascal's
    triangle with itself, normalized to sum 1 (`filter_size=3`:
    `[1, 2, 1] / 4` in each direction), applied to every channel.  Output
    sizes follow Keras pooling arithmetic (`ceil(n / strides)` for "same",
    `floor((n - filter_size) / strides) + 1` for "valid").

    With `padding="same"` the `boundary` decides what lies outside the image:
    `"normalize"` divides by the filter mass inside the image (as
    `AveragePooling2D` does, so a constant image stays constant),
    `"reflect"` reflect-pads `[(f - 1) // 2, f // 2]` (antialiased-cnns'
    behaviour; needs spatial sizes larger than that padding) and `"zero"`
    zero-pads.  No trainable weights.

    Args:
        filter_size: int >= 1. Default 3.
        strides: int or tuple of 2 ints. Default 2.
        padding: `"valid"` (default) or `"same"`.
        boundary: `"normalize"` (default), `"reflect"` or `"zero"`.
        data_format: `"channels_last"`, `"channels_first"` or None.

    Call arguments:
        inputs: `(batch, height, width, channels)` (or channels_first).

    Returns:
        The blurred, subsampled tensor (same channels).

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> y = kcl.Blur2D(3, strides=2, padding="same", data_format="channels_last")(
    ...     np.ones((1, 5, 5, 2), "float32"))
    >>> tuple(y.shape), float(np.asarray(y).min()), float(np.asarray(y).max())
    ((1, 3, 3, 2), 1.0, 1.0)
    """

    def __init__(
        self,
        filter_size: int = 3,
        strides=2,
        padding: str = "valid",
        boundary: str = "normalize",
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = self.__class__.__name__
        self.filter_size = av.positive_int(filter_size, "filter_size", layer_name=name)
        self.strides = av.normalize_tuple(strides, 2, "strides", layer_name=name)
        self.padding = av.normalize_padding(padding, layer_name=name)
        if not isinstance(boundary, str) or boundary.lower() not in _BOUNDARIES:
            raise ValueError(
                f"{name}: invalid `boundary`={boundary!r}; expected one of {_BOUNDARIES}."
            )
        self.boundary = boundary.lower()
        self.data_format = av.normalize_data_format(data_format, name)

    def _spatial(self, shape):
        return shape[1:3] if self.data_format == "channels_last" else shape[2:4]

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        channels = input_shape[av.channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known channel "
                f"count, i.e. input shape {av.spatial_description(2, self.data_format)}; "
                f"received input of shape {tuple(input_shape)}."
            )
        f = self.filter_size
        for size in self._spatial(input_shape):
            if size is None:
                continue
            if self.padding == "valid" and size < f:
                raise ValueError(
                    f"Layer {self.__class__.__name__} ('{self.name}') with "
                    f'padding="valid" expects spatial sizes >= filter_size={f}; '
                    f"received input of shape {tuple(input_shape)}."
                )
            if self.padding == "same" and self.boundary == "reflect" and size <= f // 2:
                raise ValueError(
                    f"Layer {self.__class__.__name__} ('{self.name}') with "
                    f'boundary="reflect" pads {[(f - 1) // 2, f // 2]} and so expects '
                    f"spatial sizes > {f // 2}; received input of shape {tuple(input_shape)}."
                )
        self._channels = int(channels)

    def _kernel(self, channels: int):
        kernel = binomial_filter(self.filter_size)[:, :, None, None]
        kernel = np.tile(kernel, (1, 1, channels, 1)).astype("float32")
        return ops.cast(ops.convert_to_tensor(kernel), self.compute_dtype)

    def _conv(self, x, kernel, padding: str):
        return conv_ops.depthwise_conv(
            x, kernel, strides=self.strides, padding=padding, data_format=self.data_format
        )

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        kernel = self._kernel(self._channels)
        if self.padding == "valid" or self.filter_size == 1:
            return self._conv(x, kernel, self.padding)
        f = self.filter_size
        if self.boundary == "reflect":
            pads = [[0, 0], [(f - 1) // 2, f // 2], [(f - 1) // 2, f // 2], [0, 0]]
            if self.data_format == "channels_first":
                pads = [pads[0], pads[3], pads[1], pads[2]]
            return self._conv(ops.pad(x, pads, mode="reflect"), kernel, "valid")
        y = self._conv(x, kernel, "same")
        if self.boundary == "zero":
            return y
        # Filter mass inside the image: the same conv of a one-channel ones
        # image (float32 so that the division is exact where the mass is 1).
        shape = ops.shape(x)
        if self.data_format == "channels_last":
            ones = ops.ones((1, shape[1], shape[2], 1), "float32")
        else:
            ones = ops.ones((1, 1, shape[2], shape[3]), "float32")
        single = ops.convert_to_tensor(binomial_filter(f)[:, :, None, None].astype("float32"))
        mass = conv_ops.depthwise_conv(
            ones, single, strides=self.strides, padding="same", data_format=self.data_format
        )
        return ops.cast(ops.cast(y, "float32") / mass, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis, s in zip(axes, self.strides):
            shape[axis] = av.conv_output_length(shape[axis], self.filter_size, s, self.padding)
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filter_size": self.filter_size,
                "strides": self.strides,
                "padding": self.padding,
                "boundary": self.boundary,
                "data_format": self.data_format,
            }
        )
        return config
