"""Deformable 2D convolution (DCN v1, and v2 with `modulated=True`)."""

from __future__ import annotations

from keras import initializers, ops

from keras_cv_layers.layers.convolutional.base_conv import BaseConv
from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.ops import deformable as deformable_ops
from keras_cv_layers.ops._deformable_kernels import sample_dtype
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class DeformableConv2D(BaseConv):
    """Deformable 2D convolution: each kernel tap samples the input at a
    learned, per-position offset (bilinear interpolation), DCN v1; with
    `modulated=True` each sample is also scaled by a learned mask in (0, 1),
    DCN v2.

    The offsets (and mask) are predicted from the input by an internal
    convolution with the layer's kernel_size/strides/padding/dilation_rate,
    whose weights start at zero: a fresh layer is a plain convolution (half
    of it when modulated: sigmoid(0) = 0.5).  Sampling follows
    `torchvision.ops.deform_conv2d` (offset channels ordered [offset group]
    [kernel row][kernel col][dy, dx]; corners outside the input contribute
    zero); see `keras_cv_layers.ops.deform_conv2d` for the functional form
    with user-supplied offsets.

    Args:
        filters: int, the number of output channels.
        kernel_size: int or tuple of 2 ints.
        strides: int or tuple of 2 ints. Default 1.
        padding: `"valid"` or `"same"` (Keras arithmetic).
        dilation_rate: int or tuple of 2 ints. Default 1.
        offset_groups: int, the input channels are split into this many
            groups, each with its own offsets (and mask). Default 1.
        modulated: bool, DCN v2 modulation mask. Default False.
        groups: int, channel groups of the main convolution. Default 1.
        data_format: `"channels_last"`, `"channels_first"` or None
            (`keras.config.image_data_format()`).
        activation, use_bias (default False), kernel_initializer,
        bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: as in Keras
            (they apply to the main `kernel` and `bias`).
        weightnorm, equalize, eps: as in `keras_cv_layers.Conv2D`, applied
            to the main `kernel`.
    Weights:
        `kernel` (kh, kw, C/groups, filters), `bias` (filters,) if use_bias,
        `offset_kernel` (kh, kw, C, 2*offset_groups*kh*kw) and `offset_bias`,
        zeros; if modulated, `mask_kernel` (kh, kw, C, offset_groups*kh*kw)
        and `mask_bias`, zeros.

    Call arguments:
        inputs: tensor of shape `(batch, height, width, channels)`
            (channels_last) or `(batch, channels, height, width)`.

    Returns:
        The output, `filters` channels, spatial size as `keras.layers.Conv2D`,
        in the compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.DeformableConv2D(8, 3, padding="same", modulated=True,
    ...                              data_format="channels_last")
    >>> tuple(layer(np.ones((2, 16, 16, 4), "float32")).shape)
    (2, 16, 16, 8)

    References: Dai et al., "Deformable Convolutional Networks" (2017),
    arXiv:1703.06211; Zhu et al., "Deformable ConvNets v2: More Deformable,
    Better Results" (2019), arXiv:1811.11168.
    """

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
        self.offset_groups = av.positive_int(offset_groups, "offset_groups", "DeformableConv2D")
        self.modulated = av.check_bool(modulated, "modulated", "DeformableConv2D")

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

    def build(self, input_shape):
        channels = self._check_input_shape(input_shape)
        if channels % self.offset_groups:
            raise ValueError(
                f"Layer DeformableConv2D ('{self.name}'): the input channels ({channels}) "
                f"must be divisible by `offset_groups`={self.offset_groups}; expected input "
                f"of shape {self._input_description()} with channels a multiple of "
                f"{self.offset_groups}."
            )
        super().build(input_shape)
        n_offsets = 2 * self.offset_groups * self._taps
        self.offset_kernel = self.add_weight(
            name="offset_kernel",
            shape=self.kernel_size + (channels, n_offsets),
            initializer=initializers.Zeros(),
        )
        self.offset_bias = self.add_weight(
            name="offset_bias", shape=(n_offsets,), initializer=initializers.Zeros()
        )
        if self.modulated:
            n_mask = self.offset_groups * self._taps
            self.mask_kernel = self.add_weight(
                name="mask_kernel",
                shape=self.kernel_size + (channels, n_mask),
                initializer=initializers.Zeros(),
            )
            self.mask_bias = self.add_weight(
                name="mask_bias", shape=(n_mask,), initializer=initializers.Zeros()
            )

    def offsets_and_mask(self, inputs):
        """The predicted offsets and mask (None unless modulated), channels_last
        (B, H', W', 2*og*kh*kw) and (B, H', W', og*kh*kw), for channels_last
        `inputs`; float32 when `inputs` are float16 or bfloat16 (the sampling
        positions and their gradients, which reach ~1e5 on inputs of
        magnitude 100, stay in float32 under mixed precision)."""
        kernel, bias = self.offset_kernel, self.offset_bias
        if self.modulated:
            kernel = ops.concatenate([kernel, self.mask_kernel], axis=-1)
            bias = ops.concatenate([bias, self.mask_bias], axis=-1)
        inputs = ops.cast(inputs, sample_dtype(inputs.dtype))
        predicted = conv_ops.conv(
            inputs,
            ops.cast(kernel, inputs.dtype),
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format="channels_last",
        )
        predicted = conv_ops.bias_add(predicted, bias, "channels_last")
        if not self.modulated:
            return predicted, None
        n_offsets = 2 * self.offset_groups * self._taps
        return predicted[..., :n_offsets], ops.sigmoid(predicted[..., n_offsets:])

    def call(self, inputs):
        self.check_output_size(inputs.shape)
        cf = self.data_format == "channels_first"
        x = ops.transpose(inputs, (0, 2, 3, 1)) if cf else inputs
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

    def get_config(self):
        config = super().get_config()
        config.update({"offset_groups": self.offset_groups, "modulated": self.modulated})
        return config
