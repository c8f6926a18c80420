"""EfficientNetV2's fused mobile inverted bottleneck block (FusedMBConv)."""

from __future__ import annotations

from keras_cv_layers.layers.blocks._efficientnet import BN_MOMENTUM_V2, EfficientNetBlock
from keras_cv_layers.utils.serialization import register


@register
class FusedMBConv(EfficientNetBlock):
    """Fused mobile inverted bottleneck block of EfficientNetV2 (Tan & Le,
    2021, arXiv:2104.00298), as `keras.applications` EfficientNetV2's
    `FusedMBConvBlock`: MBConv's 1×1 expansion and depthwise k×k
    convolution fused into one regular k×k convolution.

    `expand_ratio > 1`: k×k convolution to `C_in * expand_ratio` channels
    (`strides`, "same") + BN + activation → squeeze-excitation on the
    expanded features with a bottleneck of `max(1, int(C_in * se_ratio))`
    channels (when `se_ratio > 0`) → 1×1 projection to `filters` + BN (no
    activation).

    `expand_ratio == 1`: squeeze-excitation on the input (when `se_ratio >
    0`) → a single k×k convolution to `filters` (`strides`, "same") + BN +
    activation.

    When `residual` and `strides == 1` and `C_in == filters`, the input is
    added back; with `drop_rate > 0` the block's branch is then dropped per
    example with probability `drop_rate` during training and the kept ones
    are scaled by `1 / (1 - drop_rate)` (stochastic depth, as `MBConv`); at
    inference the block is deterministic.

    Convolutions have no bias (the SE convolutions do) and use
    keras.applications' `VarianceScaling(2.0, "fan_out", "truncated_normal")`
    initializer; BatchNormalization has EfficientNetV2's momentum 0.9 and
    epsilon 1e-3.

    Args:
        filters: int, output channels.
        kernel_size: int or tuple of 2 ints, the fused (expansion) kernel.
            Default 3.
        strides: int or tuple of 2 ints, strides of the fused convolution.
            Default 1.
        expand_ratio: positive int, the expansion factor. Default 4.
        se_ratio: float in [0, 1], squeeze-excitation ratio (relative to
            `C_in`); 0 disables squeeze-excitation. Default 0 (as the
            fused stages of EfficientNetV2).
        activation: activation after the fused convolution and in the
            squeeze-excitation bottleneck. Default `"swish"`.
        drop_rate: float in [0, 1), stochastic depth rate of the residual
            branch. Default 0.
        residual: bool, whether to add the identity shortcut when shapes
            allow it. Default True.
        data_format: `"channels_last"`, `"channels_first"` or None.
        seed: optional int, seed of the stochastic depth noise.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Sublayers (weight paths `<name>/<sublayer>/<weight>`, named as in
    keras.applications): `expand_conv` (k×k) and `expand_bn` when
    `expand_ratio > 1`, `se` (an `SEBlock`, when `se_ratio > 0`),
    `project_conv` (1×1, or the single k×k convolution when
    `expand_ratio == 1`), `project_bn`.

    Call arguments:
        inputs: `(batch, height, width, channels)` (channels_last) or
            `(batch, channels, height, width)` (channels_first).
        training: bool, training mode (BatchNormalization statistics and
            stochastic depth).

    Returns:
        A tensor with `filters` channels and spatial size `ceil(size / strides)`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> block = kcl.FusedMBConv(16, strides=2, data_format="channels_last")
    >>> tuple(block(np.ones((2, 9, 9, 8), "float32")).shape)
    (2, 5, 5, 16)
    >>> tuple(block.expand_conv.kernel.shape), tuple(block.project_conv.kernel.shape)
    ((3, 3, 8, 32), (1, 1, 32, 16))
    """

    bn_momentum = BN_MOMENTUM_V2

    def __init__(
        self,
        filters: int,
        kernel_size=3,
        strides=1,
        expand_ratio: int = 4,
        se_ratio: float = 0.0,
        activation="swish",
        drop_rate: float = 0.0,
        residual: bool = True,
        data_format: str | None = None,
        seed: int | None = None,
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

    def build(self, input_shape):
        channels = self._start_build(input_shape)
        shape = tuple(input_shape)
        if self.expand_ratio != 1:
            self.expand_conv, shape = self._conv(
                channels * self.expand_ratio, self.kernel_size, self.strides, "expand_conv", shape
            )
            self.expand_bn = self._bn("expand_bn", shape)
            self._build_se(shape)
            self.project_conv, shape = self._conv(self.filters, 1, 1, "project_conv", shape)
        else:
            self.expand_conv = self.expand_bn = None
            self._build_se(shape)
            self.project_conv, shape = self._conv(
                self.filters, self.kernel_size, self.strides, "project_conv", shape
            )
        self.project_bn = self._bn("project_bn", shape)
        self._finish_build()

    def call(self, inputs, training=None):
        self.compute_output_shape(inputs.shape)
        x = inputs
        if self.expand_conv is not None:
            x = self._bn_act(self.expand_conv(x), self.expand_bn, training)
        if self.se is not None:
            x = self.se(x)
        x = self.project_bn(self.project_conv(x), training=training)
        if self.expand_conv is None:
            x = self.activation(x)
        return self._add_shortcut(x, inputs, training)
