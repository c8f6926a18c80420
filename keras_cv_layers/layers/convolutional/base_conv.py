"""The convolution class tree.

Modelled on `keras.layers.Conv*` (same arguments, same padding arithmetic and
output shapes)::

    BaseConvolution                       the arguments every convolution has
    ├── BaseGroupedConv                   + filters, groups         (WSConv*, SWSConv*)
    │   └── BaseConv                      + weightnorm, equalize    (Conv*, CoordConv2D, ...)
    ├── BaseDepthwiseConv                 + depth_multiplier
    │   └── DepthwiseConv2D               + weightnorm, equalize
    └── GroupConv2D                       + filters, group, weightnorm, equalize

`WeightNormEqualizeMixin` adds weight normalization and equalized learning
rate to the classes that take them; a class that does not take them has
neither the arguments nor the config keys.  Kernel transforms live in
`transform_kernel`, so the stored `kernel` variable is always the raw
parameter and a reloaded model is identical.
"""

from __future__ import annotations

import math

import keras
from keras import activations, constraints, initializers, ops, regularizers

from keras_cv_layers.initializers import NormalInit
from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.utils import argument_validation as av


class BaseConvolution(keras.layers.Layer):
    """Abstract N-D convolution (N = `rank`): the arguments, weights, call
    and config that every convolution of the package shares.

    Subclasses define the kernel (`kernel_shape`, `output_channels`,
    `_output_channels_for`), may change what the convolution does to its
    kernel by overriding `transform_kernel(kernel)` (float32 in, float32
    out), and may add weights in `build_kernel_weights()` (before the bias)
    and `build_extra_weights()` (after it).

    `kernel_initializer=None` (the default) means `default_kernel_initializer`,
    a keyword-only argument for subclasses: `"glorot_uniform"` (Keras'
    default), or `kcl.initializers.NormalInit()` from
    `WeightNormEqualizeMixin` when `equalize=True`.  The chosen initializer
    is what `get_config` reports, so a saved config (including one with an
    explicit `"glorot_uniform"`) reloads unchanged.
    """

    #: Whether `strides` > 1 together with `dilation_rate` > 1 is allowed
    #: (Keras' convolutions refuse it; the deformable op computes it).
    _allows_strided_dilation = False

    def __init__(
        self,
        rank: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        activation=None,
        use_bias: bool = False,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        *,
        eps: float = 1e-6,
        default_kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        cls = self.__class__.__name__
        self.rank = rank
        self.kernel_size = av.normalize_tuple(kernel_size, rank, "kernel_size", layer_name=cls)
        self.strides = av.normalize_tuple(strides, rank, "strides", layer_name=cls)
        allowed = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        self.padding = av.normalize_padding(padding, allowed, layer_name=cls)
        self.data_format = av.normalize_data_format(data_format, cls)
        self.dilation_rate = av.normalize_tuple(
            dilation_rate, rank, "dilation_rate", layer_name=cls
        )
        strided_dilation = max(self.strides) > 1 and max(self.dilation_rate) > 1
        if strided_dilation and not self._allows_strided_dilation:
            raise ValueError(
                f"{cls}: `strides` > 1 together with `dilation_rate` > 1 is not "
                f"supported (as in keras.layers.Conv{rank}D); received "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}."
            )
        self.activation = activations.get(activation)
        self.use_bias = av.check_bool(use_bias, "use_bias", cls)
        if kernel_initializer is None:
            kernel_initializer = default_kernel_initializer
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        # > 0: the weight transforms divide by sqrt(... + eps), and a zero
        # or constant kernel must not give 0 / 0.
        self.eps = av.check_float(eps, "eps", cls)
        self._channel_axis = av.channel_axis(self.data_format)

    # ------------------------------------------------------------------ build
    def _input_description(self) -> str:
        return av.spatial_description(self.rank, self.data_format)

    def _check_input_shape(self, input_shape) -> int:
        """Validates rank and returns the static channel count."""
        av.check_input_rank(self, input_shape, self.rank + 2, self._input_description())
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known "
                f"channel dimension; received input of shape {tuple(input_shape)}."
            )
        return int(channels)

    def kernel_input_channels(self, channels: int) -> int:
        """Channels the kernel sees (CoordConv adds its coordinate channels)."""
        return channels

    def kernel_shape(self, in_channels: int) -> tuple:
        """The shape of the `kernel` weight for `in_channels` input channels."""
        raise NotImplementedError

    @property
    def output_channels(self) -> int:
        """Output channels of the built layer (the size of `bias`)."""
        raise NotImplementedError

    def _output_channels_for(self, in_channels: int | None) -> int | None:
        """Output channels for an input with `in_channels` channels."""
        raise NotImplementedError

    def check_output_size(self, input_shape) -> None:
        """`ValueError` naming the layer when the window does not fit the
        input (a zero or negative output size): at build for symbolic input,
        at every call for eager input of another size."""
        self.compute_output_shape(tuple(input_shape))

    def build(self, input_shape):
        channels = self._check_input_shape(input_shape)
        self.check_output_size(input_shape)
        kernel_shape = self.kernel_shape(self.kernel_input_channels(channels))
        # Kernel-side variables are read in float32 (no autocast) so that the
        # weight transforms are computed in full precision under mixed
        # precision; the result is cast to the compute dtype.
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            autocast=False,
        )
        self.build_kernel_weights()
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.output_channels,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.build_extra_weights()
        self.input_spec = keras.layers.InputSpec(
            ndim=self.rank + 2, axes={self._channel_axis: channels}
        )

    def build_kernel_weights(self):
        """Hook for the weights of a kernel transform, after `kernel` and
        before `bias`."""

    def build_extra_weights(self):
        """Hook for subclasses that add weights after kernel and bias."""

    # -------------------------------------------------------- kernel transforms
    @property
    def fan_in_axes(self) -> tuple:
        """The kernel axes one output unit sums over: all but the last."""
        return tuple(range(self.rank + 1))

    @property
    def fan_in(self) -> int:
        """Inputs seen by one output unit (prod(kernel_size) * in / groups)."""
        return av.prod(self.kernel.shape[a] for a in self.fan_in_axes)

    def transform_kernel(self, kernel):
        """Effective kernel (float32 in, float32 out)."""
        return kernel

    def _effective(self, kernel):
        kernel = self.transform_kernel(ops.cast(kernel, "float32"))
        return ops.cast(kernel, self.compute_dtype)

    def effective_kernel(self):
        """The kernel actually convolved, in the layer's compute dtype."""
        return self._effective(self.kernel)

    # -------------------------------------------------------------------- call
    def _causal_pad(self, inputs):
        left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
        if self.data_format == "channels_last":
            pad = [[0, 0], [left, 0], [0, 0]]
        else:
            pad = [[0, 0], [0, 0], [left, 0]]
        return ops.pad(inputs, pad)

    def convolve(self, inputs, kernel, depthwise: bool = False):
        """`inputs` convolved with `kernel` as given (no transform), with the
        layer's strides, padding (`"causal"`: zeros on the left), dilation
        and data format; a depthwise convolution if `depthwise`."""
        padding = self.padding
        if padding == "causal":
            inputs = self._causal_pad(inputs)
            padding = "valid"
        conv = conv_ops.depthwise_conv if depthwise else conv_ops.conv
        return conv(
            inputs,
            kernel,
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def convolution_op(self, inputs, kernel):
        """Convolves `inputs` with the transform of the raw `kernel`."""
        return self.convolve(inputs, self._effective(kernel))

    def add_bias(self, outputs):
        return conv_ops.bias_add(outputs, self.bias, self.data_format)

    def call(self, inputs):
        self.check_output_size(inputs.shape)
        outputs = self.add_bias(self.convolution_op(inputs, self.kernel))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return av.conv_output_shape(
            input_shape,
            self._output_channels_for(input_shape[self._channel_axis]),
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.data_format,
            owner=av.layer_owner(self),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
                "eps": self.eps,
            }
        )
        return config


