"""Mobile inverted bottleneck block (MBConv) with squeeze-excitation."""

from __future__ import annotations

from keras_cv_layers.layers.blocks._efficientnet import (
    BN_EPSILON,
    BN_MOMENTUM,
    CONV_KERNEL_INITIALIZER,
    EfficientNetBlock,
)
from keras_cv_layers.layers.convolutional.depthwise_conv2d import DepthwiseConv2D
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

__all__ = ["BN_EPSILON", "BN_MOMENTUM", "CONV_KERNEL_INITIALIZER", "MBConv"]


@register
class MBConv(EfficientNetBlock):
    """Mobile inverted bottleneck block with squeeze-excitation, as the blocks
    of `keras.applications` EfficientNet (Tan & Le, 2019, arXiv:1905.11946;
    Sandler et al., 2018, arXiv:1801.04381).

    1×1 expansion to `C_in * expand_ratio` channels + BN + activation (skipped
    when `expand_ratio == 1`) → depthwise k×k (`strides`, `dilation_rate`,
    "same" padding) + BN + activation → squeeze-excitation on the expanded
    features with a bottleneck of `max(1, int(C_in * se_ratio))` channels
    (`se_ratio=0` disables it) → 1×1 projection to `filters` + BN. When
    `residual` and `strides == 1` and `C_in == filters`, the input is added
    back; with `drop_rate > 0` the projected branch is then dropped per
    example with probability `drop_rate` during training and the kept ones
    are scaled by `1 / (1 - drop_rate)` (stochastic depth, Huang et al.,
    2016, arXiv:1603.09382; `keras.applications`' `Dropout(noise_shape=(None,
    1, 1, 1))`); at inference the block is deterministic.

    Convolutions have no bias (the SE convolutions do) and use
    keras.applications' `VarianceScaling(2.0, "fan_out", "truncated_normal")`
    initializer; BatchNormalization has momentum 0.99 and epsilon 1e-3.
    "same" padding equals keras.applications' `correct_pad` + "valid" for
    strides 2, and also works for unknown spatial sizes.

    Args:
        filters: int, output channels.
        kernel_size: int or tuple of 2 ints, the depthwise kernel. Default 3.
        strides: int or tuple of 2 ints, the depthwise strides. Default 1.
        expand_ratio: positive int, the expansion factor. Default 6.
        se_ratio: float in [0, 1], squeeze-excitation ratio (relative to
            `C_in`); 0 disables squeeze-excitation. Default 0.25.
        activation: activation after the expansion, the depthwise conv and in
            the squeeze-excitation bottleneck. Default `"swish"`.
        drop_rate: float in [0, 1), stochastic depth rate of the residual
            branch. Default 0.
        residual: bool, whether to add the identity shortcut when shapes
            allow it. Default True.
        data_format: `"channels_last"`, `"channels_first"` or None.
        seed: optional int, seed of the stochastic depth noise.
        dilation_rate: int or tuple of 2 ints, the dilation of the depthwise
            convolution (atrous MBConv, as in DeepLab-style EfficientNet
            backbones). Default 1. `strides > 1` together with
            `dilation_rate > 1` is a `ValueError` (as for `DepthwiseConv2D`
            and `keras.layers.DepthwiseConv2D`). The output size does not
            depend on it ("same" padding).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Sublayers (weight paths `<name>/<sublayer>/<weight>`): `expand_conv`,
    `expand_bn` (when `expand_ratio > 1`), `dwconv`, `dw_bn`, `se`
    (an `SEBlock`, when `se_ratio > 0`), `project_conv`, `project_bn`.

    Call arguments:
        inputs: `(batch, height, width, channels)` (channels_last) or
            `(batch, channels, height, width)` (channels_first).
        training: bool, training mode (BatchNormalization statistics and
            stochastic depth).

    Returns:
        A tensor with `filters` channels and spatial size `ceil(size / strides)`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> block = kcl.MBConv(16, kernel_size=3, strides=2, data_format="channels_last")
    >>> tuple(block(np.ones((2, 9, 9, 8), "float32")).shape)
    (2, 5, 5, 16)
    >>> atrous = kcl.MBConv(8, dilation_rate=2, data_format="channels_last")
    >>> tuple(atrous(np.ones((2, 9, 9, 8), "float32")).shape)
    (2, 9, 9, 8)
    """

    bn_momentum = BN_MOMENTUM

    def __init__(
        self,
        filters: int,
        kernel_size=3,
        strides=1,
        expand_ratio: int = 6,
        se_ratio: float = 0.25,
        activation="swish",
        drop_rate: float = 0.0,
        residual: bool = True,
        data_format: str | None = None,
        seed: int | None = None,
        dilation_rate=1,
        **kwargs,
    ):
        super().__init__(
            filters,
            kernel_size=kernel_size,
            strides=strides,
            expand_ratio=expand_ratio,
            se_ratio=se_ratio,
            activation=activation,
            drop_rate=drop_rate,
            residual=residual,
            data_format=data_format,
            seed=seed,
            **kwargs,
        )
        cls = self.__class__.__name__
        self.dilation_rate = av.normalize_tuple(dilation_rate, 2, "dilation_rate", layer_name=cls)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{cls}: `strides` > 1 together with `dilation_rate` > 1 is not supported "
                f"(the depthwise convolution, as keras.layers.DepthwiseConv2D, rejects it); "
                f"received strides={self.strides}, dilation_rate={self.dilation_rate}."
            )

    def build(self, input_shape):
        channels = self._start_build(input_shape)
        shape = tuple(input_shape)
        if self.expand_ratio != 1:
            self.expand_conv, shape = self._conv(
                channels * self.expand_ratio, 1, 1, "expand_conv", shape
            )
            self.expand_bn = self._bn("expand_bn", shape)
        else:
            self.expand_conv = self.expand_bn = None
        self.dwconv = DepthwiseConv2D(
            self.kernel_size,
            strides=self.strides,
            dilation_rate=self.dilation_rate,
            name="dwconv",
            **self._conv_args(),
        )
        self.dwconv.build(shape)
        shape = self.dwconv.compute_output_shape(shape)
        self.dw_bn = self._bn("dw_bn", shape)
        self._build_se(shape)
        self.project_conv, shape = self._conv(self.filters, 1, 1, "project_conv", shape)
        self.project_bn = self._bn("project_bn", shape)
        self._finish_build()

    def call(self, inputs, training=None):
        self.compute_output_shape(inputs.shape)
        x = inputs
        if self.expand_conv is not None:
            x = self._bn_act(self.expand_conv(x), self.expand_bn, training)
        x = self._bn_act(self.dwconv(x), self.dw_bn, training)
        if self.se is not None:
            x = self.se(x)
        x = self.project_bn(self.project_conv(x), training=training)
        return self._add_shortcut(x, inputs, training)

    def get_config(self):
        config = super().get_config()
        config["dilation_rate"] = self.dilation_rate
        return config
