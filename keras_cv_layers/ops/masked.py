"""Masked convolutions: `partial_conv`, `sparse_conv`, `partial_depthwise_conv2d`.

A masked convolution sees only the valid inputs of each window and
renormalizes by their fraction:

    norm = conv(mask, ones / window_size)               # fraction of valid inputs
    y    = conv(x * mask, k) / norm + bias              where norm > eps
    y    = 0                                            where norm <= eps
    mask_out = float(norm > eps) if binary else norm

`x * mask` means `x` where the mask is nonzero and 0 elsewhere, whatever
`x` holds there (NaN and Inf included): a masked-out value never reaches
`y` or the gradients.

The normalizer is a convolution of a one-channel (or one-per-group /
per-channel) mask with a ones kernel, never a full `C_in x filters`
convolution of ones, computed in float32 (exact fractions under mixed
precision); zero padding counts as invalid.

This module holds the one implementation of that math: `masked_convolution`
and the normalizers, which the public ops here and the layers
`kcl.PartialConv*`, `kcl.SparseConv*` and `kcl.PartialDepthwiseConv2D`
(which add weights, kernel transforms and the activation) compute through.
"""

from __future__ import annotations

import functools

import keras
from keras import activations, ops

from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.ops._operation import Operation, register_op, run, static_shape
from keras_cv_layers.utils import argument_validation as av

__all__: list[str] = ["partial_conv", "partial_depthwise_conv2d", "sparse_conv"]


# ------------------------------------------------------------------ the math
def _ones_conv(mask, window_shape, channels_in: int, channels_out: int, denominator, conv):
    """`conv(mask, ones / denominator)` with a `window_shape + (channels_in,
    channels_out)` kernel (`channels_in < channels_out` blocks: grouped)."""
    kernel = ops.ones(tuple(window_shape) + (channels_in, channels_out), "float32")
    return conv(mask, kernel / float(denominator))


def sparse_normalizer(mask, window_shape, conv):
    """Valid fraction of each window of a one-channel float32 mask (Sparse).

    `conv(inputs, kernel)`: a plain convolution with the strides, padding,
    dilation and data format of the masked convolution."""
    return _ones_conv(mask, window_shape, 1, 1, av.prod(window_shape), conv)


def _group_sums(mask, groups: int, channel_axis: int):
    """(B, ..., C) -> (B, ..., groups): the mask summed per channel group."""
    per_group = mask.shape[channel_axis] // groups
    sums = []
    for g in range(groups):
        start, stop = g * per_group, (g + 1) * per_group
        part = mask[..., start:stop] if channel_axis == -1 else mask[:, start:stop]
        sums.append(ops.sum(part, axis=channel_axis, keepdims=True))
    return ops.concatenate(sums, axis=channel_axis)


