"""Dispatch-equivalence cases of the deformable kernels (see test_dispatch.py).

Few and tiny: on JAX the generic kernel runs op by op here (slow to
compile).  Together they cover strides, dilation, "same" with an odd total,
offset groups, groups, a mask, a rectangular kernel and a 1-pixel-high input.
"""

import numpy as np

_rng = np.random.default_rng(11)


def _case(shape, filters, ksize, strides, padding, dilation, og, groups, modulated, std):
    b, h, w, c = shape
    kh, kw = ksize

    def out_len(n, k, s, d):
        if padding == "same":
            return -(-n // s)
        return (n - (k - 1) * d - 1) // s + 1

    ho, wo = out_len(h, kh, strides[0], dilation[0]), out_len(w, kw, strides[1], dilation[1])
    x = _rng.normal(size=shape).astype("float32")
    offsets = _rng.normal(scale=std, size=(b, ho, wo, og * kh * kw * 2)).astype("float32")
    kernel = _rng.normal(size=(kh, kw, c // groups, filters)).astype("float32")
    mask = _rng.uniform(size=(b, ho, wo, og * kh * kw)).astype("float32") if modulated else None
    return ((x, offsets, kernel, mask, strides, padding, dilation, groups), {}, 1e-4)


KERNEL_CASES = {
    "deform_conv2d": [
        _case((2, 8, 7, 4), 4, (3, 3), (2, 2), "same", (1, 1), 2, 1, True, 2.0),
        _case((1, 9, 9, 4), 4, (3, 2), (2, 1), "valid", (2, 2), 2, 2, False, 5.0),
        _case((1, 1, 5, 2), 2, (1, 3), (1, 1), "same", (1, 1), 1, 1, True, 1.0),
    ],
}