class WeightNormEqualizeMixin:
    """Adds the arguments `weightnorm` and `equalize` to a convolution (put
    it before the convolution base class).

    weightnorm: `k = kernel / sqrt(sum(kernel**2 over fan_in_axes) + eps) *
    wn_g`, with the weight `wn_g` (one gain per output channel, ones);
    equalize: `k = kernel * sqrt(2 / fan_in)`.  With `equalize=True` and no
    `kernel_initializer` (None), the kernel initializer is
    `kcl.initializers.NormalInit()`: the run-time scale is He's, so the raw
    weights must have unit variance (with `"glorot_uniform"` the effective
    weights would start a factor `sqrt(2 / (fan_in + fan_out))` below He's
    scale, ~1/17 for a 3x3x32->32 kernel).
    """

    def __init__(self, *args, weightnorm: bool = False, equalize: bool = False, **kwargs):
        cls = self.__class__.__name__
        weightnorm = av.check_bool(weightnorm, "weightnorm", cls)
        equalize = av.check_bool(equalize, "equalize", cls)
        if equalize:
            kwargs.setdefault("default_kernel_initializer", NormalInit())
        super().__init__(*args, **kwargs)
        if weightnorm and equalize:
            raise ValueError(f"{cls}: `weightnorm` and `equalize` cannot both be True.")
        self.weightnorm = weightnorm
        self.equalize = equalize

    def build_kernel_weights(self):
        super().build_kernel_weights()
        if self.weightnorm:
            self.wn_g = self.add_weight(
                name="wn_g",
                shape=(self.output_channels,),
                initializer="ones",
                autocast=False,
            )

    def transform_kernel(self, kernel):
        if self.weightnorm:
            axes = self.fan_in_axes
            # The gain at the kernel's output axes, e.g. (1, 1, C, M) for a
            # depthwise kernel: index c * M + m, Keras' output order.
            gain_shape = tuple(1 if i in axes else d for i, d in enumerate(kernel.shape))
            gain = ops.reshape(ops.cast(self.wn_g, "float32"), gain_shape)
            return conv_ops.normalize_kernel(kernel, gain, axes, self.eps)
        if self.equalize:
            return kernel * math.sqrt(2.0 / self.fan_in)
        return super().transform_kernel(kernel)

    def get_config(self):
        config = super().get_config()
        config.update({"weightnorm": self.weightnorm, "equalize": self.equalize})
        return config


