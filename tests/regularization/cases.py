"""Harness cases (see tests/harness.py) of the regularization layers.

The harness checks the inference path (identity / sum) against the eager
call and runs the training path inside `fit`-like steps, jit-compiled with
unknown spatial size on JAX and TensorFlow."""

import keras_cv_layers as kcl
from tests.harness import LayerCase


def _residual(x, rng, channels_first):
    return [rng.normal(size=x.shape).astype("float32")]


CASES: list = [
    LayerCase("DropBlock2D", kcl.DropBlock2D, dict(rate=0.2, block_size=3, seed=1), (2, 9, 8, 3)),
    # The block is clamped on the 9x8 input, not on the 12x11 one of the
    # unknown-size checks.
    LayerCase("DropBlock2D_clamped", kcl.DropBlock2D, dict(rate=0.3, block_size=10), (2, 9, 8, 3)),
    LayerCase(
        "StochasticDepth",
        kcl.StochasticDepth,
        dict(rate=0.3, seed=2),
        (3, 5, 4, 3),
        spatial=False,
        extra_inputs=_residual,
    ),
]
