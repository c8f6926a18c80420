"""Runs the TensorFlow local-attention fast path repeatedly (a fresh process
of `test_tensorflow_kernels.py::test_attention_fast_path_survives_repeats`):
the learned-position case once segfaulted in oneDNN's broadcast batch matmul."""

import importlib.util
import sys

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  (before tensorflow)

import numpy as np  # noqa: E402

import keras_cv_layers as kcl  # noqa: E402


def main(repeats: int) -> int:
    x = np.random.default_rng(0).random((8, 16, 16, 64)).astype("float32")
    layer = kcl.MultiHeadedSpatialAttention(64, 7, position="learned", data_format="channels_last")
    first = None
    for _ in range(repeats):
        y = np.asarray(layer(x))
        assert np.all(np.isfinite(y))
        first = y if first is None else first
        np.testing.assert_array_equal(y, first)
    print("ok", repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
