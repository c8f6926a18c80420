"""Resize2D: serializable image resize to a fixed size."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


@register
class Resize2D(keras.layers.Layer):
    """Resizes a 2D feature map to `size` (a serializable replacement for a
    `Lambda` around `tf.image.resize`), with `keras.ops.image.resize`
    (half-pixel centres, no antialiasing).

    Args:
        size: int or tuple `(height, width)` of the output.
        interpolation: `"bilinear"` (default), `"nearest"` or `"bicubic"`.
        data_format: `"channels_last"`, `"channels_first"` or None.

    Call arguments:
        inputs: `(batch, height, width, channels)` (or channels_first); the
            input size may be unknown.

    Returns:
        Tensor of spatial size `size`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> y = kcl.Resize2D((4, 6), data_format="channels_last")(np.ones((1, 2, 3, 1)))
    >>> tuple(y.shape)
    (1, 4, 6, 1)
    """

    def __init__(
        self,
        size,
        interpolation: str = "bilinear",
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.size = av.normalize_tuple(size, 2, "size", layer_name="Resize2D")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"Resize2D: unknown `interpolation`={interpolation!r}; expected "
                f"one of {_INTERPOLATIONS}."
            )
        self.interpolation = interpolation
        self.data_format = av.normalize_data_format(data_format, "Resize2D")

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))

    def call(self, inputs):
        return ops.image.resize(
            inputs,
            self.size,
            interpolation=self.interpolation,
            data_format=self.data_format,
        )

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0], *self.size, input_shape[3])
        return (input_shape[0], input_shape[1], *self.size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "interpolation": self.interpolation,
                "data_format": self.data_format,
            }
        )
        return config
