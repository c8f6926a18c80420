"""Dispatch-equivalence cases of the convolution kernels (see test_dispatch.py).

TensorFlow's own CPU convolutions reject channels_first (NCHW) and unequal
depthwise strides unless oneDNN is on, so on TensorFlow the expected values
are those of the XLA-compiled generic kernel (`KERNEL_REFERENCES`)."""

import keras
import numpy as np

from keras_cv_layers.backend_kernels import conv as conv_kernels

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
        ((1, 3, 2)[:rank] if rank > 1 else (3,), "same", (1,) * rank),
        ((2, 1, 3)[:rank], "valid", (1,) * rank),
    ):
        for fmt in ("channels_last", "channels_first"):
            inputs = x if fmt == "channels_last" else np.ascontiguousarray(np.moveaxis(x, -1, 1))
            cases.append(((inputs, k, strides, padding, dilation, fmt), {}, 1e-4))
    return cases


def _grouped_cases():
    """2D with groups (4 input channels, kernel of 2 per group), "same"
    with an odd total pad (stride 2 on an even size), both layouts."""
    x = _rng.normal(size=(2, 6, 7, 4)).astype("float32")
    k = _rng.normal(size=(3, 2, 2, 6)).astype("float32")
    cases = []
    for fmt in ("channels_last", "channels_first"):
        inputs = x if fmt == "channels_last" else np.ascontiguousarray(np.moveaxis(x, -1, 1))
        for strides, padding in (((2, 2), "same"), ((1, 2), "valid")):
            cases.append(((inputs, k, strides, padding, (1, 1), fmt), {}, 1e-4))
    return cases


def _compiled_reference(name):
    """The generic kernel; on TensorFlow XLA-compiled (XLA takes NCHW and
    unequal depthwise strides, which TF's CPU kernels reject)."""
    fn = getattr(conv_kernels, name).generic
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    def reference(inputs, kernel, strides, padding, dilation_rate, data_format):
        def run(x, k):
            return fn(x, k, strides, padding, dilation_rate, data_format)

        return tf.function(run, jit_compile=True)(inputs, kernel)

    return reference


KERNEL_CASES = {
    "weight_standardize": [
        ((_rng.normal(size=(3, 3, 4, 5)).astype("float32"), 1e-6), {}),
        ((np.zeros((3, 1, 2), "float32"), 1e-6), {}),
        ((_rng.normal(3.0, 2.0, size=(5, 8)).astype("float32"), 1e-5), {}),
    ],
    "conv": _cases(1, False) + _cases(2, False) + _cases(3, False) + _grouped_cases(),
    "depthwise_conv": _cases(1, True) + _cases(2, True),
}

KERNEL_REFERENCES = {
    "conv": _compiled_reference("conv"),
    "depthwise_conv": _compiled_reference("depthwise_conv"),
}
