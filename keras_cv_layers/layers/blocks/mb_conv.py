"""Mobile inverted bottleneck block (MBConv) with squeeze-excitation."""

from __future__ import annotations

import keras
from keras import activations

from keras_cv_layers.layers.blocks.se_block import SEBlock
from keras_cv_layers.layers.convolutional.conv2d import Conv2D
from keras_cv_layers.layers.convolutional.depthwise_conv2d import DepthwiseConv2D
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

#: keras.applications EfficientNet's kernel initializer of every convolution.
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3


@register
class MBConv(keras.layers.Layer):
    """Mobile inverted bottleneck block with squeeze-excitation, as the blocks
    of `keras.applications` EfficientNet (Tan & Le, 2019, arXiv:1905.11946;
    Sandler et al., 2018, arXiv:1801.04381).

    1×1 expansion to `C_in * expand_ratio` channels + BN + activation (skipped
    when `expand_ratio == 1`) → depthwise k×k (`strides`, "same" padding) + BN
    + activation → squeeze-excitation on the expanded features with a
    bottleneck of `max(1, int(C_in * se_ratio))` channels (`se_ratio=0`
    disables it) → 1×1 projection to `filters` + BN. When `residual` and
    `strides == 1` and `C_in == filters`, the input is added back; with
    `drop_rate > 0` the projected branch is then dropped per example with
    probability `drop_rate` during training and the kept ones are scaled by
    `1 / (1 - drop_rate)` (stochastic depth, Huang et al., 2016,
    arXiv:1603.09382; `keras.applications`' `Dropout(noise_shape=(None, 1, 1,
    1))`); at inference the block is deterministic.

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
    """

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        self.filters = av.positive_int(filters, "filters", cls)
        self.kernel_size = av.normalize_tuple(kernel_size, 2, "kernel_size", layer_name=cls)
        self.strides = av.normalize_tuple(strides, 2, "strides", layer_name=cls)
        self.expand_ratio = av.positive_int(expand_ratio, "expand_ratio", cls)
        if isinstance(se_ratio, bool) or not isinstance(se_ratio, (int, float)):
            raise ValueError(f"{cls}: `se_ratio` must be a float in [0, 1]; received {se_ratio!r}.")
        if not 0 <= se_ratio <= 1:
            raise ValueError(f"{cls}: `se_ratio` must be in [0, 1]; received se_ratio={se_ratio}.")
        if isinstance(drop_rate, bool) or not isinstance(drop_rate, (int, float)):
            raise ValueError(
                f"{cls}: `drop_rate` must be a float in [0, 1); received {drop_rate!r}."
            )
        if not 0 <= drop_rate < 1:
            raise ValueError(
                f"{cls}: `drop_rate` must be in [0, 1); received drop_rate={drop_rate}."
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"{cls}: `seed` must be an int or None; received {seed!r}.")
        self.se_ratio = float(se_ratio)
        self.activation = activations.get(activation)
        self.drop_rate = float(drop_rate)
        self.residual = av.check_bool(residual, "residual", cls)
        self.data_format = av.normalize_data_format(data_format, cls)
        self.seed = seed
        self._channel_axis = av.channel_axis(self.data_format)
        if self.drop_rate > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self._has_shortcut = False

    # ------------------------------------------------------------------ build
    def _conv_args(self) -> dict:
        return dict(
            use_bias=False,
            padding="same",
            data_format=self.data_format,
            kernel_initializer=CONV_KERNEL_INITIALIZER,
            dtype=self.dtype_policy,
        )

    def _bn(self, name: str) -> keras.layers.BatchNormalization:
        return keras.layers.BatchNormalization(
            axis=self._channel_axis,
            momentum=BN_MOMENTUM,
            epsilon=BN_EPSILON,
            name=name,
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known channel "
                f"dimension; received input of shape {tuple(input_shape)}."
            )
        channels = int(channels)
        self.compute_output_shape(input_shape)
        self.input_channels = channels
        expanded = channels * self.expand_ratio
        shape = tuple(input_shape)
        if self.expand_ratio != 1:
            self.expand_conv = Conv2D(expanded, 1, name="expand_conv", **self._conv_args())
            self.expand_conv.build(shape)
            shape = self.expand_conv.compute_output_shape(shape)
            self.expand_bn = self._bn("expand_bn")
            self.expand_bn.build(shape)
        else:
            self.expand_conv = self.expand_bn = None
        self.dwconv = DepthwiseConv2D(
            self.kernel_size, strides=self.strides, name="dwconv", **self._conv_args()
        )
        self.dwconv.build(shape)
        shape = self.dwconv.compute_output_shape(shape)
        self.dw_bn = self._bn("dw_bn")
        self.dw_bn.build(shape)
        if self.se_ratio > 0:
            self.se = SEBlock(
                activation=self.activation,
                squeeze_channels=max(1, int(channels * self.se_ratio)),
                kernel_initializer=CONV_KERNEL_INITIALIZER,
                data_format=self.data_format,
                name="se",
                dtype=self.dtype_policy,
            )
            self.se.build(shape)
        else:
            self.se = None
        self.project_conv = Conv2D(self.filters, 1, name="project_conv", **self._conv_args())
        self.project_conv.build(shape)
        shape = self.project_conv.compute_output_shape(shape)
        self.project_bn = self._bn("project_bn")
        self.project_bn.build(shape)
        self._has_shortcut = self.residual and self.strides == (1, 1) and channels == self.filters
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    @property
    def has_shortcut(self) -> bool:
        """Whether the block adds its input back (known once built)."""
        return self._has_shortcut

    # -------------------------------------------------------------------- call
    def _drop_path(self, x, training):
        if not training or self.drop_rate <= 0:
            return x
        return keras.random.dropout(
            x, self.drop_rate, noise_shape=(None, 1, 1, 1), seed=self.seed_generator
        )

    def call(self, inputs, training=None):
        self.compute_output_shape(inputs.shape)
        x = inputs
        if self.expand_conv is not None:
            x = self.activation(self.expand_bn(self.expand_conv(x), training=training))
        x = self.activation(self.dw_bn(self.dwconv(x), training=training))
        if self.se is not None:
            x = self.se(x)
        x = self.project_bn(self.project_conv(x), training=training)
        if self._has_shortcut:
            x = self._drop_path(x, training) + inputs
        return x

    def compute_output_shape(self, input_shape):
        return av.conv_output_shape(
            input_shape,
            self.filters,
            self.kernel_size,
            self.strides,
            "same",
            (1, 1),
            self.data_format,
            owner=av.layer_owner(self),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "expand_ratio": self.expand_ratio,
                "se_ratio": self.se_ratio,
                "activation": activations.serialize(self.activation),
                "drop_rate": self.drop_rate,
                "residual": self.residual,
                "data_format": self.data_format,
                "seed": self.seed,
            }
        )
        return config
