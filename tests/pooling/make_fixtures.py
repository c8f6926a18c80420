"""Regenerates `fixtures/tf_max_pool_with_argmax.npz` with TensorFlow.

    python tests/pooling/make_fixtures.py

For pool sizes 2 and 3, strides 1 and 2, "valid" and "same" padding and an
even and an odd input size, stores the input (a random permutation of
0..n-1, so every window has a unique maximum) and the values and indices of
`tf.nn.max_pool_with_argmax(..., include_batch_in_index=False)`, channels_last.
The tests compare every backend with these arrays without importing TF.
"""

from __future__ import annotations

import itertools
import os

import numpy as np

SIZES = {"even": (6, 8), "odd": (7, 5)}
POOLS = (2, 3)
STRIDES = (1, 2)
PADDINGS = ("valid", "same")
BATCH, CHANNELS = 2, 3
PATH = os.path.join(os.path.dirname(__file__), "fixtures", "tf_max_pool_with_argmax.npz")


def key(size: str, pool: int, stride: int, padding: str) -> str:
    return f"{size}_p{pool}_s{stride}_{padding}"


def main() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(20240)
    arrays = {}
    for size, (h, w) in SIZES.items():
        n = BATCH * h * w * CHANNELS
        x = rng.permutation(n).astype("float32").reshape(BATCH, h, w, CHANNELS)
        arrays[f"{size}_x"] = x
        for pool, stride, padding in itertools.product(POOLS, STRIDES, PADDINGS):
            values, indices = tf.nn.max_pool_with_argmax(
                x,
                ksize=pool,
                strides=stride,
                padding=padding.upper(),
                output_dtype=tf.int64,
                include_batch_in_index=False,
            )
            arrays[key(size, pool, stride, padding) + "_values"] = values.numpy()
            arrays[key(size, pool, stride, padding) + "_indices"] = indices.numpy().astype("int32")
    np.savez_compressed(PATH, **arrays)
    print(f"wrote {PATH} ({os.path.getsize(PATH)} bytes, {len(arrays)} arrays)")


if __name__ == "__main__":
    main()
