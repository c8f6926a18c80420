"""Plain numpy references of the pooling SPEC (direct loops, float64 compare)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def max_pool_with_argmax(x, k, s, padding, fmt="channels_last"):
    """`(values, indices)`: windows scanned row-major, strict `>`, so ties go
    to the lowest index; indices per example in `fmt`'s flat order."""
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (s, s) if isinstance(s, int) else s
    x = np.asarray(x)
    if fmt == "channels_first":
        x = np.moveaxis(x, 1, -1)
    b, h, w, c = x.shape
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        ph, pw = same_pads(h, kh, sh)[0], same_pads(w, kw, sw)[0]
    else:
        oh, ow, ph, pw = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0
    vals = np.zeros((b, oh, ow, c), x.dtype)
    idx = np.zeros((b, oh, ow, c), "int32")
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - ph, j * sw - pw
            for bb in range(b):
                for cc in range(c):
                    best = None
                    for r in range(max(r0, 0), min(r0 + kh, h)):
                        for q in range(max(c0, 0), min(c0 + kw, w)):
                            if best is None or x[bb, r, q, cc] > best[0]:
                                best = (x[bb, r, q, cc], r, q)
                    vals[bb, i, j, cc] = best[0]
                    if fmt == "channels_last":
                        idx[bb, i, j, cc] = (best[1] * w + best[2]) * c + cc
                    else:
                        idx[bb, i, j, cc] = (cc * h + best[1]) * w + best[2]
    if fmt == "channels_first":
        vals, idx = np.moveaxis(vals, -1, 1), np.moveaxis(idx, -1, 1)
    return np.ascontiguousarray(vals), np.ascontiguousarray(idx)


def max_unpool(x, indices, out_shape):
    """Zeros of per-example flat size `prod(out_shape)`, each in-range index
    receiving its value once (the max of the values that name it)."""
    x = np.asarray(x, "float64")
    b = x.shape[0]
    n = int(np.prod(out_shape))
    out = np.full((b, n), -np.inf)
    flat_x, flat_i = x.reshape(b, -1), np.asarray(indices).reshape(b, -1)
    for bb in range(b):
        for v, t in zip(flat_x[bb], flat_i[bb]):
            if 0 <= t < n:
                out[bb, t] = max(out[bb, t], v)
    out[np.isinf(out)] = 0.0
    return out.reshape((b, *out_shape))


def cl_to_cf_index(idx, h, w, c):
    """Channels_last flat indices -> the channels_first index of the same element."""
    idx = np.asarray(idx)
    hw, ch = idx // c, idx % c
    return ch * (h * w) + hw


def depthwise_filter(x, kernel2d, s, pads):
    """Channels_last depthwise cross-correlation of `x` with one 2D kernel,
    after padding `pads` = ((top, bottom), (left, right)) with zeros."""
    x = np.pad(np.asarray(x, "float64"), ((0, 0), pads[0], pads[1], (0, 0)))
    f = kernel2d.shape[0]
    sh, sw = (s, s) if isinstance(s, int) else s
    oh, ow = (x.shape[1] - f) // sh + 1, (x.shape[2] - f) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            win = x[:, i * sh : i * sh + f, j * sw : j * sw + f, :]
            out[:, i, j, :] = np.einsum("bhwc,hw->bc", win, kernel2d)
    return out


def max_pool_with_argmax_nd(x, k, s, padding, fmt="channels_last"):
    """`max_pool_with_argmax` over any number of spatial axes (`len(k)`):
    windows scanned in row-major order with a strict `>` (ties to the lowest
    index), indices per example in `fmt`'s flat order."""
    x = np.asarray(x)
    rank = x.ndim - 2
    k = (k,) * rank if isinstance(k, int) else tuple(k)
    s = (s,) * rank if isinstance(s, int) else tuple(s)
    if fmt == "channels_first":
        x = np.moveaxis(x, 1, -1)
    b, *sizes, c = x.shape
    if padding == "same":
        outs = [math.ceil(n / st) for n, st in zip(sizes, s)]
        pads = [same_pads(n, kk, st)[0] for n, kk, st in zip(sizes, k, s)]
    else:
        outs = [(n - kk) // st + 1 for n, kk, st in zip(sizes, k, s)]
        pads = [0] * rank
    vals = np.zeros((b, *outs, c), x.dtype)
    idx = np.zeros((b, *outs, c), "int32")
    for out in np.ndindex(*outs):
        starts = [o * st - p for o, st, p in zip(out, s, pads)]
        ranges = [range(max(st, 0), min(st + kk, n)) for st, kk, n in zip(starts, k, sizes)]
        for bb in range(b):
            for cc in range(c):
                best = None
                for pos in itertools.product(*ranges):
                    v = x[(bb, *pos, cc)]
                    if best is None or v > best[0]:
                        best = (v, pos)
                vals[(bb, *out, cc)] = best[0]
                flat = 0
                if fmt == "channels_last":
                    for p, n in zip(best[1], sizes):
                        flat = flat * n + p
                    flat = flat * c + cc
                else:
                    flat = cc
                    for p, n in zip(best[1], sizes):
                        flat = flat * n + p
                idx[(bb, *out, cc)] = flat
    if fmt == "channels_first":
        vals, idx = np.moveaxis(vals, -1, 1), np.moveaxis(idx, -1, 1)
    return np.ascontiguousarray(vals), np.ascontiguousarray(idx)
