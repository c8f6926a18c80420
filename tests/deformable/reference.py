"""Plain numpy (float64) reference of deformable convolution, channels_last.

Written from torchvision's definition (direct loops over output positions
and kernel taps, bilinear interpolation where each corner outside the input
contributes zero), independently of the package's vectorized kernels.
"""

from __future__ import annotations

import math

import numpy as np


def same_pad_before(n: int, k: int, s: int, d: int) -> int:
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2


def out_size(n: int, k: int, s: int, d: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / s)
    return (n - (k - 1) * d - 1) // s + 1


def bilinear(img: np.ndarray, y: float, x: float) -> np.ndarray:
    """img (H, W, C); zero outside; torchvision's interpolation."""
    h, w = img.shape[:2]
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    out = np.zeros(img.shape[-1])
    for yy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[yy, xx]
    return out


def deform_conv2d(
    x,
    offsets,
    kernel,
    bias=None,
    mask=None,
    strides=(1, 1),
    padding="valid",
    dilation=(1, 1),
    groups=1,
):
    """x (B, H, W, C); offsets (B, H', W', og*kh*kw*2); kernel (kh, kw, C/groups, F)."""
    x = np.asarray(x, np.float64)
    offsets = np.asarray(offsets, np.float64)
    kernel = np.asarray(kernel, np.float64)
    b, h, w, c = x.shape
    kh, kw, cin_g, f = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    ho, wo = out_size(h, kh, sh, dh, padding), out_size(w, kw, sw, dw, padding)
    pt = same_pad_before(h, kh, sh, dh) if padding == "same" else 0
    pl = same_pad_before(w, kw, sw, dw) if padding == "same" else 0
    og = offsets.shape[-1] // (2 * kh * kw)
    cg = c // og
    off = offsets.reshape(b, ho, wo, og, kh, kw, 2)
    m = None if mask is None else np.asarray(mask, np.float64).reshape(b, ho, wo, og, kh, kw)
    fg = f // groups
    out = np.zeros((b, ho, wo, f))
    for n in range(b):
        for i in range(ho):
            for j in range(wo):
                cols = np.zeros((kh, kw, c))
                for g in range(og):
                    sl = slice(g * cg, (g + 1) * cg)
                    for ki in range(kh):
                        for kj in range(kw):
                            dy, dx = off[n, i, j, g, ki, kj]
                            y = i * sh - pt + ki * dh + dy
                            xx = j * sw - pl + kj * dw + dx
                            v = bilinear(x[n, :, :, sl], y, xx)
                            if m is not None:
                                v = v * m[n, i, j, g, ki, kj]
                            cols[ki, kj, sl] = v
                for gr in range(groups):
                    patch = cols[:, :, gr * cin_g : (gr + 1) * cin_g]
                    k = kernel[..., gr * fg : (gr + 1) * fg]
                    out[n, i, j, gr * fg : (gr + 1) * fg] = np.tensordot(patch, k, axes=3)
    if bias is not None:
        out += np.asarray(bias, np.float64)
    return out
