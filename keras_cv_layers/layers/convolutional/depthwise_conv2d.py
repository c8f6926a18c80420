"""Depthwise 2D convolution with optional weight normalization / equalized LR."""

from __future__ import annotations

from keras import initializers

from keras_cv_layers import initializers as kcl_initializers
from keras_cv_layers.layers.convolutional.base_conv import (
    BaseConvolution,
    WeightNormEqualizeMixin,
)
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

#: Keras' names of the depthwise kernel's arguments -> the package's names.
DEPTHWISE_ALIASES = {
    "depthwise_initializer": "kernel_initializer",
    "depthwise_regularizer": "kernel_regularizer",
    "depthwise_constraint": "kernel_constraint",
}


class BaseDepthwiseConv(BaseConvolution):
    """Abstract depthwise N-D convolution: `depth_multiplier` outputs per
    input channel, output channel `c * depth_multiplier + m` (Keras' order),
    kernel `(*kernel_size, in, depth_multiplier)`.

    The kernel's initializer, regularizer and constraint are the attributes
    `kernel_*` (as for every convolution of the package) and `depthwise_*`
    (Keras' names), and the config keys `depthwise_*`.  A
    `kcl.initializers.ConvHeNormal` / `ConvHeUniform` initializer is told
    that the kernel is depthwise (fan-in `prod(kernel_size)`):
    `kernel_initializer` is that depthwise copy, `depthwise_initializer` the
    initializer as given (what `get_config` reports).
    """

    def __init__(self, rank: int, kernel_size, *args, depth_multiplier: int = 1, **kwargs):
        super().__init__(rank, kernel_size, *args, **kwargs)
        self.depth_multiplier = av.positive_int(
            depth_multiplier, "depth_multiplier", self.__class__.__name__
        )
        self._in_channels = None
        # As given (reported by get_config), and the one that builds the kernel.
        self.depthwise_initializer = self.kernel_initializer
        self.kernel_initializer = kcl_initializers.for_depthwise_kernel(self.kernel_initializer)

    @property
    def depthwise_regularizer(self):
        """Keras' name of `kernel_regularizer`."""
        return self.kernel_regularizer

    @property
    def depthwise_constraint(self):
        """Keras' name of `kernel_constraint`."""
        return self.kernel_constraint

    def kernel_shape(self, in_channels):
        self._in_channels = in_channels
        return self.kernel_size + (in_channels, self.depth_multiplier)

    @property
    def output_channels(self):
        return self._in_channels * self.depth_multiplier

    def _output_channels_for(self, in_channels):
        return None if in_channels is None else in_channels * self.depth_multiplier

    @property
    def fan_in_axes(self) -> tuple:
        """The spatial axes: each output sees one input channel."""
        return tuple(range(self.rank))

    def convolution_op(self, inputs, kernel):
        return self.convolve(inputs, self._effective(kernel), depthwise=True)

    def get_config(self):
        config = super().get_config()
        config["depth_multiplier"] = self.depth_multiplier
        # Keras' spelling; `from_config` also takes old configs' `kernel_*`.
        for alias, name in DEPTHWISE_ALIASES.items():
            config[alias] = config.pop(name)
        config["depthwise_initializer"] = initializers.serialize(self.depthwise_initializer)
        return config


@register
class DepthwiseConv2D(WeightNormEqualizeMixin, BaseDepthwiseConv):
    """Depthwise 2D convolution, as `keras.layers.DepthwiseConv2D`, with
    weight normalization (Salimans & Kingma, 2016, arXiv:1602.07868) and
    equalized learning rate (Karras et al., 2018, arXiv:1710.10196).

    Args:
        kernel_size: int or tuple of 2 ints.
        strides: int or tuple of 2 ints. Default 1.
        padding: `"valid"` or `"same"`.
        depth_multiplier: int, output channels per input channel. Default 1.
        data_format: `"channels_last"`, `"channels_first"` or None.
        dilation_rate: int or tuple of 2 ints. Default 1.
        activation, use_bias (default False), bias_initializer,
        bias_regularizer, activity_regularizer, bias_constraint: as in Keras.
        kernel_initializer, kernel_regularizer, kernel_constraint: for the
            depthwise kernel (the weight `kernel`); also accepted under
            Keras' names `depthwise_initializer`, `depthwise_regularizer`,
            `depthwise_constraint` (the names `get_config` writes; giving
            both names of one argument is a `ValueError`).
            `kernel_initializer=None` (default) is `"glorot_uniform"`, or
            `kcl.initializers.NormalInit()` when `equalize=True`; a
            `kcl.initializers.ConvHeNormal` / `ConvHeUniform` uses the
            depthwise fan-in `kh * kw`.
        weightnorm: bool; the norm is taken per (input channel, multiplier)
            over the spatial axes and `wn_g` has shape
            `(in * depth_multiplier,)`, indexed `c * depth_multiplier + m`.
        equalize: bool; `k = kernel * sqrt(2 / (kh * kw))` (each output sees
            one input channel); the raw kernel defaults to unit variance
            (`NormalInit`).
        eps: float, the epsilon of weight normalization.

    Call arguments:
        inputs: `(batch, height, width, channels)` (or channels_first).

    Returns:
        Tensor with `channels * depth_multiplier` channels.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
    ...                             data_format="channels_last")
    >>> tuple(layer(np.ones((1, 8, 8, 4), "float32")).shape)
    (1, 8, 8, 8)
    """

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=False,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        weightnorm=False,
        equalize=False,
        eps=1e-6,
        *,
        depthwise_initializer=None,
        depthwise_regularizer=None,
        depthwise_constraint=None,
        **kwargs,
    ):
        kernel_args = av.resolve_aliases(
            {
                "kernel_initializer": kernel_initializer,
                "kernel_regularizer": kernel_regularizer,
                "kernel_constraint": kernel_constraint,
                "depthwise_initializer": depthwise_initializer,
                "depthwise_regularizer": depthwise_regularizer,
                "depthwise_constraint": depthwise_constraint,
            },
            DEPTHWISE_ALIASES,
            self.__class__.__name__,
        )
        super().__init__(
            2,
            kernel_size,
            strides=strides,
            padding=padding,
            depth_multiplier=depth_multiplier,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            bias_constraint=bias_constraint,
            weightnorm=weightnorm,
            equalize=equalize,
            eps=eps,
            **kernel_args,
            **kwargs,
        )
