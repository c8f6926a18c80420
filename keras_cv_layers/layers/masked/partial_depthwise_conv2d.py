"""Partial depthwise 2D convolution."""

from __future__ import annotations

import functools

from keras_cv_layers.layers.convolutional.depthwise_conv2d import DepthwiseConv2D
from keras_cv_layers.layers.masked.base_masked_conv import MaskedConvMixin
from keras_cv_layers.ops import masked as masked_ops
from keras_cv_layers.utils.serialization import register


@register
class PartialDepthwiseConv2D(MaskedConvMixin, DepthwiseConv2D):
    """Partial depthwise 2D convolution with mask propagation.

    The depthwise counterpart of `PartialConv2D` (Liu et al., 2018,
    arXiv:1804.07723): each output channel `c * depth_multiplier + m` sees one
    input channel `c`, so the normaliser is per channel:

        norm_c = depthwise_conv(mask_c, ones / window_size)
        y = activation(depthwise_conv(x * mask, kernel) / norm + bias)  where norm > eps
        y = 0                                                           where norm <= eps
        mask_out = float(norm > eps) if binary else norm

    A one-channel mask is broadcast over the channels.  Zero padding counts as
    invalid; values of `x` where the mask is 0 never change `y`.  The
    convolution (arguments, weights, weight normalization, equalized
    learning rate) is that of `keras_cv_layers.DepthwiseConv2D`; the functional
    form (without activation and kernel transforms) is
    `kcl.ops.partial_depthwise_conv2d`.

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
            depthwise kernel (the weight `kernel`), as in `DepthwiseConv2D`:
            also accepted under Keras' names `depthwise_initializer`,
            `depthwise_regularizer`, `depthwise_constraint` (the names
            `get_config` writes; giving both names of one argument is a
            `ValueError`); `kernel_initializer=None` (default) is
            `"glorot_uniform"`, or `kcl.initializers.NormalInit()` when
            `equalize=True`; a `kcl.initializers.ConvHeNormal` /
            `ConvHeUniform` uses the depthwise fan-in `kh * kw`.
        binary: bool. True: `mask_out = float(norm > eps)`; False:
            `mask_out = norm`. Default True.
        weightnorm: bool, weight normalization as in `DepthwiseConv2D`
            (weight `wn_g` of shape `(in * depth_multiplier,)`).
        equalize: bool, equalized learning rate `k * sqrt(2 / (kh * kw))`;
            the raw kernel defaults to unit variance (`NormalInit`).
        eps: float, the validity threshold of the normaliser and the
            epsilon of weight normalization. Default 1e-6.

    Call arguments:
        inputs: `x`, or `[x, mask]`. `x`: `(batch, height, width, channels)`
            (or channels_first); `mask`: same batch and spatial shape,
            `channels` or 1 channels, values in [0, 1]. Without a mask, an
            input value is valid where it is non-zero.

    Returns:
        `[y, mask_out]`, both with `channels * depth_multiplier` channels, in
        the compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.PartialDepthwiseConv2D(3, depth_multiplier=2, padding="same",
    ...                                    data_format="channels_last")
    >>> y, m = layer([np.ones((1, 8, 8, 4), "float32"), np.ones((1, 8, 8, 1), "float32")])
    >>> tuple(y.shape), tuple(m.shape)
    ((1, 8, 8, 8), (1, 8, 8, 8))
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
        binary=True,
        weightnorm=False,
        equalize=False,
        eps=1e-6,
        *,
        depthwise_initializer=None,
        depthwise_regularizer=None,
        depthwise_constraint=None,
        **kwargs,
    ):
        super().__init__(
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
            binary=binary,
            weightnorm=weightnorm,
            equalize=equalize,
            eps=eps,
            depthwise_initializer=depthwise_initializer,
            depthwise_regularizer=depthwise_regularizer,
            depthwise_constraint=depthwise_constraint,
            **kwargs,
        )

    def normalizer(self, mask):
        return masked_ops.depthwise_normalizer(
            mask,
            self.kernel_size,
            self.depth_multiplier,
            self._channel_axis,
            self.convolve,
            functools.partial(self.convolve, depthwise=True),
        )