def partial_normalizer(mask, window_shape, groups: int, filters: int, channel_axis: int, conv):
    """Valid fraction of each window x channels of a float32 mask with 1 or
    C_in channels (Partial), one channel or, with `groups` > 1 and a
    per-channel mask, one per output filter (the fraction of its group's
    window x channels, in Keras' filter order).  `conv` as in
    `sparse_normalizer`."""
    window = av.prod(window_shape)
    channels = mask.shape[channel_axis]
    if channels == 1:
        return _ones_conv(mask, window_shape, 1, 1, window, conv)
    if groups == 1:
        summed = ops.sum(mask, axis=channel_axis, keepdims=True)
        return _ones_conv(summed, window_shape, 1, 1, window * channels, conv)
    per_group = channels // groups
    sums = _group_sums(mask, groups, channel_axis)
    norm = _ones_conv(sums, window_shape, 1, groups, window * per_group, conv)
    return ops.repeat(norm, filters // groups, axis=channel_axis)


def depthwise_normalizer(
    mask, window_shape, depth_multiplier: int, channel_axis: int, conv, depthwise_conv
):
    """Valid fraction of each window of each channel of a float32 mask with
    1 or C_in channels (PartialDepthwise): one channel, or the C_in *
    depth_multiplier output channels in their order `c * depth_multiplier +
    m`.  `conv`, `depthwise_conv`: the plain and depthwise convolutions with
    the geometry of the masked convolution."""
    window = av.prod(window_shape)
    channels = mask.shape[channel_axis]
    if channels == 1:
        return _ones_conv(mask, window_shape, 1, 1, window, conv)
    return _ones_conv(mask, window_shape, channels, depth_multiplier, window, depthwise_conv)


def nonzero_mask(x):
    """The derived mask of the partial convolutions: `x != 0`, float32."""
    return ops.cast(ops.not_equal(x, 0.0), "float32")


def any_nonzero_mask(x, channel_axis: int):
    """The derived mask of the sparse convolutions: any channel `!= 0`, float32."""
    return ops.cast(ops.any(ops.not_equal(x, 0.0), axis=channel_axis, keepdims=True), "float32")


def masked_convolution(
    x,
    mask,
    convolve,
    normalizer,
    default_mask,
    bias,
    *,
    binary: bool,
    eps: float,
    data_format: str,
    mask_channels: int,
    activation=None,
):
    """`(y, mask_out)` of a masked convolution (see the module docstring).

    Args:
        x: the input; `mask`: its mask (validated), or None to derive one
            with `default_mask(x)` (float32; 0 exactly where `x` is 0).
        convolve: `convolve(masked_x)`, the convolution of the masked input
            with the (effective) kernel.
        normalizer: `normalizer(mask)`: the valid fraction (float32) of the
            float32 mask, with 1 channel or the output channels.
        bias: None or the bias, added where the output is valid.
        binary, eps: `mask_out = float(norm > eps)` if `binary` else `norm`.
        data_format: of `x`, `mask` and the outputs.
        mask_channels: channels of `mask_out` (a one-channel normalizer is
            broadcast to them).
        activation: applied to the valid outputs (the layers').

    Returns:
        `(y, mask_out)`, in the dtype of the convolution's output.
    """
    channel_axis = av.channel_axis(data_format)
    if mask is None:
        # The derived mask is 0 exactly where x is 0: x * mask == x.
        masked_x = x
        mask32 = default_mask(x)
    else:
        # `where` first: a NaN or Inf behind the mask must not reach `y`
        # (NaN * 0 is NaN), nor the gradients.
        mask_x = ops.cast(mask, x.dtype)
        masked_x = ops.where(ops.not_equal(mask_x, 0.0), x, ops.zeros((), x.dtype)) * mask_x
        mask32 = ops.cast(mask, "float32")
    norm = normalizer(mask32)
    valid = ops.greater(norm, eps)
    # Safe denominator: finite values and gradients where norm <= eps.
    inverse = ops.where(valid, 1.0 / ops.where(valid, norm, 1.0), 0.0)
    outputs = convolve(masked_x)
    outputs = outputs * ops.cast(inverse, outputs.dtype)
    valid_f = ops.cast(valid, outputs.dtype)
    # Without bias and activation, outputs are already exactly 0 where the
    # normalizer is invalid: the inverse is 0 there.
    if activation not in (None, activations.linear):
        outputs = activation(conv_ops.bias_add(outputs, bias, data_format))
        outputs = ops.where(valid, outputs, ops.zeros((), outputs.dtype))
    elif bias is not None:
        # The pre-activation is the (finite) bias where invalid: a product
        # zeroes it (cheaper than `where` on eager backends).
        outputs = conv_ops.bias_add(outputs, bias, data_format) * valid_f
    mask_out = valid_f if binary else ops.cast(norm, outputs.dtype)
    if mask_out.shape[channel_axis] == 1 and mask_channels != 1:
        # A view, not a copy, on torch; the compiled backends fuse it.
        shape = list(ops.shape(mask_out))
        shape[channel_axis] = mask_channels
        mask_out = ops.broadcast_to(mask_out, shape)
    return outputs, mask_out


# ---------------------------------------------------------------- shape checks
def allowed_mask_channels(in_channels: int, per_channel: bool) -> tuple:
    """Channel counts a mask may have: 1, or also `in_channels` if `per_channel`."""
    return (1, in_channels) if per_channel and in_channels != 1 else (1,)


def check_mask_shape(x_shape, mask_shape, allowed: tuple, data_format: str, prefix: str) -> None:
    """Raises `ValueError("{prefix} of shape ...")` unless `mask_shape` has
    the rank, batch and spatial shape of `x_shape` and `allowed` channels."""
    x_shape, mask_shape = tuple(x_shape), tuple(mask_shape)
    channel_axis = av.channel_axis(data_format) % len(x_shape)
    ok = len(mask_shape) == len(x_shape) and mask_shape[channel_axis] in allowed
    if ok:
        for axis, (a, b) in enumerate(zip(x_shape, mask_shape)):
            if axis != channel_axis and a is not None and b is not None and a != b:
                ok = False
    if not ok:
        wanted = " or ".join(str(c) for c in allowed)
        description = av.spatial_description(len(x_shape) - 2, data_format, wanted)
        raise ValueError(
            f"{prefix} of shape {description} with the batch and spatial shape of "
            f"`x`; received x of shape {x_shape} and mask of shape {mask_shape}."
        )


# ----------------------------------------------------------------- operations
class _MaskedConv(Operation):
    """The operation of a masked convolution op; subclasses define the
    kernel layout, the mask channels and the normalizer."""

    op_name: str
    #: The spatial ranks the op takes (from the kernel's rank).
    ranks: tuple = (1, 2, 3)

    def __init__(
        self, rank, strides, padding, dilation_rate, binary, data_format, eps, *, name=None
    ):
        super().__init__(name=name)
        where = self.op_name
        if rank not in self.ranks:
            ranks = " or ".join(str(r + 2) for r in self.ranks)
            raise ValueError(
                f"{where}: `kernel` must have rank {ranks} (kernel_size + (channels, "
                f"filters)); received a kernel of rank {rank + 2}."
            )
        self.rank = rank
        strides = av.normalize_tuple(strides, rank, "strides", layer_name=where)
        dilation_rate = av.normalize_tuple(dilation_rate, rank, "dilation_rate", layer_name=where)
        if max(strides) > 1 and max(dilation_rate) > 1:
            raise ValueError(
                f"{where}: `strides` > 1 together with `dilation_rate` > 1 is not supported; "
                f"received strides={strides}, dilation_rate={dilation_rate}."
            )
        binary = av.check_bool(binary, "binary", where)
        # Here `eps` is only the validity threshold `norm > eps`: 0 is allowed.
        eps = av.check_float(eps, "eps", where, allow_zero=True)
        self.arguments = {
            "rank": rank,
            "strides": strides,
            "padding": av.normalize_padding(padding, ("valid", "same"), layer_name=where),
            "dilation_rate": dilation_rate,
            "binary": binary,
            "data_format": av.normalize_data_format(data_format, where),
            "eps": float(eps),
        }

    # Hooks ----------------------------------------------------------------
    per_channel_mask = True

    def output_channels(self, in_channels: int, kernel_shape) -> int:
        """Output channels; raises if the kernel does not fit the input."""
        raise NotImplementedError

    def mask_channels(self, output_channels: int) -> int:
        return output_channels

    def default_mask(self, x):
        return nonzero_mask(x)

    def normalizer(self, mask, kernel_shape, conv, depthwise_conv):
        raise NotImplementedError

    def convolve(self, x, kernel, conv, depthwise_conv):
        return conv(x, kernel)

    # ----------------------------------------------------------------------
    def _check(self, x, mask, kernel, bias) -> tuple:
        """Validates the shapes; returns `(y shape, mask_out shape)`."""
        where, a = self.op_name, self.arguments
        x_shape, kernel_shape = static_shape(x), static_shape(kernel)
        ndim = self.rank + 2
        if len(x_shape) != ndim:
            raise ValueError(
                f"{where}: `x` must have rank {ndim}, i.e. shape "
                f"{av.spatial_description(self.rank, a['data_format'])}, for a kernel of "
                f"shape {kernel_shape}; received shape {x_shape}."
            )
        channels = x_shape[av.channel_axis(a["data_format"])]
        if channels is None or len(kernel_shape) != ndim or None in kernel_shape:
            raise ValueError(
                f"{where}: `x` needs a known channel dimension and `kernel` a known shape; "
                f"received x of shape {x_shape} and kernel of shape {kernel_shape}."
            )
        out = self.output_channels(channels, kernel_shape)
        if mask is not None:
            allowed = allowed_mask_channels(channels, self.per_channel_mask)
            check_mask_shape(
                x_shape, static_shape(mask), allowed, a["data_format"], f"{where}: `mask` must be"
            )
        if bias is not None and static_shape(bias) != (out,):
            raise ValueError(
                f"{where}: `bias` must have shape ({out},); received {static_shape(bias)}."
            )
        y_shape = av.conv_output_shape(
            x_shape,
            out,
            kernel_shape[:-2],
            a["strides"],
            a["padding"],
            a["dilation_rate"],
            a["data_format"],
            owner=where,
        )
        mask_shape = list(y_shape)
        mask_shape[av.channel_axis(a["data_format"])] = self.mask_channels(out)
        return y_shape, tuple(mask_shape)

    def call(self, x, mask, kernel, bias=None):
        y_shape, _ = self._check(x, mask, kernel, bias)
        a = self.arguments
        geometry = {k: a[k] for k in ("strides", "padding", "dilation_rate", "data_format")}
        conv = functools.partial(conv_ops.conv, **geometry)
        depthwise_conv = functools.partial(conv_ops.depthwise_conv, **geometry)
        kernel_shape = static_shape(kernel)
        out = y_shape[av.channel_axis(a["data_format"])]
        return masked_convolution(
            x,
            mask,
            lambda z: self.convolve(z, ops.cast(kernel, z.dtype), conv, depthwise_conv),
            lambda m: self.normalizer(m, kernel_shape, conv, depthwise_conv),
            self.default_mask,
            bias,
            binary=a["binary"],
            eps=a["eps"],
            data_format=a["data_format"],
            mask_channels=self.mask_channels(out),
        )

    def compute_output_spec(self, x, mask, kernel, bias=None):
        y_shape, mask_shape = self._check(x, mask, kernel, bias)
        return (
            keras.KerasTensor(y_shape, dtype=x.dtype),
            keras.KerasTensor(mask_shape, dtype=x.dtype),
        )


class _GroupedMaskedConv(_MaskedConv):
    """A masked convolution with a `(*kernel_size, C_in / groups, filters)`
    kernel (`groups` inferred, as `keras.ops.conv` does)."""

    def output_channels(self, in_channels, kernel_shape):
        per_group, filters = kernel_shape[-2:]
        if per_group < 1 or in_channels % per_group or filters % (in_channels // per_group):
            raise ValueError(
                f"{self.op_name}: `kernel` must have shape kernel_size + (channels / groups, "
                f"filters) with the input channels ({in_channels}) and filters divisible by "
                f"groups; received kernel of shape {kernel_shape}."
            )
        return filters


@register_op
class PartialConv(_GroupedMaskedConv):
    """The operation of `partial_conv`."""

    op_name = "partial_conv"

    def normalizer(self, mask, kernel_shape, conv, depthwise_conv):
        channel_axis = av.channel_axis(self.arguments["data_format"])
        per_group, filters = kernel_shape[-2:]
        # Used for a per-channel mask only, which has the input's channels.
        groups = mask.shape[channel_axis] // per_group
        return partial_normalizer(mask, kernel_shape[:-2], groups, filters, channel_axis, conv)


@register_op
class SparseConv(_GroupedMaskedConv):
    """The operation of `sparse_conv`."""

    op_name = "sparse_conv"
    per_channel_mask = False

    def mask_channels(self, output_channels):
        return 1

    def default_mask(self, x):
        return any_nonzero_mask(x, av.channel_axis(self.arguments["data_format"]))

    def normalizer(self, mask, kernel_shape, conv, depthwise_conv):
        return sparse_normalizer(mask, kernel_shape[:-2], conv)


@register_op
class PartialDepthwiseConv(_MaskedConv):
    """The operation of `partial_depthwise_conv2d`."""

    op_name = "partial_depthwise_conv2d"
    ranks = (2,)

    def output_channels(self, in_channels, kernel_shape):
        if kernel_shape[2] != in_channels:
            raise ValueError(
                f"{self.op_name}: `kernel` must have shape (kernel_h, kernel_w, "
                f"{in_channels}, depth_multiplier) for {in_channels} input channels; "
                f"received kernel of shape {kernel_shape}."
            )
        return in_channels * kernel_shape[3]

    def normalizer(self, mask, kernel_shape, conv, depthwise_conv):
        channel_axis = av.channel_axis(self.arguments["data_format"])
        return depthwise_normalizer(
            mask, kernel_shape[:2], kernel_shape[3], channel_axis, conv, depthwise_conv
        )

    def convolve(self, x, kernel, conv, depthwise_conv):
        return depthwise_conv(x, kernel)


# ------------------------------------------------------------- public functions
_ARGS = """
        bias: optional `(out_channels,)`, added where the output is valid.
        strides: int or tuple of ints (one per spatial axis). Default 1.
        padding: `"valid"` or `"same"` (Keras arithmetic).  For the layers'
            1D `"causal"`, pad `x` and `mask` with zeros on the left first.
        dilation_rate: int or tuple of ints. Default 1 (not together with
            strides > 1).
        binary: bool. True: `mask_out = float(norm > eps)`; False:
            `mask_out = norm`, the valid fraction. Default True.
        data_format: `"channels_last"`, `"channels_first"` or None
            (`keras.config.image_data_format()`), for `x`, `mask` and the
            outputs.
        eps: float >= 0, the validity threshold of the normalizer.
            Default 1e-6.
"""


def _public_function(name: str, operation_class: type, doc: str):
    """The public function `name` of a masked convolution op: the three
    ops take the same arguments (the layers', without the activation and
    the kernel transforms)."""

    def function(
        x,
        mask,
        kernel,
        bias=None,
        strides=1,
        padding: str = "valid",
        dilation_rate=1,
        binary: bool = True,
        data_format: str | None = None,
        eps: float = 1e-6,
    ):
        rank = len(kernel.shape) - 2
        operation = operation_class(rank, strides, padding, dilation_rate, binary, data_format, eps)
        return run(operation, x, mask, kernel, bias)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc.replace("{args}", _ARGS)
    return function


_PARTIAL_CONV_DOC = """Partial convolution with mask update, 1D, 2D or 3D.

    The convolution sees only the valid inputs of each window and is
    renormalized by their fraction of the window x channels:

        norm = conv(mask, ones / (window_size * C_in))   # valid fraction
        y = conv(x * mask, kernel) / norm + bias          where norm > eps
        y = 0                                             where norm <= eps
        mask_out = float(norm > eps) if binary else norm

    Zero padding counts as invalid; values of `x` where the mask is 0 never
    change `y`.  With a grouped kernel (`C_in / groups` input channels, as
    `keras.ops.conv`) each filter is normalized by its own group's valid
    fraction.  This is `kcl.PartialConv1D/2D/3D` without the activation and
    the kernel transforms (the layers compute through it).

    Args:
        x: `(batch, *spatial, C_in)` (channels_last) or `(batch, C_in,
            *spatial)`; the rank (1, 2 or 3 spatial axes) is the kernel's.
        mask: the same batch and spatial shape with C_in or 1 channels
            (broadcast), values in [0, 1]; or None: `x != 0`.
        kernel: `(*kernel_size, C_in / groups, filters)`, the Keras layout.{args}
    Returns:
        `(y, mask_out)`, both with `filters` channels (`mask_out` the same
        for the filters of a group), in the dtype of `x`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.ones((1, 4, 4, 2), "float32")
    >>> mask = np.zeros((1, 4, 4, 1), "float32"); mask[0, :2, :2] = 1.0
    >>> kernel = np.ones((3, 3, 2, 1), "float32")
    >>> y, m = kcl.ops.partial_conv(x, mask, kernel, padding="same",
    ...                             data_format="channels_last")
    >>> np.asarray(y)[0, :, :, 0].round(2).tolist()
    [[18.0, 18.0, 18.0, 0.0], [18.0, 18.0, 18.0, 0.0], [18.0, 18.0, 18.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    >>> tuple(m.shape)
    (1, 4, 4, 1)

    Reference: Liu et al., "Image Inpainting for Irregular Holes Using
    Partial Convolutions" (2018), arXiv:1804.07723.
    """

_SPARSE_CONV_DOC = """Sparsity-invariant convolution with mask update, 1D, 2D or 3D.

    The mask has one channel (a position is valid or not, for all its
    channels); the convolution is renormalized by the valid fraction of the
    window:

        norm = conv(mask, ones / window_size)
        y = conv(x * mask, kernel) / norm + bias          where norm > eps
        y = 0                                             where norm <= eps
        mask_out = float(norm > eps) if binary else norm

    Zero padding counts as invalid; values of `x` where the mask is 0 never
    change `y`.  This is `kcl.SparseConv1D/2D/3D` without the activation and
    the kernel transforms (the layers compute through it).

    Args:
        x: `(batch, *spatial, C_in)` (channels_last) or `(batch, C_in,
            *spatial)`; the rank (1, 2 or 3 spatial axes) is the kernel's.
        mask: the same batch and spatial shape with 1 channel, values in
            [0, 1]; or None: valid where any channel of `x` is non-zero.
        kernel: `(*kernel_size, C_in / groups, filters)`, the Keras layout.{args}
    Returns:
        `(y, mask_out)`: `y` with `filters` channels and `mask_out` with 1
        channel, in the dtype of `x`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.ones((1, 5, 3), "float32")
    >>> mask = np.array([1, 1, 0, 0, 1], "float32").reshape(1, 5, 1)
    >>> y, m = kcl.ops.sparse_conv(x, mask, np.ones((3, 3, 2), "float32"),
    ...                            binary=False, data_format="channels_last")
    >>> np.asarray(y)[0, :, 0].tolist(), [round(float(v), 3) for v in np.asarray(m)[0, :, 0]]
    ([9.0, 9.0, 9.0], [0.667, 0.333, 0.333])

    Reference: Uhrig et al., "Sparsity Invariant CNNs" (2017),
    arXiv:1708.06500.
    """

_PARTIAL_DEPTHWISE_CONV2D_DOC = """Partial depthwise 2D convolution with mask update.

    Output channel `c * depth_multiplier + m` sees input channel `c` only, so
    the valid fraction is per channel:

        norm_c = depthwise_conv(mask_c, ones / window_size)
        y = depthwise_conv(x * mask, kernel) / norm + bias   where norm > eps
        y = 0                                                where norm <= eps
        mask_out = float(norm > eps) if binary else norm

    Zero padding counts as invalid; values of `x` where the mask is 0 never
    change `y`.  This is `kcl.PartialDepthwiseConv2D` without the activation
    and the kernel transforms (the layer computes through it).

    Args:
        x: `(batch, height, width, C)` (channels_last) or `(batch, C,
            height, width)`.
        mask: the same batch and spatial shape with C or 1 channels
            (broadcast), values in [0, 1]; or None: `x != 0`.
        kernel: `(kernel_h, kernel_w, C, depth_multiplier)`, the Keras
            depthwise layout.{args}
    Returns:
        `(y, mask_out)`, both with `C * depth_multiplier` channels, in the
        dtype of `x`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.ones((1, 4, 4, 2), "float32")
    >>> mask = np.ones_like(x); mask[..., 1] = 0.0
    >>> y, m = kcl.ops.partial_depthwise_conv2d(
    ...     x, mask, np.ones((3, 3, 2, 1), "float32"), data_format="channels_last")
    >>> np.asarray(y)[0, 0, 0].tolist(), np.asarray(m)[0, 0, 0].tolist()
    ([9.0, 0.0], [1.0, 0.0])

    Reference: Liu et al., "Image Inpainting for Irregular Holes Using
    Partial Convolutions" (2018), arXiv:1804.07723.
    """

partial_conv = _public_function("partial_conv", PartialConv, _PARTIAL_CONV_DOC)
sparse_conv = _public_function("sparse_conv", SparseConv, _SPARSE_CONV_DOC)
partial_depthwise_conv2d = _public_function(
    "partial_depthwise_conv2d", PartialDepthwiseConv, _PARTIAL_DEPTHWISE_CONV2D_DOC
)
