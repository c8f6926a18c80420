"""Backend fast paths give the numbers of their generic `keras.ops` kernels,
and the fast-path machinery (lookup by import, decline, disable) works."""

import inspect
import pathlib

import keras
import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from keras_cv_layers import backend_kernels
from tests.families import collect

#: Every fast path by kernel name (kernel names are unique across families).
FAST_PATHS = {fp.name: fp for fp in backend_kernels.all_fast_paths()}

#: Example arguments for every kernel (numpy; converted per call): a list of
#: `(args, kwargs)` or `(args, kwargs, tolerance)` per kernel name.  The
#: families add theirs in `tests/<family>/kernel_cases.py` (`KERNEL_CASES`,
#: and `KERNEL_REFERENCES` where the generic kernel cannot run everywhere).
KERNEL_CASES = collect("kernel_cases", "KERNEL_CASES")

#: Optional replacements of the generic kernel as the expected value (a
#: function of the same arguments), where the generic kernel cannot run on
#: every machine (TensorFlow's CPU convolutions reject channels_first).
KERNEL_REFERENCES = collect("kernel_cases", "KERNEL_REFERENCES", {}) or {}


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


def test_every_fast_path_has_cases_and_a_generic_kernel():
    assert set(KERNEL_CASES) == set(FAST_PATHS)
    for fp in FAST_PATHS.values():
        assert callable(fp.generic), fp


def _backend_names(family: str, backend: str) -> set | None:
    """Public function names of `<family>/<backend>.py` (None: no module);
    read from the source, since only the current backend can be imported."""
    import ast

    path = pathlib.Path(backend_kernels.__file__).parent / family / f"{backend}.py"
    if not path.exists():
        return None
    tree = ast.parse(path.read_text())
    return {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
    }


FAMILIES = sorted({fp.package.rsplit(".", 1)[-1] for fp in FAST_PATHS.values()})


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
@pytest.mark.parametrize("family", FAMILIES)
def test_backend_modules_define_only_declared_fast_paths(family, backend):
    """Every public function of a backend module is a declared fast path of
    its family, with its generic kernel's signature; and every declared
    fast path has an implementation on at least one backend."""
    names = _backend_names(family, backend)
    declared = {n for n, fp in FAST_PATHS.items() if fp.package.endswith(f".{family}")}
    if names is None:
        return
    assert names <= declared, names - declared
    if backend == keras.backend.backend():
        for name in names:
            impl = FAST_PATHS[name].implementation()
            assert list(inspect.signature(impl).parameters) == list(
                inspect.signature(FAST_PATHS[name].generic).parameters
            ), name


def test_every_fast_path_is_implemented_somewhere():
    for name, fp in FAST_PATHS.items():
        family = fp.package.rsplit(".", 1)[-1]
        assert any(
            name in (_backend_names(family, b) or ()) for b in ("jax", "tensorflow", "torch")
        ), name


@pytest.mark.parametrize("name", sorted(KERNEL_CASES))
def test_fast_path_matches_generic(name):
    fp = FAST_PATHS[name]
    expected_fn = KERNEL_REFERENCES.get(name, fp.generic)
    for case in KERNEL_CASES[name]:
        args, kwargs = case[:2]
        tol = case[2] if len(case) > 2 else 1e-5
        targs = [ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        expected = expected_fn(*targs, **kwargs)
        result = fp(*targs, **kwargs)
        if result is not NotImplemented:
            _assert_same(result, expected, tol)


def test_weight_standardize_reference():
    """The generic kernel itself against numpy (per last-axis filter)."""
    k = np.random.default_rng(2).normal(size=(3, 3, 2, 4)).astype("float32")
    ref = (k - k.mean(axis=(0, 1, 2))) / np.sqrt(k.var(axis=(0, 1, 2)) + 1e-6)
    out = kcl.ops.weight_standardize(k, eps=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(out), ref, rtol=1e-5, atol=1e-5)


def _fake_backend_function(monkeypatch, fp, fn):
    monkeypatch.setattr(type(fp), "implementation", lambda self, backend=None: fn)


def test_decline_falls_back_to_generic(monkeypatch):
    from keras_cv_layers.ops import conv as conv_ops

    calls = []

    def declining(kernel, eps):
        calls.append(1)
        return NotImplemented

    _fake_backend_function(monkeypatch, FAST_PATHS["weight_standardize"], declining)
    k = ops.convert_to_tensor(np.arange(6, dtype="float32").reshape(3, 2))
    out = conv_ops.standardize_kernel(k, 1e-6)
    assert calls == [1]
    np.testing.assert_allclose(
        ops.convert_to_numpy(out),
        ops.convert_to_numpy(conv_ops.standardize_kernel.generic(k, 1e-6)),
    )


def test_accepting_fast_path_is_used(monkeypatch):
    from keras_cv_layers.ops import conv as conv_ops

    _fake_backend_function(
        monkeypatch, FAST_PATHS["weight_standardize"], lambda kernel, eps: "fast"
    )
    assert conv_ops.standardize_kernel(ops.ones((2, 2)), 1e-6) == "fast"


def test_disabling_fast_paths_skips_them(monkeypatch):
    from keras_cv_layers.ops import conv as conv_ops

    def exploding(kernel, eps):
        raise AssertionError("fast path used while disabled")

    _fake_backend_function(monkeypatch, FAST_PATHS["weight_standardize"], exploding)
    backend_kernels.set_fast_paths_enabled(False)
    try:
        conv_ops.standardize_kernel(ops.ones((2, 2)), 1e-6)
    finally:
        backend_kernels.set_fast_paths_enabled(True)


def test_active_fast_paths_reports_every_fast_path():
    active = backend_kernels.active_fast_paths()
    assert set(active) == {f"{fp.package.rsplit('.', 1)[-1]}.{n}" for n, fp in FAST_PATHS.items()}
    assert active["conv.weight_standardize"] == (keras.backend.backend() == "torch")
    assert active["deformable.deform_conv2d"]
