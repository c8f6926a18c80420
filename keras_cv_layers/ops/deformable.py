"""Deformable convolution as a function: `deform_conv2d`."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops import _deformable_kernels as kernels
from keras_cv_layers.ops._operation import (
    Operation,
    is_empty_batch,
    register_op,
    run,
    static_shape,
)
from keras_cv_layers.ops.conv import bias_add
from keras_cv_layers.utils import argument_validation as av

__all__: list[str] = ["deform_conv2d"]

_NAME = "deform_conv2d"


def _to_channels_last(x):
    return ops.transpose(x, (0, 2, 3, 1))


def _to_channels_first(x):
    return ops.transpose(x, (0, 3, 1, 2))


def _describe(batch, rows, cols, channels, data_format: str) -> str:
    dims = (batch, rows, cols, channels)
    if data_format == "channels_first":
        dims = (batch, channels, rows, cols)
    return "(" + ", ".join("batch" if d is None else str(d) for d in dims) + ")"


def check_deform_conv2d_shapes(
    input_shape,
    offsets_shape,
    kernel_shape,
    mask_shape,
    strides,
    padding: str,
    dilation_rate,
    groups: int,
    data_format: str,
    bias_shape=None,
) -> int:
    """Validates the shapes of `deform_conv2d`'s arguments (channels_last
    shapes); returns the number of offset groups.

    Raises:
        ValueError: naming the argument and the expected shape.
    """
    if len(input_shape) != 4:
        raise ValueError(
            f"{_NAME}: `inputs` must have rank 4, i.e. shape "
            f"{av.spatial_description(2, data_format)}; received shape {tuple(input_shape)}."
        )
    if len(kernel_shape) != 4 or any(d is None for d in kernel_shape):
        raise ValueError(
            f"{_NAME}: `kernel` must have a known shape (kernel_h, kernel_w, "
            f"channels / groups, filters); received {tuple(kernel_shape)}."
        )
    batch, height, width, channels = input_shape
    kh, kw, cin_g, filters = kernel_shape
    if channels is None:
        raise ValueError(f"{_NAME}: `inputs` needs a known channel dimension.")
    if channels % groups:
        raise ValueError(
            f"{_NAME}: the input channels ({channels}) must be divisible by `groups`={groups}."
        )
    if cin_g != channels // groups or filters % groups:
        raise ValueError(
            f"{_NAME}: `kernel` must have shape ({kh}, {kw}, {channels // groups}, filters) "
            f"with filters divisible by `groups`={groups} (channels={channels}); "
            f"received {tuple(kernel_shape)}."
        )
    taps = kh * kw
    out_h = av.conv_output_length(height, kh, strides[0], padding, dilation_rate[0])
    out_w = av.conv_output_length(width, kw, strides[1], padding, dilation_rate[1])
    av.check_output_size(
        _NAME,
        input_shape,
        (out_h, out_w),
        kernel_size=(kh, kw),
        strides=tuple(strides),
        padding=padding,
        dilation_rate=tuple(dilation_rate),
    )
    if len(offsets_shape) != 4:
        raise ValueError(
            f"{_NAME}: `offsets` must have shape "
            f"{_describe(batch, out_h, out_w, f'offset_groups*{2 * taps}', data_format)}; "
            f"received {tuple(offsets_shape)}."
        )
    n_off = offsets_shape[-1]
    og = None if n_off is None else n_off // (2 * taps)
    if n_off is None or n_off % (2 * taps) or og < 1 or channels % og:
        raise ValueError(
            f"{_NAME}: `offsets` must have offset_groups*2*kernel_h*kernel_w = "
            f"offset_groups*{2 * taps} channels, with the input channels ({channels}) "
            f"divisible by offset_groups: expected shape "
            f"{_describe(batch, out_h, out_w, f'offset_groups*{2 * taps}', data_format)}; "
            f"received {tuple(offsets_shape)}."
        )

    def spatial_ok(shape):
        return all(
            a is None or b is None or a == b for a, b in zip(shape[1:3], (out_h, out_w))
        ) and (shape[0] is None or batch is None or shape[0] == batch)

    if not spatial_ok(offsets_shape):
        raise ValueError(
            f"{_NAME}: `offsets` must have shape "
            f"{_describe(batch, out_h, out_w, n_off, data_format)} (the output size of "
            f"the convolution); received {tuple(offsets_shape)}."
        )
    if mask_shape is not None:
        expected = _describe(batch, out_h, out_w, og * taps, data_format)
        if len(mask_shape) != 4 or mask_shape[-1] != og * taps or not spatial_ok(mask_shape):
            raise ValueError(
                f"{_NAME}: `mask` must have shape {expected} (offset_groups*kernel_h*kernel_w "
                f"channels); received {tuple(mask_shape)}."
            )
    if bias_shape is not None and tuple(bias_shape) != (filters,):
        raise ValueError(f"{_NAME}: `bias` must have shape ({filters},); received {bias_shape}.")
    return og


def compute(
    inputs, offsets, kernel, bias, mask, strides, padding, dilation_rate, groups, data_format
):
    """The computation of `deform_conv2d` on checked shapes and normalized
    arguments (`kcl.DeformableConv2D` calls it too)."""
    kernel = ops.cast(kernel, inputs.dtype)
    cf = data_format == "channels_first"
    if cf:
        inputs = _to_channels_last(inputs)
        offsets = _to_channels_last(offsets)
        if mask is not None:
            mask = _to_channels_last(mask)
    if is_empty_batch(inputs) and all(d is not None for d in offsets.shape[1:3]):
        # 0 examples: the kernels' batch chunking divides by the batch.
        shape = (0, offsets.shape[1], offsets.shape[2], kernel.shape[-1])
        outputs = ops.zeros(shape, inputs.dtype)
        return _to_channels_first(outputs) if cf else outputs
    if mask is not None:
        # float32 under mixed precision, as the offsets may be: the kernel
        # samples in float32 (the positions' and mask's gradients too).
        mask = ops.cast(mask, kernels.sample_dtype(inputs.dtype))
    outputs = kernels.deform_conv2d(
        inputs, offsets, kernel, mask, strides, padding, dilation_rate, groups
    )
    outputs = bias_add(outputs, bias, "channels_last")
    return _to_channels_first(outputs) if cf else outputs


@register_op
class DeformConv2D(Operation):
    """The operation of `deform_conv2d`."""

    def __init__(
        self,
        strides=1,
        padding: str = "valid",
        dilation_rate=1,
        groups: int = 1,
        data_format: str | None = None,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        self.arguments = {
            "strides": av.normalize_tuple(strides, 2, "strides", layer_name=_NAME),
            "padding": av.normalize_padding(padding, ("valid", "same"), layer_name=_NAME),
            "dilation_rate": av.normalize_tuple(
                dilation_rate, 2, "dilation_rate", layer_name=_NAME
            ),
            "groups": av.positive_int(groups, "groups", _NAME),
            "data_format": av.normalize_data_format(data_format, _NAME),
        }

    def _check(self, inputs, offsets, kernel, bias, mask) -> tuple:
        """Validates the shapes; returns the channels_last output shape."""
        a = self.arguments
        cf = a["data_format"] == "channels_first"

        def cl_shape(x):
            shape = static_shape(x)
            if cf and len(shape) == 4:
                shape = (shape[0], shape[2], shape[3], shape[1])
            return shape

        in_shape = cl_shape(inputs)
        check_deform_conv2d_shapes(
            in_shape,
            cl_shape(offsets),
            static_shape(kernel),
            None if mask is None else cl_shape(mask),
            a["strides"],
            a["padding"],
            a["dilation_rate"],
            a["groups"],
            a["data_format"],
            None if bias is None else static_shape(bias),
        )
        kh, kw = kernel.shape[0], kernel.shape[1]
        out_h = av.conv_output_length(
            in_shape[1], kh, a["strides"][0], a["padding"], a["dilation_rate"][0]
        )
        out_w = av.conv_output_length(
            in_shape[2], kw, a["strides"][1], a["padding"], a["dilation_rate"][1]
        )
        return in_shape[0], out_h, out_w, int(kernel.shape[-1])

    def call(self, inputs, offsets, kernel, bias=None, mask=None):
        self._check(inputs, offsets, kernel, bias, mask)
        return compute(inputs, offsets, kernel, bias, mask, **self.arguments)

    def compute_output_spec(self, inputs, offsets, kernel, bias=None, mask=None):
        batch, out_h, out_w, filters = self._check(inputs, offsets, kernel, bias, mask)
        if self.arguments["data_format"] == "channels_first":
            return keras.KerasTensor((batch, filters, out_h, out_w), dtype=inputs.dtype)
        return keras.KerasTensor((batch, out_h, out_w, filters), dtype=inputs.dtype)


def deform_conv2d(
    inputs,
    offsets,
    kernel,
    bias=None,
    mask=None,
    strides=1,
    padding: str = "valid",
    dilation_rate=1,
    groups: int = 1,
    data_format: str | None = None,
):
    """Deformable 2D convolution (DCN v1; v2 with `mask`), as
    `torchvision.ops.deform_conv2d` but with Keras layouts and padding.

    Each kernel tap `(ki, kj)` of output position `(i, j)` samples the input
    at `(i*s_h - pad_top + ki*d_h + dy, j*s_w - pad_left + kj*d_w + dx)` by
    bilinear interpolation (corners outside the input contribute zero),
    multiplied by the mask value when a mask is given; the samples are then
    convolved with `kernel`.  With zero offsets (and mask 1) this is
    `keras.ops.conv` with the same arguments.

    Args:
        inputs: (B, H, W, C) (channels_last) or (B, C, H, W).
        offsets: (B, H', W', offset_groups*kh*kw*2) or (B, offset_groups*kh*kw*2,
            H', W'); channels ordered `[offset group][kernel row][kernel col]
            [dy, dx]` (torchvision's order); H', W' the Keras conv output size.
            Offset group `g` moves the input channels
            `g*C/offset_groups ... (g+1)*C/offset_groups - 1`.
        kernel: (kh, kw, C/groups, filters), the Keras layout.
        bias: optional (filters,).
        mask: optional modulation (DCN v2), (B, H', W', offset_groups*kh*kw)
            or channels_first (B, offset_groups*kh*kw, H', W').
        strides: int or pair. Default 1.
        padding: `"valid"` or `"same"` (Keras arithmetic: the extra pad of an
            odd total goes at the end).
        dilation_rate: int or pair. Default 1.
        groups: int, channel groups of the convolution (as in Keras).
        data_format: `"channels_last"`, `"channels_first"` or None
            (`keras.config.image_data_format()`).

    Returns:
        (B, H', W', filters) or (B, filters, H', W'), in the dtype of `inputs`.

    Raises:
        ValueError: on bad arguments, or when `offsets`, `mask` or `kernel`
            do not match the input (the message names the argument and the
            expected shape), or the channels are not divisible by `groups` or
            the offset groups.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.random.rand(1, 8, 8, 4).astype("float32")
    >>> offsets = np.full((1, 6, 6, 2 * 3 * 3), 0.5, "float32")
    >>> kernel = np.ones((3, 3, 4, 2), "float32")
    >>> y = kcl.ops.deform_conv2d(x, offsets, kernel, data_format="channels_last")
    >>> tuple(y.shape)
    (1, 6, 6, 2)

    Reference: Dai et al., "Deformable Convolutional Networks" (2017),
    arXiv:1703.06211; Zhu et al., "Deformable ConvNets v2" (2019),
    arXiv:1811.11168.
    """
    operation = DeformConv2D(strides, padding, dilation_rate, groups, data_format)
    return run(operation, inputs, offsets, kernel, bias, mask)
