"""AddCoords2D: append normalized coordinate channels (CoordConv)."""

from __future__ import annotations

import keras

from keras_cv_layers.ops.coords import add_coords
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class AddCoords2D(keras.layers.Layer):
    """Appends coordinate channels to a 2D feature map (Liu et al., 2018,
    "An intriguing failing of convolutional neural networks and the
    CoordConv solution", arXiv:1807.03247).

    The row coordinate then the column coordinate are appended, each spanning
    [-1, 1] over its axis (a size-1 axis gives 0); with `with_r` also the
    distance from the centre, `sqrt(yy**2 + xx**2)`. Works for unknown
    spatial size. Computes `kcl.ops.add_coords2d`.

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
        self.with_r = av.check_bool(with_r, "with_r", self.__class__.__name__)
        self.data_format = av.normalize_data_format(data_format, self.__class__.__name__)
        self.supports_masking = False

    @property
    def extra_channels(self) -> int:
        return 3 if self.with_r else 2

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))

    def call(self, inputs):
        return add_coords(inputs, self.with_r, self.data_format)

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
