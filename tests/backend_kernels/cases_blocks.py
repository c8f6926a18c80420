"""Dispatch-equivalence cases of the blocks kernels (see test_dispatch.py)."""

import numpy as np

_rng = np.random.default_rng(0)


def _x(*shape):
    return _rng.normal(size=shape).astype("float32")


KERNEL_CASES = {
    "local_windows2d": [
        ((_x(2, 3, 5, 6), (3, 3), (1, 1), ((1, 1), (1, 1))), {}),
        ((_x(2, 2, 3, 7, 5), (3, 2), (2, 1), ((2, 2), (0, 1))), {}),
        ((_x(1, 4, 4, 4), (4, 4), (1, 1), ((1, 2), (1, 2))), {}),
    ],
    "halo_blocks2d": [
        ((_x(2, 2, 9, 7, 3), 4, (6, 6), (1, 1)), {}),
        ((_x(1, 3, 8, 8, 2), 8, (14, 14), (3, 3)), {}),
        ((_x(2, 1, 5, 11, 2), 2, (7, 4), (3, 1)), {}),
    ],
}
