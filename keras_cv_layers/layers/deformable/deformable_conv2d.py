"""Deformable 2D convolution (DCN v1, and v2 with `modulated=True`)."""

from __future__ import annotations

import keras
from keras import initializers, ops, regularizers

from keras_cv_layers.layers.convolutional.base_conv import BaseConv
from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.ops import deformable as deformable_ops
from keras_cv_layers.ops._deformable_kernels import sample_dtype
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

_NAME = "DeformableConv2D"
#: The call forms, by number of inputs.
_FORMS = {1: "x", 2: "[x, offsets]", 3: "[x, offsets, mask]"}


def _is_shape_list(input_shape) -> bool:
    """Whether `input_shape` is a list of shapes (a list call) rather than
    one shape (ints and None; lists of lists after a JSON round trip)."""
    return (
        isinstance(input_shape, (list, tuple))
        and len(input_shape) > 0
        and all(isinstance(s, (list, tuple)) for s in input_shape)
    )


def _scale_gradient(weight, multiplier: float):
    """`weight` in value (exactly), with its gradient scaled by `multiplier`:
    `stop_gradient(w) + m * (w - stop_gradient(w))` (the forward value is
    `w + m * 0 = w`, bit for bit; the gradient `m * dL/dw`)."""
    if multiplier == 1.0:
        return weight
    frozen = ops.stop_gradient(weight)
    return frozen + multiplier * (weight - frozen)


