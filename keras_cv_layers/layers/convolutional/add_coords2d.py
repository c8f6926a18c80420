"""AddCoords2D: append normalized coordinate channels (CoordConv)."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


def _axis_coords(length, dtype):
    """`[-1, 1]` over `length` positions (0 for length 1); works for tensors."""
    idx = ops.cast(ops.arange(length), "float32")
    length = ops.cast(length, "float32")
    return ops.cast((2.0 * idx - (length - 1.0)) / ops.maximum(length - 1.0, 1.0), dtype)


def coordinate_channels(inputs, data_format: str, with_r: bool, dtype):
    """Coordinate channels (row, column[, radius]) shaped like `inputs`."""
    shape = ops.shape(inputs)
    if data_format == "channels_last":
        batch, height, width = shape[0], shape[1], shape[2]
    else:
        batch, height, width = shape[0], shape[2], shape[3]
    yy = ops.broadcast_to(ops.expand_dims(_axis_coords(height, dtype), 1), (height, width))
    xx = ops.broadcast_to(ops.expand_dims(_axis_coords(width, dtype), 0), (height, width))
    channels = [yy, xx]
    if with_r:
        channels.append(ops.sqrt(ops.square(yy) + ops.square(xx)))
    axis = -1 if data_format == "channels_last" else 0
    coords = ops.stack(channels, axis=axis)
    coords = ops.expand_dims(coords, 0)
    n = len(channels)
    target = (
        (batch, height, width, n) if data_format == "channels_last" else (batch, n, height, width)
    )
    return ops.broadcast_to(coords, target)


@register
class AddCoords2D(keras.layers.Layer):
    """Appends coordinate channels to a 2D feature map (Liu et al., 2018,
    "An intriguing failing of convolutional neural networks and the
    CoordConv solution", arXiv:1807.03247).

    The row coordinate then the column coordinate are appended, each spanning
    [-1, 1] over its axis (a size-1 axis gives 0); with `with_r` also the
    distance from the centre, `sqrt(yy**2 + xx**2)`. Works for unknown
    spatial size.

    Args:
        with_r: bool, also append the radius channel. Default False.
        data_format: `"channels_last"`, `"channels_first"` or None.

    Call arguments:
        inputs: `(batch, height, width, channels)` (or channels_first).

    Returns:
        The input with 2 (3 with `with_r`) more channels.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> y = kcl.AddCoords2D(data_format="channels_last")(np.zeros((1, 3, 3, 1)))
    >>> [float(v) for v in np.asarray(y)[0, :, 0, 1]]
    [-1.0, 0.0, 1.0]
    """

    def __init__(self, with_r: bool = False, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.with_r = bool(with_r)
        self.data_format = av.normalize_data_format(data_format, self.__class__.__name__)
        self.supports_masking = False

    @property
    def extra_channels(self) -> int:
        return 3 if self.with_r else 2

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))

    def call(self, inputs):
        coords = coordinate_channels(inputs, self.data_format, self.with_r, inputs.dtype)
        axis = av.channel_axis(self.data_format)
        return ops.concatenate([inputs, coords], axis=axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axis = av.channel_axis(self.data_format)
        if shape[axis] is not None:
            shape[axis] += self.extra_channels
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"with_r": self.with_r, "data_format": self.data_format})
        return config
