"""Blur2D: anti-aliasing binomial blur with subsampling (BlurPool)."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops.pooling import (
    blur_pool,
    check_blur_input,
    normalize_boundary,
    pooled_shape,
)
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


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
    zero-pads.  No trainable weights.  Computes `kcl.ops.blur_pool2d`.

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
        self.boundary = normalize_boundary(boundary, name)
        self.data_format = av.normalize_data_format(data_format, name)

    def _check_input(self, input_shape) -> tuple:
        """Checks rank, channels and window fit; returns the output shape."""
        input_shape = tuple(input_shape)
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        where = av.layer_owner(self)
        f, padding, boundary = self.filter_size, self.padding, self.boundary
        check_blur_input(input_shape, f, padding, boundary, self.data_format, where)
        return pooled_shape(
            input_shape, (f, f), self.strides, padding, self.data_format, where, "filter_size"
        )

    def build(self, input_shape):
        self._check_input(input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        self._check_input(inputs.shape)
        x = ops.cast(inputs, self.compute_dtype)
        return blur_pool(
            x, self.filter_size, self.strides, self.padding, self.boundary, self.data_format
        )

    def compute_output_shape(self, input_shape):
        return self._check_input(input_shape)

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
