"""Backend fast paths give the numbers of the generic `keras.ops` kernels."""

import importlib
import inspect
import pathlib
import pkgutil

import keras
import numpy as np
import pytest
from keras import ops

from keras_cv_layers import backend_kernels
from keras_cv_layers.backend_kernels import generic

#: Example arguments for every kernel (numpy; converted per call): a list of
#: `(args, kwargs)` or `(args, kwargs, tolerance)` per kernel name.  Kernel
#: families add theirs in `tests/backend_kernels/cases_<family>.py`, each
#: defining a `KERNEL_CASES` dict of the same form.
KERNEL_CASES = {
    "weight_standardize": [
        ((np.random.default_rng(0).normal(size=(3, 3, 4, 5)).astype("float32"), 1e-6), {}),
        ((np.zeros((3, 1, 2), "float32"), 1e-6), {}),
        ((np.random.default_rng(1).normal(3.0, 2.0, size=(5, 8)).astype("float32"), 1e-5), {}),
    ],
}


#: Optional replacements of the generic kernel as the expected value (a
#: function of the same arguments), where the generic kernel cannot run on
#: every machine (TensorFlow's CPU convolutions reject channels_first).
KERNEL_REFERENCES = {}


for _info in pkgutil.iter_modules([str(pathlib.Path(__file__).parent)]):
    if _info.name.startswith("cases_"):
        _module = importlib.import_module(f"tests.backend_kernels.{_info.name}")
        assert not set(_module.KERNEL_CASES) & set(KERNEL_CASES), _info.name
        KERNEL_CASES.update(_module.KERNEL_CASES)
        KERNEL_REFERENCES.update(getattr(_module, "KERNEL_REFERENCES", {}))


def _assert_same(actual, expected, tol):
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            _assert_same(a, e, tol)
        return
    actual, expected = ops.convert_to_numpy(actual), ops.convert_to_numpy(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if np.issubdtype(expected.dtype, np.floating):
        assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


def test_every_kernel_has_cases():
    assert set(KERNEL_CASES) == set(backend_kernels.kernel_names())


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_fast_paths_have_generic_counterparts(backend):
    """Backend modules define only known kernels, with generic signatures."""
    if backend != keras.backend.backend():
        # Only the current backend's module can be imported in this session;
        # the others are checked statically from their source.
        import ast
        import pathlib

        path = pathlib.Path(backend_kernels.__file__).parent / f"{backend}_kernels.py"
        tree = ast.parse(path.read_text())
        names = {
            n.name
            for n in tree.body
            if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
        }
    else:
        module = backend_kernels.backend_module(backend)
        names = {
            n
            for n, f in vars(module).items()
            if inspect.isfunction(f) and f.__module__ == module.__name__ and not n.startswith("_")
        }
        for name in names:
            assert list(inspect.signature(getattr(module, name)).parameters) == list(
                inspect.signature(getattr(generic, name)).parameters
            ), name
    assert names <= set(generic.KERNELS), names - set(generic.KERNELS)


@pytest.mark.parametrize("name", sorted(KERNEL_CASES))
def test_fast_path_matches_generic(name):
    fast = backend_kernels.fast_path(name)
    slow = KERNEL_REFERENCES.get(name, backend_kernels.generic_kernel(name))
    for case in KERNEL_CASES[name]:
        args, kwargs = case[:2]
        tol = case[2] if len(case) > 2 else 1e-5
        targs = [ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        expected = slow(*targs, **kwargs)
        _assert_same(backend_kernels.dispatch(name, *targs, **kwargs), expected, tol)
        if fast is not None:
            result = fast(*targs, **kwargs)
            if result is not NotImplemented:
                _assert_same(result, expected, tol)


def test_weight_standardize_reference():
    """The generic kernel itself against numpy (per last-axis filter)."""
    k = np.random.default_rng(2).normal(size=(3, 3, 2, 4)).astype("float32")
    ref = (k - k.mean(axis=(0, 1, 2))) / np.sqrt(k.var(axis=(0, 1, 2)) + 1e-6)
    out = backend_kernels.dispatch("weight_standardize", ops.convert_to_tensor(k), 1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(out), ref, rtol=1e-5, atol=1e-5)


def test_decline_falls_back_to_generic(monkeypatch):
    calls = []

    def declining(kernel, eps):
        calls.append(1)
        return NotImplemented

    monkeypatch.setattr(backend_kernels, "fast_path", lambda name, backend=None: declining)
    k = ops.convert_to_tensor(np.arange(6, dtype="float32").reshape(3, 2))
    out = backend_kernels.dispatch("weight_standardize", k, 1e-6)
    assert calls == [1]
    np.testing.assert_allclose(
        ops.convert_to_numpy(out),
        ops.convert_to_numpy(generic.weight_standardize(k, 1e-6)),
    )


def test_disabling_fast_paths_skips_them(monkeypatch):
    def exploding(kernel, eps):
        raise AssertionError("fast path used while disabled")

    monkeypatch.setattr(backend_kernels, "fast_path", lambda name, backend=None: exploding)
    backend_kernels.set_fast_paths_enabled(False)
    try:
        backend_kernels.dispatch("weight_standardize", ops.ones((2, 2)), 1e-6)
    finally:
        backend_kernels.set_fast_paths_enabled(True)


def test_unknown_kernel_is_a_value_error():
    with pytest.raises(ValueError, match="nope"):
        backend_kernels.dispatch("nope")


def test_active_fast_paths_reports_every_kernel():
    active = backend_kernels.active_fast_paths()
    assert set(active) == set(backend_kernels.kernel_names())
    assert active["weight_standardize"] == (keras.backend.backend() == "torch")
