"""PyTorch fast paths of the convolutions: channels_last 2D convolutions
without layout copies, and the weight standardization in one fused
reduction."""

from __future__ import annotations

import torch

from keras_cv_layers.utils.argument_validation import same_padding_amounts


def conv(inputs, kernel, strides, padding: str, dilation_rate, data_format: str):
    """channels_last 2D: `torch.nn.functional.conv2d` on the NCHW view of
    the NHWC input (its memory is already torch's channels_last format, which
    the oneDNN convolution reads directly) and the NHWC view of its
    channels_last output.  Keras' own torch `conv` copies the input to NCHW
    and then back to channels_last memory (two copies of the input, ~15% of
    a 3x3 convolution's forward pass with 32 channels).  Other ranks and
    channels_first: declined (Keras' `conv`)."""
    if data_format != "channels_last" or inputs.dim() != 4 or inputs.dtype != kernel.dtype:
        return NotImplemented
    x = inputs.permute(0, 3, 1, 2)
    weight = kernel.permute(3, 2, 0, 1)
    groups = x.shape[1] // weight.shape[1]
    pad = (0, 0)
    if padding == "same":
        amounts = [
            same_padding_amounts(int(n), int(k), s, d)
            for n, k, s, d in zip(x.shape[2:], weight.shape[2:], strides, dilation_rate)
        ]
        if all(before == after for before, after in amounts):
            pad = tuple(before for before, _ in amounts)
        else:  # the odd extra pad at the end, as Keras/TF
            (top, bottom), (left, right) = amounts
            x = torch.nn.functional.pad(x, (left, right, top, bottom))
    out = torch.nn.functional.conv2d(
        x, weight, None, tuple(strides), pad, tuple(dilation_rate), groups
    )
    return out.permute(0, 2, 3, 1)


def weight_standardize(kernel, eps: float):
    """One fused `torch.var_mean` reduction instead of two passes."""
    if kernel.dtype != torch.float32:
        return NotImplemented
    axes = tuple(range(kernel.dim() - 1))
    var, mean = torch.var_mean(kernel, dim=axes, keepdim=True, correction=0)
    return (kernel - mean) * torch.rsqrt(var + eps)
