"""CoordConv2D: a Conv2D over the input with appended coordinate channels."""

from __future__ import annotations

from keras_cv_layers.layers.convolutional.base_conv import BaseConv
from keras_cv_layers.ops.coords import add_coords
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class CoordConv2D(BaseConv):
    """CoordConv (Liu et al., 2018, arXiv:1807.03247): `AddCoords2D` followed
    by a 2D convolution, in one layer (the coordinates of
    `kcl.ops.add_coords2d`).

    Args:
        filters, kernel_size: as `Conv2D`.
        with_r: bool, also append the radius channel. Default False.
        strides, padding, data_format, dilation_rate, groups, activation,
        use_bias (default True), initializers, regularizers, constraints,
        weightnorm, equalize, eps: as `keras_cv_layers.Conv2D`.

    Weights: `kernel` (kh, kw, C + 2 (+1 with r), filters), `bias`.

    Call arguments:
        inputs: `(batch, height, width, channels)` (or channels_first).

    Returns:
        The convolved tensor with `filters` channels.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.CoordConv2D(4, 3, with_r=True, data_format="channels_last")
    >>> _ = layer(np.zeros((1, 8, 8, 2), "float32"))
    >>> tuple(layer.kernel.shape)
    (3, 3, 5, 4)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        with_r: bool = False,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        super().__init__(
            rank=2,
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            **kwargs,
        )
        self.with_r = av.check_bool(with_r, "with_r", self.__class__.__name__)

    def kernel_input_channels(self, channels):
        return channels + (3 if self.with_r else 2)

    def call(self, inputs):
        self.check_output_size(inputs.shape)  # named with the user's shape
        return super().call(add_coords(inputs, self.with_r, self.data_format))

    def get_config(self):
        config = super().get_config()
        config["with_r"] = self.with_r
        return config
