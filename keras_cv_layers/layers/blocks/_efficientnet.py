"""What `MBConv` and `FusedMBConv` share: argument checks, EfficientNet's
initializer and BatchNormalization constants, the squeeze-excitation and
projection sublayers, the residual rule and stochastic depth, `get_config`.

Private: the public classes are `kcl.MBConv` and `kcl.FusedMBConv`.
"""

from __future__ import annotations

import keras
from keras import activations

from keras_cv_layers.layers.blocks.se_block import SEBlock
from keras_cv_layers.layers.convolutional.conv2d import Conv2D
from keras_cv_layers.layers.regularization.stochastic_depth import drop_path
from keras_cv_layers.utils import argument_validation as av

#: keras.applications EfficientNet's (V1 and V2) kernel initializer of every convolution.
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
#: BatchNormalization momentum of keras.applications EfficientNet (V1) blocks.
BN_MOMENTUM = 0.99
#: BatchNormalization momentum of keras.applications EfficientNetV2 blocks.
BN_MOMENTUM_V2 = 0.9
#: BatchNormalization epsilon of both (Keras' default).
BN_EPSILON = 1e-3


class EfficientNetBlock(keras.layers.Layer):
    """Base of the inverted-bottleneck blocks (not registered, not public).

    Subclasses set `bn_momentum`, build their own front (the expansion and
    depthwise/fused convolutions) in `build` between `_start_build` and
    `_finish_build`, and compose the call from `_bn_act`, `self.se`,
    `_project` and `_add_shortcut`.
    """

    #: BatchNormalization momentum of the block's BN sublayers.
    bn_momentum: float = BN_MOMENTUM

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
        """Arguments of every convolution: no bias, "same", EfficientNet's init."""
        return dict(
            use_bias=False,
            padding="same",
            data_format=self.data_format,
            kernel_initializer=CONV_KERNEL_INITIALIZER,
            dtype=self.dtype_policy,
        )

    def _bn(self, name: str, shape) -> keras.layers.BatchNormalization:
        bn = keras.layers.BatchNormalization(
            axis=self._channel_axis,
            momentum=self.bn_momentum,
            epsilon=BN_EPSILON,
            name=name,
            dtype=self.dtype_policy,
        )
        bn.build(shape)
        return bn

    def _conv(self, filters: int, kernel_size, strides, name: str, shape):
        """A built `Conv2D` (no bias, "same"); returns it and its output shape."""
        conv = Conv2D(filters, kernel_size, strides=strides, name=name, **self._conv_args())
        conv.build(shape)
        return conv, conv.compute_output_shape(shape)

    def _start_build(self, input_shape) -> int:
        """Checks the input shape; returns the (known) input channel count."""
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known channel "
                f"dimension; received input of shape {tuple(input_shape)}."
            )
        self.compute_output_shape(input_shape)
        self.input_channels = int(channels)
        return self.input_channels

    def _build_se(self, shape) -> None:
        """`self.se`: an `SEBlock` over `shape` with EfficientNet's bottleneck
        `max(1, int(C_in * se_ratio))`, or None when `se_ratio == 0`."""
        if self.se_ratio > 0:
            self.se = SEBlock(
                activation=self.activation,
                squeeze_channels=max(1, int(self.input_channels * self.se_ratio)),
                kernel_initializer=CONV_KERNEL_INITIALIZER,
                data_format=self.data_format,
                name="se",
                dtype=self.dtype_policy,
            )
            self.se.build(shape)
        else:
            self.se = None

    def _finish_build(self) -> None:
        channels = self.input_channels
        self._has_shortcut = self.residual and self.strides == (1, 1) and channels == self.filters
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    @property
    def has_shortcut(self) -> bool:
        """Whether the block adds its input back (known once built)."""
        return self._has_shortcut

    # -------------------------------------------------------------------- call
    def _bn_act(self, x, bn, training):
        return self.activation(bn(x, training=training))

    def _drop_path(self, x, training):
        """Stochastic depth, the code of `kcl.StochasticDepth`."""
        if not training or self.drop_rate <= 0:
            return x
        return drop_path(x, self.drop_rate, seed=self.seed_generator, training=training)

    def _add_shortcut(self, x, inputs, training):
        """`drop_path(x) + inputs` when the block has its shortcut, else `x`."""
        if self._has_shortcut:
            return self._drop_path(x, training) + inputs
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
