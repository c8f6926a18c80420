"""Numpy (float64) references of the SPEC "Masked convolutions" formulas.

Independent of the package: the normaliser is computed the long way, as a
convolution of the mask broadcast to (..., C_in) with a ones kernel of the
layer's full kernel shape (C_in/groups x filters for Partial), divided by the
number of kernel taps each output sees.  Channels_last throughout.
"""

from __future__ import annotations

import numpy as np

from tests import numpy_reference as ref


def _act(name, y):
    if name is None:
        return y
    if name == "relu":
        return np.maximum(y, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-y))
    raise ValueError(name)


def default_mask(x, mode):
    nonzero = (np.asarray(x) != 0).astype(np.float64)
    if mode == "sparse":
        return nonzero.max(axis=-1, keepdims=True)
    return nonzero


def masked_conv(
    x,
    mask,
    kernel,
    mode,
    bias=None,
    strides=1,
    padding="valid",
    dilation_rate=1,
    groups=1,
    activation=None,
    binary=True,
    eps=1e-6,
):
    """`(y, mask_out)` of a Sparse (`mode="sparse"`), Partial (`"partial"`)
    or PartialDepthwise (`"depthwise"`, kernel (kh, kw, C, M)) convolution
    with the effective `kernel` (transforms already applied)."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    rank = x.ndim - 2
    mask = default_mask(x, mode) if mask is None else np.asarray(mask, np.float64)
    conv_args = dict(strides=strides, padding=padding, dilation_rate=dilation_rate)
    if mode == "sparse":
        taps = np.ones(kernel.shape[:rank] + (1, 1))
        norm = ref.conv_nd(mask, taps, **conv_args) / taps.size
        y = ref.conv_nd(x * mask, kernel, groups=groups, **conv_args)
    elif mode == "partial":
        full = np.broadcast_to(mask, x.shape)
        taps = np.ones(kernel.shape)
        norm = ref.conv_nd(full, taps, groups=groups, **conv_args) / np.prod(kernel.shape[:-1])
        y = ref.conv_nd(x * mask, kernel, groups=groups, **conv_args)
    elif mode == "depthwise":
        full = np.broadcast_to(mask, x.shape)
        taps = np.ones(kernel.shape)
        norm = ref.depthwise_conv2d(full, taps, **conv_args) / np.prod(kernel.shape[:2])
        y = ref.depthwise_conv2d(x * mask, kernel, **conv_args)
    else:
        raise ValueError(mode)
    valid = norm > eps
    pre = y / np.where(valid, norm, 1.0)
    if bias is not None:
        pre = pre + np.asarray(bias, np.float64)
    y = np.where(valid, _act(activation, pre), 0.0)
    mask_out = valid.astype(np.float64) if binary else norm
    return y, mask_out
