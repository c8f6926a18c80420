"""Depthwise 2D convolution with optional weight normalization / equalized LR."""

from __future__ import annotations

from keras_cv_layers.layers.convolutional.base_conv import (
    BaseConvolution,
    WeightNormEqualizeMixin,
)
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


class BaseDepthwiseConv(BaseConvolution):
    """Abstract depthwise N-D convolution: `depth_multiplier` outputs per
    input channel, output channel `c * depth_multiplier + m` (Keras' order),
    kernel `(*kernel_size, in, depth_multiplier)`."""

    def __init__(self, rank: int, kernel_size, *args, depth_multiplier: int = 1, **kwargs):
        super().__init__(rank, kernel_size, *args, **kwargs)
        self.depth_multiplier = av.positive_int(
            depth_multiplier, "depth_multiplier", self.__class__.__name__
        )
        self._in_channels = None

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
        activation, use_bias (default False), kernel_initializer,
        bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: as in Keras
            (the depthwise kernel is the weight `kernel`).
        weightnorm: bool; the norm is taken per (input channel, multiplier)
            over the spatial axes and `wn_g` has shape
            `(in * depth_multiplier,)`, indexed `c * depth_multiplier + m`.
        equalize: bool; `k = kernel * sqrt(2 / (kh * kw))` (each output sees
            one input channel).
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
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        weightnorm=False,
        equalize=False,
        eps=1e-6,
        **kwargs,
    ):
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
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            weightnorm=weightnorm,
            equalize=equalize,
            eps=eps,
            **kwargs,
        )
