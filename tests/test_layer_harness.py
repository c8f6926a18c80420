"""Runs every layer case of `layer_cases.py` through the shared harness."""

import keras
import pytest

from tests import harness
from tests.layer_cases import CASES


@pytest.mark.parametrize("check", list(harness.CHECKS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_layer(case, check, tmp_path):
    if check == "jit_compile" and keras.backend.backend() == "torch":
        pytest.skip(
            "jit_compile=True is required on JAX and TensorFlow (SPEC); on torch it "
            "means torch.compile, ~35 s per model on CPU"
        )
    if check == "save_load":
        harness.check_save_load(case, tmp_path)
    else:
        harness.CHECKS[check](case)


def test_every_public_layer_has_a_case():
    import inspect

    import keras_cv_layers as kcl

    # Re-exported Keras layers (`kcl.Flatten is keras.layers.Flatten`) are
    # Keras' own and tested there.
    public = {
        name
        for name in kcl.__all__
        if inspect.isclass(getattr(kcl, name))
        and issubclass(getattr(kcl, name), keras.layers.Layer)
        and getattr(kcl, name).__module__.startswith("keras_cv_layers.")
    }
    assert "Conv2D" in public and "Flatten" not in public
    covered = {case.cls.__name__ for case in CASES}
    assert public - covered == set(), f"layers without a harness case: {public - covered}"
