"""1D convolution with optional weight normalization / equalized LR."""

from keras_cv_layers.layers.convolutional.base_conv import BaseConv
from keras_cv_layers.layers.convolutional.conv_docs import CONV_ARGS
from keras_cv_layers.utils.serialization import register


@register
class Conv1D(BaseConv):
    """1D convolution, as `keras.layers.Conv1D`, with weight normalization
    (Salimans & Kingma, 2016, arXiv:1602.07868) and equalized learning rate
    (Karras et al., 2018, arXiv:1710.10196).

    With `weightnorm=False` and `equalize=False` the output equals
    `keras.layers.Conv1D` with the same kernel and bias.

    Args:{args}
    Call arguments:
        inputs: tensor of shape `(batch, steps, channels)` (channels_last) or the
            channels_first equivalent.

    Returns:
        The convolved tensor, `filters` channels, in the compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.Conv1D(8, 3, padding="same", weightnorm=True,
    ...                    data_format="channels_last")
    >>> tuple(layer(np.ones((4, 16, 3), "float32")).shape)[-1]
    8
    """

    def __init__(self, filters, kernel_size, *args, **kwargs):
        # Arguments, order and defaults: `BaseConv` (those of keras.layers.Conv1D).
        super().__init__(1, filters, kernel_size, *args, **kwargs)


Conv1D.__doc__ = Conv1D.__doc__.replace("{args}", CONV_ARGS)
