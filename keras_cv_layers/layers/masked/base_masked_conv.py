"""The masked (sparse / partial) convolutions' mask handling.

A masked convolution sees only the valid inputs of each window and
renormalizes by their fraction:

    norm = conv(mask, ones / window_size)          # fraction of valid inputs
    y    = activation(conv(x * mask, k) / norm + bias)   where norm > eps
    y    = 0                                             where norm <= eps
    mask_out = float(norm > eps) if binary else norm

`MaskedConvMixin` adds the mask (call on `x` or `[x, mask]`, returns
`[y, mask_out]`, the argument `binary`) to a convolution class, which keeps
its arguments, padding arithmetic, output shapes, weights and kernel
transforms; the math is that of `keras_cv_layers.ops.masked` (the functional
`partial_conv`, `sparse_conv`, `partial_depthwise_conv2d`), which the layer
calls with its effective kernel and activation.  A variant overrides
`normalizer` (and, for a one-channel mask, `per_channel_mask`,
`default_mask` and `mask_output_channels`)::

    BaseMaskedConv = MaskedConvMixin + BaseConv
    ├── BasePartialConv  -> PartialConv1D/2D/3D
    └── BaseSparseConv   -> SparseConv1D/2D/3D
    PartialDepthwiseConv2D = MaskedConvMixin + DepthwiseConv2D
"""

from __future__ import annotations

from keras_cv_layers.layers.convolutional.base_conv import BaseConv
from keras_cv_layers.ops import masked as masked_ops
from keras_cv_layers.utils import argument_validation as av


def _is_shape(value) -> bool:
    """Whether `value` is one shape (ints, None or symbolic sizes, as JAX's
    shape-polymorphic export traces them), not a list of shapes."""
    return all(v is None or not hasattr(v, "__iter__") for v in value)


class MaskedConvMixin:
    """Mask handling of a masked convolution (put it before the convolution
    class); see `PartialConv2D` for the arguments.

    Subclasses implement `normalizer(mask)`, the valid fraction of a float32
    mask (`keras_cv_layers.ops.masked`'s normalizers with the layer's
    geometry), and for a one-channel mask set `per_channel_mask = False` and
    override `default_mask` and `mask_output_channels`.
    """

    #: The mask may have one value per input channel (else one channel).
    per_channel_mask = True

    def __init__(self, *args, binary: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.binary = av.check_bool(binary, "binary", self.__class__.__name__)
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

    def _check_mask_shape(self, x_shape, mask_shape) -> None:
        channels = tuple(x_shape)[self._channel_axis]
        masked_ops.check_mask_shape(
            x_shape,
            mask_shape,
            masked_ops.allowed_mask_channels(channels, self.per_channel_mask),
            self.data_format,
            f"Layer {self.__class__.__name__} ('{self.name}') expects a mask",
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

    # ------------------------------------------------------------ the variant
    def normalizer(self, mask):
        """Fraction of valid inputs in each window (float32), with 1 channel
        (broadcast over the outputs) or the output channels, for a float32
        mask (already validated)."""
        raise NotImplementedError

    def default_mask(self, x):
        """The mask used when none is given, float32: `x != 0`."""
        return masked_ops.nonzero_mask(x)

    def mask_output_channels(self, output_channels):
        """Channels of `mask_out`."""
        return output_channels

    # ------------------------------------------------------------------ call
    def call(self, inputs):
        x, mask = self._split_inputs(inputs)
        if len(x.shape) != self.rank + 2:
            av.check_input_rank(self, x.shape, self.rank + 2, self._input_description())
        channels = x.shape[self._channel_axis]
        if channels is not None and int(channels) != self._in_channels:
            raise ValueError(
                f"{av.layer_owner(self)} was built for {self._in_channels} input "
                f"channels; received `x` of shape {tuple(x.shape)}."
            )
        self.check_output_size(x.shape)
        if mask is not None:
            self._check_mask_shape(x.shape, mask.shape)
        outputs, mask_out = masked_ops.masked_convolution(
            x,
            mask,
            lambda masked_x: self.convolution_op(masked_x, self.kernel),
            self.normalizer,
            self.default_mask,
            self.bias,
            binary=self.binary,
            eps=self.eps,
            data_format=self.data_format,
            mask_channels=self.mask_output_channels(self.output_channels),
            activation=self.activation,
        )
        return [outputs, mask_out]

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


class BaseMaskedConv(MaskedConvMixin, BaseConv):
    """Abstract masked N-D convolution with `filters` and `groups` (the
    arguments of `BaseConv`, plus `binary`)."""
