"""Functional-model cases (tests/ops/test_functional_ops.py) of the kernel
transforms and `add_coords2d`."""

import numpy as np

import keras_cv_layers as kcl
from tests.ops.op_case import OpCase, image

_rng = np.random.default_rng(0)

OP_CASES = {
    # Kernel transforms of a kernel given as an input (the batch axis is the
    # kernel's leading axis).
    "weight_standardize": [
        OpCase([_rng.normal(size=(3, 3, 4, 5)).astype("float32")], kcl.ops.weight_standardize)
    ],
    "weight_normalize": [
        OpCase(
            [_rng.normal(size=(3, 3, 4, 5)).astype("float32")],
            lambda k: kcl.ops.weight_normalize(k, np.full((5,), 1.5, "float32")),
        ),
        OpCase(
            [_rng.normal(size=(3, 4, 2)).astype("float32")],
            lambda k: kcl.ops.weight_normalize(k, np.full((2,), 0.5, "float32"), eps=1e-5),
        ),
    ],
    "add_coords2d": [
        OpCase([image(_rng, 2, 4, 5, 3)], kcl.ops.add_coords2d),
        OpCase([image(_rng, 2, 1, 3, 2)], lambda x: kcl.ops.add_coords2d(x, with_r=True)),
    ],
}
