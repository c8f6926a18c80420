"""Dispatch-equivalence cases of the equivariant kernels (see test_dispatch.py)."""

import numpy as np

from keras_cv_layers.utils.equivariance import expansion_indices

_rng = np.random.default_rng(0)

KERNEL_CASES = {
    "group_kernel_expansion": [
        # C4 lifting: (3, 3, C=2, F=5)
        ((_rng.normal(size=(3, 3, 2, 5)).astype("float32"), expansion_indices(3, "C4", 1, 2)), {}),
        # D4 group layer: (5, 5, 8 * 3, F=2)
        ((_rng.normal(size=(5, 5, 24, 2)).astype("float32"), expansion_indices(5, "D4", 8, 3)), {}),
        # C4 group layer, 1x1 kernel, one filter
        ((_rng.normal(size=(1, 1, 4, 1)).astype("float32"), expansion_indices(1, "C4", 4, 1)), {}),
    ],
}
