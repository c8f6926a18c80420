"""Dispatch-equivalence cases of the convolution kernels (see test_dispatch.py).

TensorFlow's own CPU convolutions reject channels_first (NCHW) unless oneDNN
is on, so the channels_first cases are checked against the channels_last
generic kernel, transposed (`KERNEL_REFERENCES`)."""

import numpy as np
from keras import ops

from keras_cv_layers.backend_kernels import generic

_rng = np.random.default_rng(0)


def _cases(rank: int, depthwise: bool):
    cases = []
    spatial = (7, 6, 5)[:rank]
    x = _rng.normal(size=(2, *spatial, 3)).astype("float32")
    k_shape = (3,) * rank + ((3, 2) if depthwise else (3, 4))
    k = _rng.normal(size=k_shape).astype("float32")
    for strides, padding, dilation in (
        ((1,) * rank, "same", (1,) * rank),
        ((2,) * rank, "valid", (1,) * rank),
        ((1,) * rank, "same", (2,) * rank),
    ):
        for fmt in ("channels_last", "channels_first"):
            inputs = x if fmt == "channels_last" else np.ascontiguousarray(np.moveaxis(x, -1, 1))
            cases.append(((inputs, k, strides, padding, dilation, fmt), {}, 1e-4))
    return cases


def _channels_last_reference(name):
    def reference(inputs, kernel, strides, padding, dilation_rate, data_format):
        fn = getattr(generic, name)
        if data_format == "channels_last":
            return fn(inputs, kernel, strides, padding, dilation_rate, data_format)
        rank = len(inputs.shape)
        out = fn(
            ops.transpose(inputs, (0, *range(2, rank), 1)),
            kernel,
            strides,
            padding,
            dilation_rate,
            "channels_last",
        )
        return ops.transpose(out, (0, rank - 1, *range(1, rank - 1)))

    return reference


KERNEL_CASES = {
    "conv": _cases(1, False) + _cases(2, False) + _cases(3, False),
    "depthwise_conv": _cases(1, True) + _cases(2, True),
}

KERNEL_REFERENCES = {
    "conv": _channels_last_reference("conv"),
    "depthwise_conv": _channels_last_reference("depthwise_conv"),
}
