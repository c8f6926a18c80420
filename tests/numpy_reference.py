"""Plain numpy (float64) references of the SPEC formulas, used by the layer tests.

Written independently of the package (direct loops, Keras/TF padding
arithmetic) so that the tests check the layers against the SPEC, not against
themselves.
"""

from __future__ import annotations

import math

import numpy as np


# ----------------------------------------------------------------- layouts
def to_channels_first(x):
    """(B, *S, C) -> (B, C, *S)."""
    x = np.asarray(x)
    return np.moveaxis(x, -1, 1)


def to_channels_last(x):
    """(B, C, *S) -> (B, *S, C)."""
    x = np.asarray(x)
    return np.moveaxis(x, 1, -1)


# ------------------------------------------------------------ convolutions
def same_padding(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TF/Keras "same": total = max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0)."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def _tuple(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


def conv_nd(x, kernel, strides=1, padding="valid", dilation_rate=1, groups=1):
    """N-D cross-correlation, channels_last, Keras semantics.

    x: (B, *S, C_in); kernel: (*K, C_in / groups, F). Input channels and output
    filters are split into `groups` consecutive blocks (Keras/TF convention).
    padding: "valid", "same" or "causal" (1-D only: left pad (k-1)*d).
    """
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    rank = x.ndim - 2
    ksize = kernel.shape[:rank]
    strides = _tuple(strides, rank)
    dilation = _tuple(dilation_rate, rank)
    if padding == "causal":
        assert rank == 1
        pads = [((ksize[0] - 1) * dilation[0], 0)]
    elif padding == "same":
        pads = [
            same_padding(x.shape[1 + a], ksize[a], strides[a], dilation[a]) for a in range(rank)
        ]
    elif padding == "valid":
        pads = [(0, 0)] * rank
    else:
        raise ValueError(padding)
    x = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out_spatial = [
        (x.shape[1 + a] - ((ksize[a] - 1) * dilation[a] + 1)) // strides[a] + 1 for a in range(rank)
    ]
    filters = kernel.shape[-1]
    cin_g = kernel.shape[-2]
    f_g = filters // groups
    assert x.shape[-1] == cin_g * groups
    out = np.zeros((x.shape[0], *out_spatial, filters))
    for idx in np.ndindex(*ksize):
        sl = tuple(
            slice(
                idx[a] * dilation[a],
                idx[a] * dilation[a] + (out_spatial[a] - 1) * strides[a] + 1,
                strides[a],
            )
            for a in range(rank)
        )
        patch = x[(slice(None),) + sl]
        for g in range(groups):
            out[..., g * f_g : (g + 1) * f_g] += (
                patch[..., g * cin_g : (g + 1) * cin_g] @ kernel[idx][:, g * f_g : (g + 1) * f_g]
            )
    return out


def depthwise_conv2d(x, kernel, strides=1, padding="valid", dilation_rate=1):
    """Depthwise conv, channels_last; kernel (kh, kw, C, M); output channel c*M+m."""
    kernel = np.asarray(kernel, np.float64)
    kh, kw, c, m = kernel.shape
    return conv_nd(x, kernel.reshape(kh, kw, 1, c * m), strides, padding, dilation_rate, groups=c)


# --------------------------------------------------------- kernel transforms
def weightnorm_kernel(kernel, wn_g, eps):
    """kernel / sqrt(sum(kernel**2 over all axes but the last) + eps) * wn_g."""
    kernel = np.asarray(kernel, np.float64)
    axes = tuple(range(kernel.ndim - 1))
    return kernel / np.sqrt(np.sum(kernel**2, axis=axes, keepdims=True) + eps) * wn_g


def depthwise_weightnorm_kernel(kernel, wn_g, eps):
    """Norm per (input channel, multiplier) over the spatial axes; wn_g[c*M+m]."""
    kernel = np.asarray(kernel, np.float64)
    kh, kw, c, m = kernel.shape
    out = np.empty_like(kernel)
    for ci in range(c):
        for mi in range(m):
            k = kernel[:, :, ci, mi]
            out[:, :, ci, mi] = k / np.sqrt(np.sum(k**2) + eps) * wn_g[ci * m + mi]
    return out


def equalize_kernel(kernel, fan_in):
    return np.asarray(kernel, np.float64) * np.sqrt(2.0 / fan_in)


def ws_kernel(kernel, eps):
    """timm StdConv2d: per filter (last axis), biased variance."""
    kernel = np.asarray(kernel, np.float64)
    out = np.empty_like(kernel)
    for f in range(kernel.shape[-1]):
        k = kernel[..., f]
        out[..., f] = (k - k.mean()) / np.sqrt(k.var() + eps)
    return out


def sws_kernel(kernel, gain, gamma, eps):
    """timm ScaledStdConv2d: gain * gamma * ws(kernel) / sqrt(fan_in)."""
    kernel = np.asarray(kernel, np.float64)
    fan_in = int(np.prod(kernel.shape[:-1]))
    return np.asarray(gain) * gamma * ws_kernel(kernel, eps) / np.sqrt(fan_in)


# ---------------------------------------------------------------- coordinates
def coords_1d(n):
    """[-1, 1] over n positions; 0 for n == 1."""
    if n == 1:
        return np.zeros(1)
    return np.linspace(-1.0, 1.0, n)


def add_coords2d(x, with_r=False):
    """channels_last: append row coord, column coord (and radius)."""
    x = np.asarray(x, np.float64)
    b, h, w, _ = x.shape
    yy, xx = np.meshgrid(coords_1d(h), coords_1d(w), indexing="ij")
    chans = [yy, xx]
    if with_r:
        chans.append(np.sqrt(yy**2 + xx**2))
    coords = np.broadcast_to(np.stack(chans, -1)[None], (b, h, w, len(chans)))
    return np.concatenate([x, coords], axis=-1)


# -------------------------------------------------------------- normalization
def standardize(x, axes, eps):
    """(x - mean) / (std + eps), biased std over `axes`."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    std = np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True))
    return (x - mean) / (std + eps)


def standardize_vjp(x, g, axes, eps):
    """Gradient of sum(g * standardize(x)) w.r.t. x (through mean and std)."""
    x = np.asarray(x, np.float64)
    n = int(np.prod([x.shape[a] for a in axes]))
    c = x - x.mean(axis=axes, keepdims=True)
    s = np.sqrt((c**2).mean(axis=axes, keepdims=True))
    d = s + eps
    # y = c / d, d = s + eps, s = sqrt(mean(c**2)), c = x - mean(x).
    dc = g / d - c * np.sum(g * c, axis=axes, keepdims=True) / (d**2 * s * n)
    return dc - dc.mean(axis=axes, keepdims=True)


# ---------------------------------------------------------------- activations
def softplus(x):
    return np.logaddexp(0.0, x)


def mish(x):
    x = np.asarray(x, np.float64)
    return x * np.tanh(softplus(x))


def swish(x, beta=1.0):
    x = np.asarray(x, np.float64)
    return x / (1.0 + np.exp(-beta * x))