@register
class DeformableConv2D(BaseConv):
    """Deformable 2D convolution: each kernel tap samples the input at a
    learned, per-position offset (bilinear interpolation), DCN v1; with
    `modulated=True` each sample is also scaled by a learned mask in (0, 1),
    DCN v2.

    Called on `x` alone, the layer predicts the offsets (and mask) from the
    input by an internal convolution with the layer's
    kernel_size/strides/padding/dilation_rate, whose weights start at zero by
    default (`offset_kernel_initializer="zeros"`): a fresh layer is a plain
    convolution (half of it when modulated: sigmoid(0) = 0.5).  Called on
    `[x, offsets]` or `[x, offsets, mask]`, it uses the given offsets (and
    mask) and owns only `kernel` and `bias`.  Sampling follows
    `torchvision.ops.deform_conv2d` (offset channels ordered `[offset group]
    [kernel row][kernel col][dy, dx]`; corners outside the input contribute
    zero); see `keras_cv_layers.ops.deform_conv2d` for the functional form.
    `strides` > 1 together with `dilation_rate` > 1 is allowed.

    Args:
        filters: int, the number of output channels.
        kernel_size: int or tuple of 2 ints.
        strides: int or tuple of 2 ints. Default 1.
        padding: `"valid"` or `"same"` (Keras arithmetic).
        dilation_rate: int or tuple of 2 ints. Default 1.
        offset_groups: int, the input channels are split into this many
            groups, each with its own offsets (and mask). Default 1.
        modulated: bool, DCN v2 modulation mask (predicted, or given as the
            third input). Default False.
        groups: int, channel groups of the main convolution. Default 1.
        data_format: `"channels_last"`, `"channels_first"` or None
            (`keras.config.image_data_format()`).
        offset_kernel_initializer: initializer of `offset_kernel` and
            `mask_kernel`. Default `"zeros"`.
        offset_kernel_regularizer: regularizer of `offset_kernel` and
            `mask_kernel`. Default None.
        offset_lr_multiplier: finite float > 0, scales the gradient reaching
            `offset_kernel`, `offset_bias`, `mask_kernel` and `mask_bias`
            (a smaller learning rate for the offset branch, as in the DCN
            papers); values and every other gradient, the input's included,
            are unchanged. Default 1.0.
        activation, use_bias (default False), kernel_initializer,
        bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: as in Keras
            (they apply to the main `kernel` and `bias`).
        weightnorm, equalize, eps: as in `keras_cv_layers.Conv2D`, applied
            to the main `kernel`.
    Weights:
        `kernel` (kh, kw, C/groups, filters), `bias` (filters,) if use_bias;
        called on `x` alone also `offset_kernel` (kh, kw, C,
        2*offset_groups*kh*kw) and `offset_bias`, and, if modulated,
        `mask_kernel` (kh, kw, C, offset_groups*kh*kw) and `mask_bias`.
        Under mixed precision these four are read in float32.

    Call arguments:
        inputs: one of (the form is fixed by the first call / build; another
            form later is a `ValueError`)

            - `x`: tensor of shape `(batch, height, width, channels)`
              (channels_last) or `(batch, channels, height, width)`;
            - `[x, offsets]`: offsets `(batch, H', W', 2*offset_groups*kh*kw)`
              (channels_last) or `(batch, 2*offset_groups*kh*kw, H', W')`,
              H', W' the output size; not with `modulated=True`;
            - `[x, offsets, mask]`: also the mask `(batch, H', W',
              offset_groups*kh*kw)` or channels_first `(batch,
              offset_groups*kh*kw, H', W')`, used as given (no sigmoid);
              requires `modulated=True`.

            Given offsets and mask are in the layer's data_format, laid out
            as for `keras_cv_layers.ops.deform_conv2d`, and (as every input)
            cast to the compute dtype.

    Returns:
        The output, `filters` channels, spatial size as `keras.layers.Conv2D`,
        in the compute dtype.

    Raises:
        ValueError: on bad arguments, a window that does not fit the input,
            offsets or mask of another shape than the expected one (named in
            the message), a list input with `modulated` not matching its
            length, or a call form other than the one the layer was built for.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.DeformableConv2D(8, 3, padding="same", modulated=True,
    ...                              data_format="channels_last")
    >>> tuple(layer(np.ones((2, 16, 16, 4), "float32")).shape)
    (2, 16, 16, 8)
    >>> given = kcl.DeformableConv2D(8, 3, data_format="channels_last")
    >>> offsets = np.zeros((2, 14, 14, 2 * 3 * 3), "float32")
    >>> tuple(given([np.ones((2, 16, 16, 4), "float32"), offsets]).shape)
    (2, 14, 14, 8)
    >>> [w.name for w in given.weights]
    ['kernel']

    References: Dai et al., "Deformable Convolutional Networks" (2017),
    arXiv:1703.06211; Zhu et al., "Deformable ConvNets v2: More Deformable,
    Better Results" (2019), arXiv:1811.11168.
    """

    # The deformable op computes strides > 1 with dilation_rate > 1.
    _allows_strided_dilation = True

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        dilation_rate=1,
        offset_groups: int = 1,
        modulated: bool = False,
        groups: int = 1,
        data_format: str | None = None,
        offset_kernel_initializer="zeros",
        offset_kernel_regularizer=None,
        offset_lr_multiplier: float = 1.0,
        **kwargs,
    ):
        super().__init__(
            2,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            **kwargs,
        )
        self.offset_groups = av.positive_int(offset_groups, "offset_groups", _NAME)
        self.modulated = av.check_bool(modulated, "modulated", _NAME)
        self.offset_kernel_initializer = initializers.get(offset_kernel_initializer)
        self.offset_kernel_regularizer = regularizers.get(offset_kernel_regularizer)
        self.offset_lr_multiplier = av.check_float(
            offset_lr_multiplier, "offset_lr_multiplier", _NAME
        )
        #: The number of call inputs (1, 2 or 3), fixed at build.
        self._num_inputs = None

    @property
    def _taps(self) -> int:
        return self.kernel_size[0] * self.kernel_size[1]

    #: The weights of the offset (and mask) prediction: read in float32 under
    #: mixed precision (`add_weight(autocast=False)`), see `offsets_and_mask`.
    _FLOAT32_WEIGHTS = ("offset_kernel", "offset_bias", "mask_kernel", "mask_bias")

    def add_weight(self, *args, **kwargs):
        if kwargs.get("name") in self._FLOAT32_WEIGHTS:
            kwargs["autocast"] = False
        return super().add_weight(*args, **kwargs)

    # ------------------------------------------------------------ call forms
    def _split_shapes(self, input_shape) -> tuple:
        """`(x_shape, offsets_shape, mask_shape)` of a single shape or a list
        of 2 or 3 shapes (None for the absent ones)."""
        if not _is_shape_list(input_shape):
            return tuple(input_shape), None, None
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) not in (2, 3):
            raise ValueError(
                f"{av.layer_owner(self)}: a list input must be [x, offsets] or "
                f"[x, offsets, mask]; received {len(shapes)} inputs of shapes {shapes}."
            )
        return shapes[0], shapes[1], shapes[2] if len(shapes) == 3 else None

    def _check_form(self, num_inputs: int) -> None:
        """`ValueError` unless the call form matches `modulated` and the form
        the layer was built for."""
        if self._num_inputs is not None and num_inputs != self._num_inputs:
            raise ValueError(
                f"{av.layer_owner(self)} was built for the call form "
                f"{_FORMS[self._num_inputs]} and cannot be called as "
                f"{_FORMS[num_inputs]}: the form is fixed at build."
            )
        if num_inputs == 2 and self.modulated:
            raise ValueError(
                f"{av.layer_owner(self)}: called on [x, offsets] with modulated=True; "
                "a modulated layer with given offsets needs the mask too: call it on "
                "[x, offsets, mask], or use modulated=False."
            )
        if num_inputs == 3 and not self.modulated:
            raise ValueError(
                f"{av.layer_owner(self)}: the call form [x, offsets, mask] requires modulated=True."
            )

    def _describe(self, batch, rows, cols, channels) -> str:
        dims = (batch, rows, cols, channels)
        if self.data_format == "channels_first":
            dims = (batch, channels, rows, cols)
        return "(" + ", ".join("batch" if d is None else str(d) for d in dims) + ")"

    def _check_given_shapes(self, x_shape, offsets_shape, mask_shape) -> tuple:
        """`ValueError` naming the expected shape when the given offsets or
        mask do not fit `x`; returns the output shape."""
        output_shape = self._output_shape(x_shape)
        batch = x_shape[0]
        rows, cols = av.spatial_dims(output_shape, self.data_format)
        expected = {
            "offsets": (offsets_shape, 2 * self.offset_groups * self._taps),
            "mask": (mask_shape, self.offset_groups * self._taps),
        }
        for name, (shape, channels) in expected.items():
            if shape is None:
                continue
            want = (batch, rows, cols, channels)
            if self.data_format == "channels_first":
                want = (batch, channels, rows, cols)
            ok = len(shape) == 4 and all(
                a is None or b is None or a == b for a, b in zip(shape, want)
            )
            if not ok:
                raise ValueError(
                    f"{av.layer_owner(self)}: `{name}` must have shape "
                    f"{self._describe(batch, rows, cols, channels)} ({channels} = "
                    f"{'2*' if name == 'offsets' else ''}offset_groups*kernel_h*kernel_w "
                    f"channels, the spatial size of the output, data_format="
                    f"{self.data_format!r}); received {tuple(shape)}."
                )
        return output_shape

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        x_shape, offsets_shape, mask_shape = self._split_shapes(input_shape)
        num_inputs = 1 if offsets_shape is None else (3 if mask_shape is not None else 2)
        self._check_form(num_inputs)
        channels = self._check_input_shape(x_shape)
        if channels % self.offset_groups:
            raise ValueError(
                f"Layer DeformableConv2D ('{self.name}'): the input channels ({channels}) "
                f"must be divisible by `offset_groups`={self.offset_groups}; expected input "
                f"of shape {self._input_description()} with channels a multiple of "
                f"{self.offset_groups}."
            )
        if num_inputs > 1:
            self._check_given_shapes(x_shape, offsets_shape, mask_shape)
        super().build(x_shape)
        self._num_inputs = num_inputs
        if num_inputs > 1:
            x_spec = self.input_spec
            # Offsets and mask: checked by `_check_given_shapes` (its message
            # names the expected shape).
            self.input_spec = [x_spec] + [None] * (num_inputs - 1)
            return
        n_offsets = 2 * self.offset_groups * self._taps
        self.offset_kernel = self.add_weight(
            name="offset_kernel",
            shape=self.kernel_size + (channels, n_offsets),
            initializer=self.offset_kernel_initializer,
            regularizer=self.offset_kernel_regularizer,
        )
        self.offset_bias = self.add_weight(
            name="offset_bias", shape=(n_offsets,), initializer=initializers.Zeros()
        )
        if self.modulated:
            n_mask = self.offset_groups * self._taps
            self.mask_kernel = self.add_weight(
                name="mask_kernel",
                shape=self.kernel_size + (channels, n_mask),
                initializer=self.offset_kernel_initializer,
                regularizer=self.offset_kernel_regularizer,
            )
            self.mask_bias = self.add_weight(
                name="mask_bias", shape=(n_mask,), initializer=initializers.Zeros()
            )

    # ------------------------------------------------------------ prediction
    def _offset_conv(self, inputs, kernel):
        """The offset-prediction convolution of channels_last `inputs`, with
        the layer's strides, padding and dilation.  TensorFlow refuses
        strides > 1 together with dilation > 1: there it is the stride-1
        convolution of the explicitly padded input, subsampled."""
        strided = max(self.strides) > 1 and max(self.dilation_rate) > 1
        if not (strided and keras.backend.backend() == "tensorflow"):
            return conv_ops.conv(
                inputs,
                kernel,
                strides=self.strides,
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format="channels_last",
            )
        if self.padding == "same":
            shape = ops.shape(inputs)
            pads = [
                av.same_padding_amounts(shape[1 + i], k, s, d)
                for i, (k, s, d) in enumerate(
                    zip(self.kernel_size, self.strides, self.dilation_rate)
                )
            ]
            inputs = ops.pad(inputs, [[0, 0], list(pads[0]), list(pads[1]), [0, 0]])
        outputs = conv_ops.conv(
            inputs,
            kernel,
            strides=1,
            padding="valid",
            dilation_rate=self.dilation_rate,
            data_format="channels_last",
        )
        return outputs[:, :: self.strides[0], :: self.strides[1], :]

    def offsets_and_mask(self, inputs):
        """The predicted offsets and mask (None unless modulated), channels_last
        (B, H', W', 2*og*kh*kw) and (B, H', W', og*kh*kw), for channels_last
        `inputs`; float32 when `inputs` are float16 or bfloat16 (the sampling
        positions and their gradients, which reach ~1e5 on inputs of
        magnitude 100, stay in float32 under mixed precision).  The weights'
        gradients are scaled by `offset_lr_multiplier`."""
        if self._num_inputs != 1:
            raise ValueError(
                f"{av.layer_owner(self)} was built for given offsets "
                f"({_FORMS.get(self._num_inputs)}) and predicts none."
            )
        m = self.offset_lr_multiplier
        kernel = _scale_gradient(self.offset_kernel, m)
        bias = _scale_gradient(self.offset_bias, m)
        if self.modulated:
            kernel = ops.concatenate([kernel, _scale_gradient(self.mask_kernel, m)], axis=-1)
            bias = ops.concatenate([bias, _scale_gradient(self.mask_bias, m)], axis=-1)
        inputs = ops.cast(inputs, sample_dtype(inputs.dtype))
        predicted = self._offset_conv(inputs, ops.cast(kernel, inputs.dtype))
        predicted = conv_ops.bias_add(predicted, bias, "channels_last")
        if not self.modulated:
            return predicted, None
        n_offsets = 2 * self.offset_groups * self._taps
        return predicted[..., :n_offsets], ops.sigmoid(predicted[..., n_offsets:])

    # -------------------------------------------------------------------- call
    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, offsets = inputs[0], inputs[1] if len(inputs) > 1 else None
            mask = inputs[2] if len(inputs) > 2 else None
            self._split_shapes([t.shape for t in inputs])  # the number of inputs
            self._check_form(len(inputs))
        else:
            x, offsets, mask = inputs, None, None
            self._check_form(1)
        if offsets is not None:
            self._check_given_shapes(x.shape, offsets.shape, None if mask is None else mask.shape)
            dtype = sample_dtype(x.dtype)
            outputs = deformable_ops.compute(
                x,
                ops.cast(offsets, dtype),
                self.effective_kernel(),
                self.bias,
                None if mask is None else ops.cast(mask, dtype),
                self.strides,
                self.padding,
                self.dilation_rate,
                self.groups,
                self.data_format,
            )
        else:
            self.check_output_size(x.shape)
            cf = self.data_format == "channels_first"
            x = ops.transpose(x, (0, 2, 3, 1)) if cf else x
            offsets, mask = self.offsets_and_mask(x)
            outputs = deformable_ops.compute(
                x,
                offsets,
                self.effective_kernel(),
                self.bias,
                mask,
                self.strides,
                self.padding,
                self.dilation_rate,
                self.groups,
                "channels_last",
            )
            if cf:
                outputs = ops.transpose(outputs, (0, 3, 1, 2))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _output_shape(self, x_shape):
        return super().compute_output_shape(tuple(x_shape))

    def compute_output_shape(self, input_shape):
        x_shape, offsets_shape, mask_shape = self._split_shapes(input_shape)
        if offsets_shape is None:
            return self._output_shape(x_shape)
        return self._check_given_shapes(x_shape, offsets_shape, mask_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "offset_groups": self.offset_groups,
                "modulated": self.modulated,
                "offset_kernel_initializer": initializers.serialize(self.offset_kernel_initializer),
                "offset_kernel_regularizer": regularizers.serialize(self.offset_kernel_regularizer),
                "offset_lr_multiplier": self.offset_lr_multiplier,
            }
        )
        return config
