"""Dispatch-equivalence cases of the pooling kernels (see test_dispatch.py)."""

import numpy as np

from tests.pooling.reference import max_pool_with_argmax as _numpy_pool
from tests.pooling.reference import max_pool_with_argmax_nd

_rng = np.random.default_rng(0)
_X = _rng.permutation(2 * 7 * 6 * 3).astype("float32").reshape(2, 7, 6, 3)
_X_CF = np.ascontiguousarray(np.moveaxis(_X, -1, 1))
# Many ties: small integers.
_TIES = _rng.integers(0, 3, size=(2, 6, 7, 2)).astype("float32")


def _pool_cases():
    cases = []
    for x, fmt in ((_X, "channels_last"), (_X_CF, "channels_first")):
        for pool, strides, padding in (
            ((2, 2), (2, 2), "same"),
            ((3, 3), (2, 2), "same"),
            ((3, 3), (1, 1), "valid"),
            ((2, 3), (1, 2), "same"),
            ((2, 2), (3, 3), "same"),
        ):
            cases.append(((x, pool, strides, padding, fmt), {}))
    for fmt in ("channels_last", "channels_first"):
        cases.append(((_TIES, (3, 3), (2, 2), "same", fmt), {}))
        cases.append(((_TIES, (2, 2), (1, 1), "valid", fmt), {}))
    return cases


def _unpool_cases():
    cases = []
    for x, fmt in ((_X, "channels_last"), (_X_CF, "channels_first")):
        hw = (7, 6)
        # Non-overlapping (dense path) and overlapping windows (duplicates).
        for k, s, padding, block in (
            (2, 2, "same", (2, 2)),
            (2, 2, "valid", (2, 2)),
            (3, 2, "same", (2, 2)),
            (3, 1, "same", (1, 1)),
            (2, 2, "same", None),
        ):
            v, i = _numpy_pool(x, k, s, padding, fmt)
            cases.append(((v, i, hw, block, fmt), {}))
        # Out-of-range indices (negative and too large) mixed with valid ones.
        v, i = _numpy_pool(x, 2, 2, "same", fmt)
        bad = i.copy()
        bad.reshape(-1)[::3] = -1
        bad.reshape(-1)[1::5] = 7 * 6 * 3 + 4
        cases.append(((v, bad, hw, (2, 2), fmt), {}))
        # Random in-range targets: values sharing a target differ (a scatter
        # must keep the largest, whichever is written last).
        shared = _rng.integers(0, 7 * 6 * 3, size=v.shape).astype(i.dtype)
        cases.append(((_rng.normal(size=v.shape).astype("float32"), shared, hw, None, fmt), {}))
    # Power-of-two sizes (torch's block check without a division): indices
    # in their own blocks, and the same with some moved to a neighbouring
    # block (in range, but sharing targets: the checked scatter).
    x = _rng.permutation(2 * 8 * 4 * 4).astype("float32").reshape(2, 8, 4, 4)
    for fmt in ("channels_last", "channels_first"):
        xf = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if fmt == "channels_first" else x
        v, i = _numpy_pool(xf, 2, 2, "valid", fmt)
        cases.append(((v, i, (8, 4), (2, 2), fmt), {}))
        moved = i.copy()
        step = 4 if fmt == "channels_last" else 1
        moved.reshape(-1)[::7] += 2 * step
        moved = np.clip(moved, 0, 8 * 4 * 4 - 1)
        cases.append(((v, moved, (8, 4), (2, 2), fmt), {}))
        # An index one channel over (a bit below the block's strides).
        off_channel = i.copy()
        off_channel.reshape(-1)[5] += 1 if fmt == "channels_last" else 8 * 4
        cases.append(((v, off_channel, (8, 4), (2, 2), fmt), {}))
    return cases


# 1D signals and 3D volumes (the fast paths that serve other ranks; torch's
# pooling declines them).
_X1 = _rng.permutation(2 * 9 * 3).astype("float32").reshape(2, 9, 3)
_X3 = _rng.permutation(1 * 5 * 4 * 3 * 2).astype("float32").reshape(1, 5, 4, 3, 2)
# Power-of-two sizes.
_X1P2 = _rng.permutation(2 * 8 * 2).astype("float32").reshape(2, 8, 2)
_X3P2 = _rng.permutation(1 * 4 * 4 * 2 * 2).astype("float32").reshape(1, 4, 4, 2, 2)


def _other_rank_cases():
    pool, unpool = [], []
    for x, k in ((_X1, (3,)), (_X3, (2, 3, 2)), (_X1P2, (3,)), (_X3P2, (2, 3, 2))):
        rank = len(k)
        for fmt in ("channels_last", "channels_first"):
            xf = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if fmt == "channels_first" else x
            spatial = x.shape[1:-1]
            for kk, s, padding in ((k, (2,) * rank, "same"), ((2,) * rank, (2,) * rank, "valid")):
                pool.append(((xf, kk, s, padding, fmt), {}))
                v, i = max_pool_with_argmax_nd(xf, kk, s, padding, fmt)
                block = (2,) * rank if kk == (2,) * rank else None
                unpool.append(((v, i, spatial, block, fmt), {}))
    return pool, unpool


_POOL_ND, _UNPOOL_ND = _other_rank_cases()

KERNEL_CASES = {
    "max_pool_with_argmax2d": _pool_cases() + _POOL_ND,
    "max_unpool2d": _unpool_cases() + _UNPOOL_ND,
}
