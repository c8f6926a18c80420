"""The battery every layer of the package goes through.

`LayerCase` describes one layer configuration; `tests/test_layer_harness.py`
runs each registered case through every check below:

build + eager call, functional model, one training step, get_config round
trip, `.keras` save/load with `safe_mode=True`, `jit_compile=True` (JAX, TF),
mixed_float16 / mixed_bfloat16, unknown batch and spatial size; the
`jit_compile` check trains with unknown spatial size.

Layers with several inputs (`[x, mask]`, `[x, indices]`) give
`LayerCase.extra_inputs`, which makes the other inputs from `x`; integer
outputs (indices) are checked for dtype int32 and left out of the losses.

Shapes are given channels_last; when the layer is spatial and
`keras.config.image_data_format()` is channels_first (the torch
channels_first CI session), inputs are transposed and the layer is built
with its default `data_format=None`, so the default path is what is tested.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

ATOL = 1e-5


@dataclasses.dataclass
class LayerCase:
    """One layer configuration for the harness."""

    id: str
    cls: type
    kwargs: dict = dataclasses.field(default_factory=dict)
    #: Input shape including batch, channels_last.
    input_shape: tuple = (2, 9, 9, 4)
    #: Whether the layer has spatial axes (and so honours data_format).
    spatial: bool = True
    #: Whether spatial axes may be None in the functional model.
    unknown_spatial: bool = True
    #: A second spatial size (channels_last, no batch/channels) for the
    #: unknown-size check.
    other_spatial: tuple | None = None
    #: ``extra_inputs(x, rng, channels_first) -> list[np.ndarray]``: the other
    #: call inputs, made from `x` (both in the layer's layout).  When set, the
    #: layer is called with ``[x, *extra_inputs(...)]``.
    extra_inputs: Callable | None = None

    def make(self, **extra) -> keras.layers.Layer:
        return self.cls(**{**self.kwargs, **extra})

    @property
    def channels_first(self) -> bool:
        return self.spatial and keras.config.image_data_format() == "channels_first"

    def to_layout(self, x: np.ndarray) -> np.ndarray:
        """Moves channels to axis 1 when the layer runs channels_first."""
        return np.moveaxis(x, -1, 1) if self.channels_first else x

    def input_data(self, shape: tuple | None = None, seed: int = 0):
        """The call input: `x`, or `[x, *extras]` (numpy, the layer's layout)."""
        shape = shape or self.input_shape
        rng = np.random.default_rng(seed)
        x = self.to_layout(rng.normal(size=shape).astype("float32"))
        if self.extra_inputs is None:
            return x
        return [x, *self.extra_inputs(x, rng, self.channels_first)]

    def symbolic_inputs(self, unknown_spatial: bool = False, batch_size: int | None = None):
        """`keras.Input`(s) matching `input_data()`, in the layer's layout."""
        data = self.input_data()
        inputs = []
        for array in data if isinstance(data, list) else [data]:
            shape = list(array.shape[1:])
            if unknown_spatial:
                spatial_axes = (
                    range(1, len(shape)) if self.channels_first else range(len(shape) - 1)
                )
                for axis in spatial_axes:
                    shape[axis] = None
            inputs.append(keras.Input(tuple(shape), batch_size=batch_size, dtype=str(array.dtype)))
        return inputs if isinstance(data, list) else inputs[0]


def to_numpy(x) -> Any:
    if isinstance(x, (list, tuple)):
        return [to_numpy(t) for t in x]
    return np.asarray(ops.convert_to_numpy(x))


def assert_close(actual, expected, atol: float = ATOL, rtol: float = 1e-5, msg: str = ""):
    actual, expected = to_numpy(actual), to_numpy(expected)
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), msg
        for a, e in zip(actual, expected):
            assert_close(a, e, atol, rtol, msg)
        return
    np.testing.assert_allclose(
        actual.astype("float64"), expected.astype("float64"), atol=atol, rtol=rtol, err_msg=msg
    )


def assert_finite(x, msg: str = "") -> None:
    for t in x if isinstance(x, list) else [x]:
        t = to_numpy(t).astype("float64")
        assert np.all(np.isfinite(t)), f"non-finite values {msg}"


