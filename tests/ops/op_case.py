"""`OpCase`: how `test_functional_ops.py` drives one public op.

Each family lists its ops' cases in `tests/ops/cases_<family>.py` as a dict
`OP_CASES = {op name: [OpCase, ...]}`; every name in `kcl.ops.__all__` must
have at least one case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np


@dataclasses.dataclass
class OpCase:
    """`fn(*inputs)` is the op applied to `inputs`: numpy arrays with a
    leading batch axis (they become `keras.Input`s of their shape without it,
    and their dtype).  Constant arguments (kernels, sizes) live in `fn`.
    `atol` is the tolerance between eager, functional and reloaded results."""

    inputs: list
    fn: Callable
    atol: float = 1e-5


def channels_first() -> bool:
    return keras.config.image_data_format() == "channels_first"


def image(rng: np.random.Generator, batch: int, height: int, width: int, channels: int):
    """A float32 image batch in the Keras config's data format."""
    x = rng.normal(size=(batch, height, width, channels)).astype("float32")
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if channels_first() else x
