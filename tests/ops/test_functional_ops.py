"""Every public op is a Keras operation: on `keras.Input`s it returns
`KerasTensor`s, the functional model computes what the eager op does, and
the model survives `.keras` save/load (`safe_mode=True`) and compiled
prediction, on every backend and data format."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.families import collect
from tests.harness import to_numpy

OP_CASES = collect("op_cases", "OP_CASES")
CASES = [(name, i) for name in sorted(OP_CASES) for i in range(len(OP_CASES[name]))]


def test_every_public_op_has_a_case():
    assert set(OP_CASES) == set(kcl.ops.__all__)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@pytest.mark.parametrize("name,index", CASES)
def test_op_in_a_functional_model(name, index, tmp_path):
    case = OP_CASES[name][index]
    inputs = [keras.Input(a.shape[1:], dtype=str(a.dtype)) for a in case.inputs]
    symbolic = _as_list(case.fn(*inputs))
    assert all(isinstance(t, keras.KerasTensor) for t in symbolic), symbolic
    model = keras.Model(inputs, symbolic)

    eager = [to_numpy(t) for t in _as_list(case.fn(*case.inputs))]
    called = [to_numpy(t) for t in _as_list(model(case.inputs))]
    for s, e, c in zip(symbolic, eager, called):
        assert tuple(s.shape)[1:] == e.shape[1:], (s.shape, e.shape)
        assert keras.backend.standardize_dtype(s.dtype) == str(e.dtype)
        np.testing.assert_allclose(c, e, atol=case.atol, rtol=case.atol)
        assert np.all(np.isfinite(e))

    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    for r, e in zip(_as_list(reloaded(case.inputs)), eager):
        np.testing.assert_allclose(to_numpy(r), e, atol=case.atol, rtol=case.atol)

    compiled = keras.Model(inputs, symbolic)
    compiled.compile(jit_compile=keras.backend.backend() != "torch")
    for p, e in zip(_as_list(compiled.predict(case.inputs, verbose=0)), eager):
        np.testing.assert_allclose(to_numpy(p), e, atol=case.atol, rtol=case.atol)


def test_symbolic_shape_errors_name_the_op_and_argument():
    x = keras.Input((6, 6, 4))
    offsets = keras.Input((6, 6, 10))
    with pytest.raises(ValueError, match=r"deform_conv2d: `offsets`"):
        kcl.ops.deform_conv2d(
            x, offsets, np.ones((3, 3, 4, 2), "float32"), data_format="channels_last"
        )
    with pytest.raises(ValueError, match=r"max_unpool2d: `indices`"):
        kcl.ops.max_unpool2d(x, keras.Input((3, 3, 4), dtype="int32"), (12, 12), "channels_last")
    with pytest.raises(ValueError, match=r"max_pool_with_argmax2d.*pool_size=\(3, 3\)"):
        kcl.ops.max_pool_with_argmax2d(
            keras.Input((2, 2, 1)), 3, padding="valid", data_format="channels_last"
        )
    with pytest.raises(ValueError, match=r"weight_normalize: `g`"):
        kcl.ops.weight_normalize(keras.Input((3, 4, 5)), np.ones((4,), "float32"))


def test_the_issue_example_builds_and_trains():
    """`kcl.ops` between Keras layers, trained (the example of issue 16)."""
    cl = "channels_last"
    x = keras.Input((8, 8, 4))
    off = keras.layers.Conv2D(18, 3, padding="same", data_format=cl)(x)
    y = kcl.ops.deform_conv2d(
        x, off, np.ones((3, 3, 4, 8), "float32") * 0.1, padding="same", data_format=cl
    )
    p, i = kcl.ops.max_pool_with_argmax2d(y, data_format=cl)
    z = kcl.ops.max_unpool2d(p, i, (8, 8), data_format=cl)
    model = keras.Model(x, keras.layers.GlobalAveragePooling2D(data_format=cl)(z))
    model.compile("adam", "mse")
    data = np.random.default_rng(0).normal(size=(4, 8, 8, 4)).astype("float32")
    history = model.fit(data, np.zeros((4, 8)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