class BaseGroupedConv(BaseConvolution):
    """Abstract convolution with `filters` outputs in `groups` channel groups
    (the arguments of `keras.layers.ConvND`), without kernel transforms."""

    def __init__(
        self,
        rank: int,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        *args,
        **kwargs,
    ):
        cls = self.__class__.__name__
        filters = av.positive_int(filters, "filters", cls)
        # `*args`: activation, use_bias, ... positionally, in Keras' order.
        super().__init__(
            rank, kernel_size, strides, padding, data_format, dilation_rate, *args, **kwargs
        )
        self.filters = filters
        self.groups = av.positive_int(groups, "groups", cls)
        if self.filters % self.groups:
            raise ValueError(
                f"{cls}: `filters`={self.filters} must be divisible by `groups`={self.groups}."
            )

    def kernel_shape(self, in_channels: int) -> tuple:
        if in_channels % self.groups:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}'): the input "
                f"channels ({in_channels}) must be divisible by `groups`="
                f"{self.groups}."
            )
        return self.kernel_size + (in_channels // self.groups, self.filters)

    @property
    def output_channels(self) -> int:
        return self.filters

    def _output_channels_for(self, in_channels):
        return self.filters

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "groups": self.groups})
        return config


class BaseConv(WeightNormEqualizeMixin, BaseGroupedConv):
    """Abstract N-D convolution (N = `rank`) with weight normalization and
    equalized learning rate; see `Conv2D` for the arguments.

    Arguments: `(rank, filters, kernel_size, strides=1, padding="valid",
    data_format=None, dilation_rate=1, groups=1, activation=None,
    use_bias=False, kernel_initializer=None,
    bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
    activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
    *, weightnorm=False, equalize=False, eps=1e-6, **kwargs)` (Keras'
    order up to `bias_constraint`); `kernel_initializer=None` is
    `"glorot_uniform"`, or `kcl.initializers.NormalInit()` when `equalize`.
    """
