"""Group-equivariant 2D convolution (p4 / p4m), Cohen & Welling 2016."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.layers.convolutional.base_conv import (
    BaseConvolution,
    WeightNormEqualizeMixin,
)
from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.ops import equivariant as equivariant_ops
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils import equivariance
from keras_cv_layers.utils.serialization import register


@register
class GroupConv2D(WeightNormEqualizeMixin, BaseConvolution):
    """Group-equivariant 2D convolution for the groups p4 (`"C4"`) and p4m (`"D4"`).

    A lifting layer (4-D input `(batch, H, W, C)`) or a group layer (5-D input
    `(batch, H, W, G, C)`, e.g. the output of another `GroupConv2D`) that
    returns a group feature map `(batch, H', W', G, filters)`; channels_first:
    `(batch, C, H, W)` / `(batch, G, C, H, W)` in, `(batch, G, filters, H', W')`
    out.  G = 4 for C4 (rotations by 90 degrees), 8 for D4 (rotations and
    mirrors).

    It is a `keras.layers.Conv2D` on the flattened, group-major input
    `(batch, H, W, G_in * C)` whose kernel is the *expanded* kernel
    `(k, k, G_in * C, G * filters)` (`expanded_kernel()`), built from the
    trainable `kernel` `(k, k, G_in * C, filters)` by one gather:
    output group `g` uses the kernel transformed by `g` (spatially, and with
    its input group axis permuted by `g`).  `to_conv2d()` exports that plain
    convolution for inference.
    `kcl.ops.group_conv2d_kernel` expands a raw kernel the same way.

    Group elements are numbered `g = m * 4 + i`: mirror the width axis if
    `m = 1`, then rotate by `i * 90` degrees counter-clockwise
    (`np.rot90(x, i, axes=(H, W))`); C4 uses `m = 0` only.

    Equivariance law (stride 1, `"same"` padding, exact up to rounding;
    `kcl.check_equivariance` measures it): rotating the input by 90 degrees
    counter-clockwise rotates the output likewise and moves group index
    `(m, i)` to `(m, (i + 1) % 4)`.  For C4:

        y(rot90(x))[..., (g + 1) % 4, :] == rot90(y(x)[..., g, :])

    i.e. the group axis is rolled by one (`np.roll(..., 1, axis=group_axis)`),
    in each mirror half for D4.  For D4, mirroring the input (reversing W)
    mirrors the output and moves `(m, i)` to `(1 - m, (-i) % 4)`:

        y(flip(x))[..., (1 - m) * 4 + (-i) % 4, :] == flip(y(x)[..., m * 4 + i, :])

    A 5-D input must transform the same way (as the output of a
    `GroupConv2D` of the same group does), so stacks of these layers are
    equivariant, and reducing the group axis (`GroupPooling2D`) gives
    invariant maps: `max_g y(rot90(x)) == rot90(max_g y(x))`.

    Reference: Cohen & Welling, "Group Equivariant Convolutional Networks",
    ICML 2016 (arXiv:1602.07576).

    Args:
        filters: int, output channels per group element.
        kernel_size: odd int (or a tuple of two equal odd ints), the square
            window size.
        group: `"C4"` or `"D4"`. Default `"D4"`.
        strides, padding, dilation_rate, data_format, activation, use_bias,
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint: as in `keras.layers.Conv2D` (applied to the flattened
            group-major input); `use_bias` defaults to False.  The bias
            `(filters,)` is shared by all group elements.
        weightnorm, equalize, eps: as in `kcl.Conv2D`, applied to `kernel`
            before the expansion (fan-in `k * k * G_in * C`).
            `kernel_initializer=None` (default) is `"glorot_uniform"`, or
            `kcl.initializers.NormalInit()` when `equalize=True` (equalized
            learning rate needs unit-variance raw weights).

    Call arguments:
        inputs: `(batch, H, W, C)` or `(batch, H, W, G, C)` (channels_last),
            `(batch, C, H, W)` or `(batch, G, C, H, W)` (channels_first).

    Returns:
        `(batch, H', W', G, filters)` (channels_first `(batch, G, filters, H', W')`)
        in the compute dtype; H', W' as `keras.layers.Conv2D`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> lift = kcl.GroupConv2D(8, 3, group="C4", padding="same",
    ...                        data_format="channels_last")
    >>> gconv = kcl.GroupConv2D(4, 3, group="C4", padding="same",
    ...                         data_format="channels_last")
    >>> y = gconv(lift(np.ones((2, 9, 9, 3), "float32")))
    >>> tuple(y.shape)
    (2, 9, 9, 4, 4)
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        group: str = "D4",
        strides=1,
        padding: str = "valid",
        dilation_rate=1,
        data_format: str | None = None,
        activation=None,
        use_bias: bool = False,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        weightnorm: bool = False,
        equalize: bool = False,
        eps: float = 1e-6,
        **kwargs,
    ):
        cls = self.__class__.__name__
        # Validated before the base class so that the group is named first.
        group = equivariance.normalize_group(group, cls)
        filters = av.positive_int(filters, "filters", cls)
        # Not an argument (the symmetry group is `group`), but groups=1 is
        # accepted, as for the other convolutions.
        groups = kwargs.pop("groups", 1)
        if groups != 1:
            raise ValueError(
                f"{cls}: `groups` (grouped convolution) is not supported; received "
                f"groups={groups!r}. The symmetry group is set with `group`."
            )
        super().__init__(
            2,
            kernel_size,
            strides=strides,
            padding=padding,
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
        self.filters = filters
        kh, kw = self.kernel_size
        if kh != kw or kh % 2 == 0:
            raise ValueError(
                f"{cls}: `kernel_size` must be square and odd (the group acts on the "
                f"kernel by 90-degree rotations about its centre pixel); received "
                f"kernel_size={kernel_size!r}."
            )
        self.group = group
        self.group_order = equivariance.group_order(group)
        self._in_group = None
        self._in_channels = None
        self._indices = None

    # ------------------------------------------------------------------ build
    def _input_description(self) -> str:
        g = self.group_order
        if self.data_format == "channels_last":
            return f"(batch, height, width, channels) or (batch, height, width, {g}, channels)"
        return f"(batch, channels, height, width) or (batch, {g}, channels, height, width)"

    def _check_input_shape(self, input_shape) -> int:
        input_shape = tuple(input_shape)
        name = f"Layer {self.__class__.__name__} ('{self.name}')"
        if len(input_shape) not in (4, 5):
            raise ValueError(
                f"{name} expects input of rank 4 (lifting layer) or 5 (group layer), "
                f"i.e. shape {self._input_description()}; received input of shape "
                f"{input_shape}."
            )
        if len(input_shape) == 4:
            in_group, channels = 1, input_shape[self._channel_axis]
        elif self.data_format == "channels_last":
            in_group, channels = input_shape[-2], input_shape[-1]
        else:
            in_group, channels = input_shape[1], input_shape[2]
        if len(input_shape) == 5 and in_group != self.group_order:
            raise ValueError(
                f"{name} with group={self.group!r} expects a group axis of size "
                f"{self.group_order}, i.e. input shape {self._input_description()}; "
                f"received input of shape {input_shape}."
            )
        if channels is None:
            raise ValueError(
                f"{name} needs a known channel dimension; received input of shape {input_shape}."
            )
        self._in_group, self._in_channels = int(in_group), int(channels)
        return self._in_group * self._in_channels

    def kernel_shape(self, in_channels: int) -> tuple:
        return self.kernel_size + (in_channels, self.filters)

    @property
    def output_channels(self) -> int:
        return self.filters

    def build(self, input_shape):
        super().build(input_shape)
        ndim = len(input_shape)
        if ndim == 4:
            axes = {self._channel_axis: self._in_channels}
        elif self.data_format == "channels_last":
            axes = {-2: self._in_group, -1: self._in_channels}
        else:
            axes = {1: self._in_group, 2: self._in_channels}
        self.input_spec = keras.layers.InputSpec(ndim=ndim, axes=axes)
        # Computed once: the gather indices of the kernel expansion.
        self._indices = equivariance.expansion_indices(
            self.kernel_size[0], self.group, self._in_group, self._in_channels
        )

    # -------------------------------------------------------- kernel expansion
    def _expand(self, kernel):
        return equivariant_ops.expand_kernel(kernel, self._indices)

    def expanded_kernel(self):
        """The `(k, k, G_in * C, G * filters)` kernel of the equivalent plain
        `Conv2D` on the flattened group-major input (float32, after
        weightnorm / equalize)."""
        self._assert_built("expanded_kernel")
        return self._expand(self.transform_kernel(ops.cast(self.kernel, "float32")))

    def _assert_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}'): call or build the "
                f"layer before `{what}()`."
            )

    def to_conv2d(self, name: str | None = None) -> keras.layers.Conv2D:
        """A built `keras.layers.Conv2D` with the same numbers on flattened tensors.

        It takes the group-major flattened input `(batch, H, W, G_in * C)`
        (channels_first `(batch, G_in * C, H, W)`) and returns
        `(batch, H', W', G * filters)`, the layer's output reshaped; it holds
        `expanded_kernel()` and the bias tiled `G` times, with the same
        strides, padding, dilation, data format, activation and dtype policy.
        """
        self._assert_built("to_conv2d")
        conv = keras.layers.Conv2D(
            self.group_order * self.filters,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
            activation=self.activation,
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name=name or f"{self.name}_conv2d",
        )
        flat = self._in_group * self._in_channels
        if self.data_format == "channels_last":
            conv.build((None, None, None, flat))
        else:
            conv.build((None, flat, None, None))
        conv.kernel.assign(self.expanded_kernel())
        if self.use_bias:
            conv.bias.assign(ops.tile(ops.cast(self.bias, "float32"), (self.group_order,)))
        return conv

    # -------------------------------------------------------------------- call
    def convolution_op(self, inputs, kernel):
        """The equivalent plain convolution: flattened group-major input,
        expanded kernel; returns `(batch, H', W', G * filters)` (or channels_first)."""
        kernel = self._expand(self._effective(kernel))
        if len(inputs.shape) == 5:
            shape = ops.shape(inputs)
            flat = self._in_group * self._in_channels
            if self.data_format == "channels_last":
                inputs = ops.reshape(inputs, (-1, shape[1], shape[2], flat))
            else:
                inputs = ops.reshape(inputs, (-1, flat, shape[3], shape[4]))
        return self.convolve(inputs, kernel)

    def add_bias(self, outputs):
        """Adds the bias, tiled over the group axis, to the flat conv output."""
        if self.bias is None:
            return outputs
        bias = ops.tile(self.bias, (self.group_order,))
        return conv_ops.bias_add(outputs, bias, self.data_format)

    def call(self, inputs):
        outputs = super().call(inputs)  # flat: conv, bias, activation
        shape = ops.shape(outputs)
        g, f = self.group_order, self.filters
        if self.data_format == "channels_last":
            return ops.reshape(outputs, (-1, shape[1], shape[2], g, f))
        return ops.reshape(outputs, (-1, g, f, shape[2], shape[3]))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) == 5:
            if self.data_format == "channels_last":
                input_shape = input_shape[:3] + (None,)
            else:
                input_shape = (input_shape[0], None) + input_shape[3:]
        flat = av.conv_output_shape(
            input_shape,
            self.filters,
            self.kernel_size,
            self.strides,
            self.padding,
            self.dilation_rate,
            self.data_format,
            owner=av.layer_owner(self),
        )
        if self.data_format == "channels_last":
            return flat[:3] + (self.group_order, self.filters)
        return (flat[0], self.group_order, self.filters) + flat[2:]

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "group": self.group})
        return config
