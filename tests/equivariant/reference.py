"""Numpy references of the p4 / p4m group convolution, written from the
group's formulas (not from `keras_cv_layers.utils.equivariance`).

Element `g = m * 4 + i` is `rot^i . mirror^m`: mirror the width axis if
`m = 1`, then rotate by `i * 90` degrees counter-clockwise (`np.rot90`).
Since `mirror . rot = rot^-1 . mirror`, the product is
`(m1, i1) * (m2, i2) = (m1 xor m2, i1 + (-1)^m1 * i2 mod 4)`.
"""

from __future__ import annotations

import numpy as np

from tests import numpy_reference as ref

ORDERS = {"C4": 4, "D4": 8}


def mul(a: int, b: int) -> int:
    m1, i1 = divmod(a, 4)
    m2, i2 = divmod(b, 4)
    return (m1 ^ m2) * 4 + (i1 + (-1) ** m1 * i2) % 4


def inv(a: int) -> int:
    m, i = divmod(a, 4)
    return a if m else (-i) % 4  # mirrors are involutions


def act(image: np.ndarray, g: int, axes=(0, 1)) -> np.ndarray:
    """Applies element `g` to the (H, W) axes `axes` of `image`."""
    m, i = divmod(g, 4)
    if m:
        image = np.flip(image, axis=axes[1])
    return np.rot90(image, i, axes=axes)


def expand_kernel(kernel: np.ndarray, group: str, in_group: int) -> np.ndarray:
    """`K[:, :, (h, c), (g, f)] = g(W[:, :, (g^-1 h, c), f])` (lifting: h = 0 only)."""
    order = ORDERS[group]
    k, _, gc, filters = kernel.shape
    c = gc // in_group
    out = np.zeros((k, k, gc, order * filters), kernel.dtype)
    for g in range(order):
        for h in range(in_group):
            src = mul(inv(g), h) if in_group > 1 else 0
            block = kernel[:, :, src * c : (src + 1) * c, :]
            out[:, :, h * c : (h + 1) * c, g * filters : (g + 1) * filters] = act(block, g)
    return out


def group_conv2d(x, kernel, group, bias=None, strides=1, padding="valid", dilation_rate=1):
    """channels_last; x (B, H, W, C) or (B, H, W, G, C) -> (B, H', W', G, F)."""
    x = np.asarray(x, np.float64)
    in_group = 1 if x.ndim == 4 else x.shape[3]
    flat = x.reshape(x.shape[:3] + (-1,))
    expanded = expand_kernel(np.asarray(kernel, np.float64), group, in_group)
    y = ref.conv_nd(flat, expanded, strides, padding, dilation_rate)
    y = y.reshape(y.shape[:3] + (ORDERS[group], kernel.shape[-1]))
    return y if bias is None else y + bias


def rotate_group_map(y: np.ndarray) -> np.ndarray:
    """The documented action of a 90-degree rotation on (B, H, W, G, C):
    rotate H, W and move group index (m, i) to (m, i + 1 mod 4)."""
    y = np.rot90(y, 1, axes=(1, 2))
    out = np.empty_like(y)
    for j in range(y.shape[3]):
        m, i = divmod(j, 4)
        out[:, :, :, m * 4 + (i + 1) % 4] = y[:, :, :, j]
    return out


def mirror_group_map(y: np.ndarray) -> np.ndarray:
    """The documented action of the mirror on (B, H, W, 8, C): reverse W and
    move group index (m, i) to (1 - m, -i mod 4)."""
    y = np.flip(y, axis=2)
    out = np.empty_like(y)
    for j in range(8):
        m, i = divmod(j, 4)
        out[:, :, :, (1 - m) * 4 + (-i) % 4] = y[:, :, :, j]
    return out
