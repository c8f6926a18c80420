"""Base class of the masked (sparse / partial) convolutions.

A masked convolution sees only the valid inputs of each window and
renormalizes by their fraction:

    norm = conv(mask, ones / window_size)          # fraction of valid inputs
    y    = activation(conv(x * mask, k) / norm + bias)   where norm > eps
    y    = 0                                             where norm <= eps
    mask_out = float(norm > eps) if binary else norm

The convolution itself (arguments, padding arithmetic, output shapes, weight
normalization, equalized learning rate) is that of the foundation's
`BaseConv` (or of a subclass such as `DepthwiseConv2D`, by cooperative
inheritance); this class adds the mask handling.  The normaliser is a
convolution of a one-channel (or one-per-group / per-channel) mask with a
ones kernel, never a full C_in x filters convolution of ones.  It is computed
in float32 (exact fractions under mixed precision) and zero padding counts as
invalid.
"""

from __future__ import annotations

from keras import activations, ops

from keras_cv_layers.layers.convolutional.base_conv import BaseConv
from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.utils import argument_validation as av


def _is_shape(value) -> bool:
    """Whether `value` is one shape (ints/None), not a list of shapes."""
    return all(v is None or isinstance(v, int) for v in value)


class BaseMaskedConv(BaseConv):
    """Abstract masked convolution; see `PartialConv2D` for the arguments.

    Subclasses set `mask_mode`:

    - `"sparse"`: mask (..., 1); normaliser over the window.
    - `"partial"`: mask (..., C_in) or (..., 1); normaliser over window x
      channels (x channels of the group when `groups` > 1).
    - `"depthwise"`: mask (..., C_in) or (..., 1); per-channel normaliser.
    """

    mask_mode = "partial"

    def __init__(self, *args, binary: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(binary, bool):
            raise ValueError(
                f"{self.__class__.__name__}: `binary` must be a bool; received binary={binary!r}."
            )
        self.binary = binary
        self._in_channels = None

    # ---------------------------------------------------------------- inputs
    def _split_inputs(self, inputs):
        """`x` or `[x]`/`[x, mask]`/`[x, None]` -> `(x, mask or None)`."""
        if isinstance(inputs, (list, tuple)):
            if len(inputs) == 1:
                return inputs[0], None
            if len(inputs) == 2:
                return inputs[0], inputs[1]
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') expects `x` or "
                f"`[x, mask]`; received a list of {len(inputs)} inputs."
            )
        return inputs, None

    def _split_shapes(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and not _is_shape(input_shape):
            shapes = list(input_shape)
            if len(shapes) == 1:
                return tuple(shapes[0]), None
            if len(shapes) == 2:
                return tuple(shapes[0]), None if shapes[1] is None else tuple(shapes[1])
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') expects `x` or "
                f"`[x, mask]`; received {len(shapes)} input shapes."
            )
        return tuple(input_shape), None

    def _allowed_mask_channels(self, in_channels: int) -> tuple:
        if self.mask_mode == "sparse":
            return (1,)
        return (1, in_channels) if in_channels != 1 else (1,)

    def _check_mask_shape(self, x_shape, mask_shape) -> None:
        x_shape, mask_shape = tuple(x_shape), tuple(mask_shape)
        channels = x_shape[self._channel_axis]
        allowed = self._allowed_mask_channels(channels)
        ok = len(mask_shape) == len(x_shape)
        if ok:
            mask_channels = mask_shape[self._channel_axis]
            ok = mask_channels in allowed
        if ok:
            ch = self._channel_axis % len(x_shape)
            for axis, (a, b) in enumerate(zip(x_shape, mask_shape)):
                if axis != ch and a is not None and b is not None and a != b:
                    ok = False
        if not ok:
            wanted = " or ".join(str(c) for c in allowed)
            description = av.spatial_description(self.rank, self.data_format, wanted)
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') expects a mask of "
                f"shape {description} with the batch and spatial shape of `x`; "
                f"received x of shape {x_shape} and mask of shape {mask_shape}."
            )

    # ----------------------------------------------------------------- build
    def build(self, input_shape):
        x_shape, mask_shape = self._split_shapes(input_shape)
        self._check_input_shape(x_shape)
        if mask_shape is not None:
            self._check_mask_shape(x_shape, mask_shape)
        super().build(x_shape)
        self._in_channels = int(x_shape[self._channel_axis])
        # The layer takes `x` or `[x, mask]`: shapes are checked here and in
        # `call`, not through a single InputSpec.
        self.input_spec = None

    # ----------------------------------------------------------- normaliser
    def _ones_conv(self, mask, channels_in: int, channels_out: int, denominator: float):
        """`conv(mask, ones / denominator)`: plain conv (with the layer's
        strides/padding/dilation, zero padding, causal padding) of a float32
        mask; `channels_in < channels_out` channel blocks make it grouped."""
        kernel = ops.ones(self.kernel_size + (channels_in, channels_out), "float32")
        kernel = kernel / float(denominator)
        padding = self.padding
        if padding == "causal":
            mask = self._causal_pad(mask)
            padding = "valid"
        return conv_ops.conv(
            mask,
            kernel,
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def _group_sums(self, mask):
        """(B, ..., C) -> (B, ..., groups): the mask summed per channel group."""
        per_group = self._in_channels // self.groups
        axis = self._channel_axis
        sums = []
        for g in range(self.groups):
            start, stop = g * per_group, (g + 1) * per_group
            part = mask[..., start:stop] if axis == -1 else mask[:, start:stop]
            sums.append(ops.sum(part, axis=axis, keepdims=True))
        return ops.concatenate(sums, axis=axis)

    def normalizer(self, mask):
        """Fraction of valid inputs in each window, float32.

        Args:
            mask: float32 mask, 1 or C_in channels (already validated).

        Returns:
            `(B, *S', K)` with K = 1 (broadcast over the output channels) or
            the number of output channels.
        """
        window = av.prod(self.kernel_size)
        mask_channels = mask.shape[self._channel_axis]
        if mask_channels == 1 or self.mask_mode == "sparse":
            return self._ones_conv(mask, 1, 1, window)
        channels = self._in_channels
        if self.groups == 1:
            summed = ops.sum(mask, axis=self._channel_axis, keepdims=True)
            return self._ones_conv(summed, 1, 1, window * channels)
        # One normaliser per group (each output filter sees its group's
        # channels), repeated over the group's filters (Keras' order).
        per_group = channels // self.groups
        norm = self._ones_conv(self._group_sums(mask), 1, self.groups, window * per_group)
        return ops.repeat(norm, self.filters // self.groups, axis=self._channel_axis)

    def default_mask(self, x):
        """The mask used when none is given, float32 (from the features)."""
        nonzero = ops.not_equal(x, 0)
        if self.mask_mode == "sparse":
            nonzero = ops.any(nonzero, axis=self._channel_axis, keepdims=True)
        return ops.cast(nonzero, "float32")

    def _expand_to_output(self, t):
        """Broadcasts a one-channel tensor over the output channels (a view,
        not a copy, on torch; the compiled backends fuse it into its users)."""
        if t.shape[self._channel_axis] == 1 and self.mask_mode != "sparse":
            shape = list(ops.shape(t))
            shape[self._channel_axis] = self.output_channels
            return ops.broadcast_to(t, shape)
        return t

    # ------------------------------------------------------------------ call
    def call(self, inputs):
        x, mask = self._split_inputs(inputs)
        if len(x.shape) != self.rank + 2:
            av.check_input_rank(self, x.shape, self.rank + 2, self._input_description())
        if mask is None:
            # The derived mask is 0 exactly where x is 0: x * mask == x.
            masked_x = x
            mask32 = self.default_mask(x)
        else:
            self._check_mask_shape(x.shape, mask.shape)
            masked_x = x * ops.cast(mask, x.dtype)
            mask32 = ops.cast(mask, "float32")
        norm = self.normalizer(mask32)
        valid = ops.greater(norm, self.eps)
        # Safe denominator: finite values and gradients where norm <= eps.
        inverse = ops.where(valid, 1.0 / ops.where(valid, norm, 1.0), 0.0)
        outputs = self.convolution_op(masked_x, self.kernel)
        outputs = outputs * ops.cast(inverse, outputs.dtype)
        valid_f = ops.cast(valid, self.compute_dtype)
        # Without bias and activation, outputs are already exactly 0 where
        # the normaliser is invalid: the inverse is 0 there.
        if self.activation not in (None, activations.linear):
            outputs = self.activation(self.add_bias(outputs))
            outputs = ops.where(valid, outputs, ops.zeros((), outputs.dtype))
        elif self.bias is not None:
            # The pre-activation is the (finite) bias where invalid: a
            # product zeroes it (cheaper than `where` on eager backends).
            outputs = self.add_bias(outputs) * valid_f
        mask_out = valid_f if self.binary else ops.cast(norm, self.compute_dtype)
        mask_out = self._expand_to_output(mask_out)
        return [outputs, mask_out]

    def mask_output_channels(self, output_channels):
        return 1 if self.mask_mode == "sparse" else output_channels

    def compute_output_shape(self, input_shape):
        x_shape, _ = self._split_shapes(input_shape)
        y_shape = tuple(super().compute_output_shape(x_shape))
        mask_shape = list(y_shape)
        mask_shape[self._channel_axis] = self.mask_output_channels(y_shape[self._channel_axis])
        return [y_shape, tuple(mask_shape)]

    def get_config(self):
        config = super().get_config()
        config["binary"] = self.binary
        return config