def _is_float(tensor) -> bool:
    return "float" in keras.backend.standardize_dtype(tensor.dtype)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _single_output(outputs):
    """Joins the float outputs of multi-output layers into one tensor so that
    any loss applies (integer outputs, e.g. indices, carry no gradient)."""
    if isinstance(outputs, (list, tuple)):
        flat = [keras.layers.Flatten()(o) for o in outputs if _is_float(o)]
        return flat[0] if len(flat) == 1 else keras.layers.Concatenate()(flat)
    return outputs


def _batch(x) -> int:
    return _as_list(x)[0].shape[0]


def functional_model(case: LayerCase, layer=None, unknown_spatial: bool = False):
    layer = layer or case.make()
    inputs = case.symbolic_inputs(unknown_spatial)
    outputs = layer(inputs)
    return keras.Model(inputs, outputs), layer


def training_model(case: LayerCase):
    layer = case.make()
    inputs = case.symbolic_inputs()
    outputs = _single_output(layer(inputs))
    return keras.Model(inputs, outputs), layer


# ---------------------------------------------------------------- the checks
def check_build_and_call(case: LayerCase) -> None:
    layer = case.make()
    x = case.input_data()
    y = layer(x)
    assert layer.built
    input_shape = [t.shape for t in x] if isinstance(x, list) else x.shape
    expected_shape = layer.compute_output_shape(input_shape)
    if isinstance(y, (list, tuple)):
        assert [tuple(t.shape) for t in y] == [tuple(s) for s in expected_shape]
    else:
        assert tuple(y.shape) == tuple(expected_shape)
    assert_finite(y, f"from {case.id}")
    # Symbolic call gives the same shapes.
    sym = layer(case.symbolic_inputs(batch_size=_batch(x)))
    sym_shapes = [tuple(t.shape) for t in (sym if isinstance(sym, list) else [sym])]
    real_shapes = [tuple(t.shape) for t in (y if isinstance(y, (list, tuple)) else [y])]
    assert sym_shapes == real_shapes
    for out in _as_list(y):
        assert keras.backend.standardize_dtype(out.dtype) in ("float32", "int32"), out.dtype


def check_functional_model(case: LayerCase) -> None:
    model, layer = functional_model(case)
    x = case.input_data()
    assert_close(model(x), layer(x))
    assert_close(model.predict_on_batch(x), layer(x))


def check_training_step(case: LayerCase) -> None:
    model, layer = training_model(case)
    x = case.input_data()
    y_shape = tuple(model.outputs[0].shape)
    y = np.random.default_rng(1).normal(size=(_batch(x),) + y_shape[1:]).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    loss = float(np.asarray(model.train_on_batch(x, y)))
    assert np.isfinite(loss)
    after = [to_numpy(w) for w in layer.trainable_weights]
    for b, a, w in zip(before, after, layer.trainable_weights):
        assert np.all(np.isfinite(a)), w.path
        assert not np.allclose(a, b), f"{w.path} was not updated by the training step"


def check_get_config_round_trip(case: LayerCase) -> None:
    layer = case.make()
    x = case.input_data()
    y = layer(x)
    config = layer.get_config()
    clone = case.cls.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    assert_close(clone(x), y)
    # Generic Keras serialization too (what .keras files use).
    revived = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(revived) is case.cls


def check_save_load(case: LayerCase, tmp_path) -> None:
    model, layer = functional_model(case)
    x = case.input_data()
    # Move the weights off their initial values so the file must carry them.
    rng = np.random.default_rng(2)
    for w in layer.weights:
        w.assign(to_numpy(w) + rng.normal(scale=0.1, size=w.shape).astype(w.dtype))
    expected = model(x)
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert_close(loaded(x), expected)
    assert sorted(v.path for v in loaded.weights) == sorted(v.path for v in model.weights)


