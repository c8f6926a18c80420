"""`.keras` files written by the first release load with identical outputs.

The fixtures were saved under JAX by `make_release1_fixtures.py` from the
code before the issue-16 refactor (one model per layer family, perturbed
weights); every backend, and torch under channels_first, must load them
with `safe_mode=True` and reproduce the saved outputs.
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
import pytest

from tests.compat.make_release1_fixtures import FAMILIES

HERE = pathlib.Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_release1_file_loads_with_identical_outputs(family):
    data = np.load(HERE / f"{family}_io.npz")
    model = keras.saving.load_model(HERE / f"{family}.keras", safe_mode=True)
    ys = model(data["x"])
    ys = ys if isinstance(ys, list | tuple) else [ys]
    expected = [data[f"y{i}"] for i in range(len(ys))]
    assert len([k for k in data.files if k.startswith("y")]) == len(ys)
    for y, want in zip(ys, expected):
        got = np.asarray(keras.ops.convert_to_numpy(y))
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=2e-5)
