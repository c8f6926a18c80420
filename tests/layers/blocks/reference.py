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


def spatial_attention(x, w, filters, kernel_size, heads, dilation_rate, position):
    """Per-pixel local self-attention, written from the layer's documented
    definition: logits q·(k + p)/sqrt(d) [+ exp(-|r|)], softmax over the
    window positions inside the image, output sum a·v."""
    batch, height, width, channels = x.shape
    d, cg = filters // heads, channels // heads
    kh, kw = kernel_size
    dy, dx = dilation_rate
    top, left = ((kh - 1) * dy) // 2, ((kw - 1) * dx) // 2

    def project(kernel, bias):
        out = np.zeros((batch, height, width, filters))
        for h in range(heads):
            out[..., h * d : (h + 1) * d] = (
                x[..., h * cg : (h + 1) * cg] @ kernel[0, 0][:, h * d : (h + 1) * d]
            )
        return out if bias is None else out + bias

    q = project(w["query_kernel"], w.get("query_bias"))
    k = project(w["key_kernel"], None)
    v = project(w["value_kernel"], w.get("value_bias"))
    out = np.zeros((batch, height, width, filters))
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
                            if position == "learned":
                                key = key + np.concatenate(
                                    [w["rel_rows"][h, i], w["rel_cols"][h, j]]
                                )
                            logit = q[b, y, xx, sl] @ key / math.sqrt(d)
                            if position == "gaussian":
                                ry, rx = (i * dy - top) / dy, (j * dx - left) / dx
                                logit += math.exp(-math.sqrt(ry**2 + rx**2))
                            logits.append(logit)
                            values.append(v[b, yy, xw, sl])
                    logits = np.asarray(logits)
                    a = np.exp(logits - logits.max())
                    a /= a.sum()
                    out[b, y, xx, sl] = a @ np.asarray(values)
    return out