def check_jit_compile(case: LayerCase) -> None:
    """Trains with `jit_compile=True` on a model whose spatial size is
    unknown (where the case allows it), as a user's `fit` does: predictions
    equal the eager call, the loss is finite and every weight moves."""
    layer = case.make()
    inputs = case.symbolic_inputs(unknown_spatial=case.unknown_spatial)
    model = keras.Model(inputs, _single_output(layer(inputs)))
    x = case.input_data()
    expected = to_numpy(model(x))
    y = np.random.default_rng(1).normal(size=expected.shape).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
    assert model.jit_compile
    assert_close(model.predict_on_batch(x), expected, atol=1e-4, rtol=1e-4)
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    assert np.isfinite(float(np.asarray(model.train_on_batch(x, y))))
    for b, w in zip(before, layer.trainable_weights):
        a = to_numpy(w)
        assert np.all(np.isfinite(a)), w.path
        assert not np.allclose(a, b), f"{w.path} was not updated by the jit-compiled step"


def check_mixed_precision(case: LayerCase, policy: str) -> None:
    layer = case.make(dtype=policy)
    reference = case.make()
    x = case.input_data()
    y = layer(x)
    reference(x)
    reference.set_weights(layer.get_weights())
    y_ref = reference(x)
    compute = keras.dtype_policies.get(policy).compute_dtype
    outs = y if isinstance(y, (list, tuple)) else [y]
    refs = y_ref if isinstance(y_ref, (list, tuple)) else [y_ref]
    for out, ref in zip(outs, refs):
        if not _is_float(ref):
            assert keras.backend.standardize_dtype(out.dtype) == "int32", out.dtype
            continue
        assert keras.backend.standardize_dtype(out.dtype) == compute
        assert_finite(out, f"under {policy}")
        ref = to_numpy(ref)
        scale = float(np.max(np.abs(ref))) + 1.0
        tol = 2e-2 if compute == "float16" else 1e-1
        assert_close(to_numpy(out).astype("float32"), ref, atol=tol * scale, rtol=tol)
    for w in layer.weights:
        assert keras.backend.standardize_dtype(w.dtype) == "float32", w.path


def check_unknown_spatial_size(case: LayerCase) -> None:
    model, layer = functional_model(case, unknown_spatial=case.unknown_spatial)
    sizes = [case.input_shape]
    if case.unknown_spatial:
        other = case.other_spatial or tuple(s + 3 for s in case.input_shape[1:-1])
        sizes.append((3,) + tuple(other) + (case.input_shape[-1],))
    else:
        sizes.append((3,) + tuple(case.input_shape[1:]))
    for shape in sizes:
        x = case.input_data(shape)
        assert_close(model(x), layer(x))


def check_empty_batch(case: LayerCase) -> None:
    """A batch of 0 examples gives an empty output of the right shape (TF's
    CPU kernels return other shapes for some empty inputs)."""
    layer = case.make()
    x = case.input_data((0,) + tuple(case.input_shape[1:]))
    y = layer(x)
    input_shape = [t.shape for t in x] if isinstance(x, list) else x.shape
    expected = layer.compute_output_shape(input_shape)
    if isinstance(y, (list, tuple)):
        assert [tuple(t.shape) for t in y] == [tuple(s) for s in expected]
    else:
        assert tuple(y.shape) == tuple(expected)


def check_channels_changed(case: LayerCase) -> None:
    """A built layer with weights called on another channel count raises a
    `ValueError` naming it (Keras' InputSpec message or the layer's own),
    never a backend error."""
    layer = case.make()
    layer(case.input_data())
    if not any(len(w.shape) for w in layer.weights):  # no per-channel weight
        return
    shape = list(case.input_shape)
    shape[-1] += 1
    try:
        layer(case.input_data(tuple(shape)))
    except ValueError as e:
        assert layer.name in str(e), str(e)
    else:
        raise AssertionError(f"{case.id}: a {shape[-1]}-channel input was accepted")


CHECKS: dict[str, Callable] = {
    "build_and_call": check_build_and_call,
    "functional_model": check_functional_model,
    "training_step": check_training_step,
    "get_config_round_trip": check_get_config_round_trip,
    "save_load": check_save_load,
    "jit_compile": check_jit_compile,
    "mixed_float16": lambda case: check_mixed_precision(case, "mixed_float16"),
    "mixed_bfloat16": lambda case: check_mixed_precision(case, "mixed_bfloat16"),
    "unknown_spatial_size": check_unknown_spatial_size,
    "empty_batch": check_empty_batch,
    "channels_changed": check_channels_changed,
}
