"""Plain numpy (float64, channels_last) references of the SPEC "Blocks" formulas."""

from __future__ import annotations

import math

import numpy as np

from tests import numpy_reference as ref


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def swish(x):
    return x * sigmoid(x)


def relu(x):
    return np.maximum(x, 0.0)


def conv1x1(x, kernel, bias=None):
    y = np.einsum("...c,cf->...f", x, kernel[0, 0])
    return y if bias is None else y + bias


def se_block(x, reduce_kernel, reduce_bias, expand_kernel, expand_bias, activation=relu):
    """GAP → 1×1 conv → activation → 1×1 conv → sigmoid → x * a."""
    pooled = x.mean(axis=(1, 2), keepdims=True)
    hidden = activation(conv1x1(pooled, reduce_kernel, reduce_bias))
    return x * sigmoid(conv1x1(hidden, expand_kernel, expand_bias))


def batch_norm(x, w, eps=1e-3):
    """Inference BatchNormalization with weights dict {gamma, beta, mean, var}."""
    return (x - w["mean"]) / np.sqrt(w["var"] + eps) * w["gamma"] + w["beta"]


def mb_conv(x, w, filters, kernel_size, strides, expand_ratio, se_ratio, residual):
    """EfficientNet MBConv (inference). `w`: dict of numpy weights (see tests)."""
    channels = x.shape[-1]
    h = x
    if expand_ratio != 1:
        h = swish(batch_norm(conv1x1(h, w["expand_conv"]), w["expand_bn"]))
    h = ref.depthwise_conv2d(h, w["dwconv"], strides=strides, padding="same")
    h = swish(batch_norm(h, w["dw_bn"]))
    if se_ratio > 0:
        h = se_block(h, *w["se"], activation=swish)
    h = batch_norm(conv1x1(h, w["project_conv"]), w["project_bn"])
    if residual and strides == 1 and channels == filters:
        h = h + x
    return h


def grouped_projection(x, kernel, heads, bias=None):
    """1×1 convolution grouped by `heads`: input channel group `h` feeds the
    output channels of head `h` (`kernel` (1, 1, C / heads, filters))."""
    cg, filters = kernel.shape[2], kernel.shape[3]
    d = filters // heads
    out = np.zeros(x.shape[:-1] + (filters,))
    for h in range(heads):
        out[..., h * d : (h + 1) * d] = (
            x[..., h * cg : (h + 1) * cg] @ kernel[0, 0][:, h * d : (h + 1) * d]
        )
    return out if bias is None else out + bias


def gaussian_bias(kernel_size, dilation_rate):
    """`exp(-|r|)` (kh, kw), r the window offset in window steps."""
    (kh, kw), (dy, dx) = kernel_size, dilation_rate
    top, left = ((kh - 1) * dy) // 2, ((kw - 1) * dx) // 2
    ry = (np.arange(kh) * dy - top) / dy
    rx = (np.arange(kw) * dx - left) / dx
    return np.exp(-np.sqrt(ry[:, None] ** 2 + rx[None, :] ** 2))


def local_attention(
    q, k, v, kernel_size, heads, dilation_rate=(1, 1), logit_bias=None, key_position=None
):
    """Per-pixel local attention (`kcl.ops.local_attention2d`, channels_last):
    logits q·(k + key_position[h, i, j])/sqrt(d) + logit_bias[(h,) i, j],
    softmax over the window positions inside the image, output sum a·v."""
    batch, height, width, _ = q.shape
    d, dv = q.shape[-1] // heads, v.shape[-1] // heads
    kh, kw = kernel_size
    dy, dx = dilation_rate
    top, left = ((kh - 1) * dy) // 2, ((kw - 1) * dx) // 2
    if logit_bias is not None and logit_bias.ndim == 2:
        logit_bias = np.broadcast_to(logit_bias, (heads, kh, kw))
    out = np.zeros((batch, height, width, heads * dv))
    for b in range(batch):
        for y in range(height):
            for xx in range(width):
                for h in range(heads):
                    sl = slice(h * d, (h + 1) * d)
                    logits, values = [], []
                    for i in range(kh):
                        for j in range(kw):
                            yy, xw = y + i * dy - top, xx + j * dx - left
                            if not (0 <= yy < height and 0 <= xw < width):
                                continue
                            key = k[b, yy, xw, sl].copy()
                            if key_position is not None:
                                key = key + key_position[h, i, j]
                            logit = q[b, y, xx, sl] @ key / math.sqrt(d)
                            if logit_bias is not None:
                                logit += logit_bias[h, i, j]
                            logits.append(logit)
                            values.append(v[b, yy, xw, h * dv : (h + 1) * dv])
                    logits = np.asarray(logits)
                    a = np.exp(logits - logits.max())
                    a /= a.sum()
                    out[b, y, xx, h * dv : (h + 1) * dv] = a @ np.asarray(values)
    return out


def relative_embeddings(rel_rows, rel_cols):
    """`p[h, i, j] = concat(rel_rows[h, i], rel_cols[h, j])`: (heads, kh, kw, d)."""
    heads, kh, half = rel_rows.shape
    kw = rel_cols.shape[1]
    rows = np.broadcast_to(rel_rows[:, :, None], (heads, kh, kw, half))
    cols = np.broadcast_to(rel_cols[:, None], (heads, kh, kw, half))
    return np.concatenate([rows, cols], axis=-1)


def spatial_attention(x, w, filters, kernel_size, heads, dilation_rate, position):
    """Per-pixel local self-attention, written from the layer's documented
    definition: grouped 1×1 projections, then `local_attention` with the
    logit bias exp(-|r|) ("gaussian") or the key embeddings ("learned")."""
    q = grouped_projection(x, w["query_kernel"], heads, w.get("query_bias"))
    k = grouped_projection(x, w["key_kernel"], heads)
    v = grouped_projection(x, w["value_kernel"], heads, w.get("value_bias"))
    bias = gaussian_bias(kernel_size, dilation_rate) if position == "gaussian" else None
    positions = None
    if position == "learned":
        positions = relative_embeddings(w["rel_rows"], w["rel_cols"])
    return local_attention(q, k, v, kernel_size, heads, dilation_rate, bias, positions)
