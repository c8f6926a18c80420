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
}


def _valid(*shape, empty_row=False):
    """Random bool mask with a valid entry in every row (last axis); with
    `empty_row`, the first row has none."""
    valid = _rng.random(shape) < 0.4
    valid[..., 0] = True
    if empty_row:
        valid.reshape(-1, shape[-1])[0] = False
    return valid


KERNEL_CASES.update(
    {
        "masked_softmax": [
            ((_x(2, 3, 5, 7), _valid(5, 7, empty_row=True), -1), {}),
            ((_x(2, 2, 9, 4, 5), _valid(4, 5, 9).transpose(2, 0, 1).copy(), 2), {}),
            ((_x(1, 2, 6), _valid(1, 2, 6), 2), {}),
        ],
        "blocked_attention": [
            # (q, k, v (B, g, H, W, d), valid, bias, rel, index, block, halo, start)
            (
                (
                    _x(1, 2, 9, 7, 3),
                    _x(1, 2, 9, 7, 3),
                    _x(1, 2, 9, 7, 3),
                    _valid(3, 2, 16, 36),
                    _x(3, 2, 16, 36),
                    None,
                    np.zeros((16, 36), "int32"),
                    4,
                    (6, 6),
                    (1, 1),
                ),
                {},
            ),
            (
                (
                    _x(2, 1, 8, 8, 2),
                    _x(2, 1, 8, 8, 2),
                    _x(2, 1, 8, 8, 2),
                    _valid(1, 1, 64, 196),
                    None,
                    None,
                    np.zeros((64, 196), "int32"),
                    8,
                    (14, 14),
                    (3, 3),
                ),
                {},
            ),
            (
                (
                    _x(1, 2, 5, 6, 4),
                    _x(1, 2, 5, 6, 4),
                    _x(1, 2, 5, 6, 4),
                    _valid(2, 2, 9, 25),
                    _x(9, 25),
                    _x(2, 9, 4),
                    _rng.integers(0, 9, size=(9, 25)).astype("int32"),
                    3,
                    (5, 5),
                    (1, 1),
                ),
                {},
            ),
        ],
    }
)
