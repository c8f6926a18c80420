"""`model.export` of a model of each layer family, run outside Keras.

ONNX on every backend (run with onnxruntime), TF SavedModel on JAX and
TensorFlow (reloaded with plain `tf.saved_model.load` in a process that
never imports keras_cv_layers), LiteRT on TensorFlow (run with TF's LiteRT
interpreter).  These tests form the `export` nox session (marker
`export`), which runs them once per backend; they need the `export` extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.export import models

pytestmark = pytest.mark.export
onnxruntime = pytest.importorskip("onnxruntime")

BACKEND = keras.backend.backend()
TOLERANCE = 1e-4
FAMILIES = sorted(models.MODELS)


def _signature(inputs):
    # Keras exports torch models with static shapes only; give the batch.
    return [keras.InputSpec(shape=x.shape, dtype="float32") for x in inputs]


#: (backend, family) pairs exported with a fixed batch size, and why.
STATIC_BATCH = {
    ("jax", "unpooling"): (
        "the unpooling's segment reductions have batch * size segments, a derived "
        "symbolic size that jax2onnx cannot export"
    ),
    ("jax", "unpooling_reference"): "as for unpooling",
}


def _export(model, inputs, path, fmt, family=None):
    if BACKEND == "torch" or fmt == "litert" or (BACKEND, family) in STATIC_BATCH:
        spec = _signature(inputs)
        model.export(
            path, format=fmt, verbose=False, input_signature=spec if len(spec) == 1 else [spec]
        )
    else:
        model.export(path, format=fmt, verbose=False)


#: (backend, family) pairs whose ONNX export is known not to work, and why.
ONNX_UNSUPPORTED = {
    ("tensorflow", "unpooling_reference"): (
        "overlapping windows take the scatter route, whose segment max tf2onnx converts "
        "with a -inf identity times a one-hot mask: NaN"
    ),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_matches_keras(family, tmp_path, request):
    if (BACKEND, family) in ONNX_UNSUPPORTED:
        request.applymarker(
            pytest.mark.xfail(strict=True, reason=ONNX_UNSUPPORTED[BACKEND, family])
        )
    model, inputs, expected = models.build(family)
    path = str(tmp_path / f"{family}.onnx")
    _export(model, inputs, path, "onnx", family)
    session = onnxruntime.InferenceSession(path)
    feeds = {spec.name: x for spec, x in zip(session.get_inputs(), inputs)}
    got = session.run(None, feeds)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=TOLERANCE, rtol=TOLERANCE)


def test_onnx_dynamic_batch(tmp_path):
    """JAX and TensorFlow export a symbolic batch size: another batch runs."""
    if BACKEND == "torch":
        pytest.skip("Keras exports torch models to ONNX with static shapes only")
    model, _, _ = models.build("group")
    path = str(tmp_path / "dynamic.onnx")
    model.export(path, format="onnx", verbose=False)
    x = models.inputs_for(model, batch=3, seed=5)[0]
    session = onnxruntime.InferenceSession(path)
    got = session.run(None, {session.get_inputs()[0].name: x})
    for g, e in zip(got, model(x)):
        np.testing.assert_allclose(g, keras.ops.convert_to_numpy(e), atol=TOLERANCE, rtol=TOLERANCE)


_RELOAD = """
import json, sys
import numpy as np
import tensorflow as tf
cases = json.load(open(sys.argv[1]))
worst = {}
for name, case in cases.items():
    data = np.load(case["arrays"])
    inputs = [tf.constant(data[f"in{i}"]) for i in range(case["num_inputs"])]
    loaded = tf.saved_model.load(case["path"])  # keep it alive while serving
    served = loaded.serve(inputs if len(inputs) > 1 else inputs[0])
    served = served if isinstance(served, (list, tuple)) else [served]
    worst[name] = max(
        float(np.max(np.abs(np.asarray(s) - data[f"out{i}"]))) for i, s in enumerate(served)
    )
assert "keras_cv_layers" not in sys.modules
print(json.dumps(worst))
"""


def test_saved_model_reloads_without_the_package(tmp_path):
    """Every family: `format="tf_saved_model"`, then plain TensorFlow in a
    fresh process that never imports keras_cv_layers serves the same outputs."""
    if BACKEND == "torch":
        pytest.skip("Keras exports TF SavedModels from the JAX and TensorFlow backends only")
    cases = {}
    for family in FAMILIES:
        model, inputs, expected = models.build(family)
        path = str(tmp_path / family)
        model.export(path, format="tf_saved_model", verbose=False)
        arrays = str(tmp_path / f"{family}.npz")
        np.savez(
            arrays,
            **{f"in{i}": x for i, x in enumerate(inputs)},
            **{f"out{i}": y for i, y in enumerate(expected)},
        )
        cases[family] = {"path": path, "arrays": arrays, "num_inputs": len(inputs)}
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps(cases))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(spec)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    worst = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(worst) == FAMILIES
    assert max(worst.values()) <= TOLERANCE, worst


#: Families whose LiteRT model the stock interpreter cannot run, and why.
LITERT_UNSUPPORTED = {
    "deformable_v1": "the sampling gathers need 6-D strided slices (LiteRT: at most 5-D)",
    "deformable_v2": "the sampling gathers need 6-D strided slices (LiteRT: at most 5-D)",
    "unpooling": "the dense unpooling reshapes to 6-D (LiteRT: at most 5-D)",
    "unpooling_reference": "the dense unpooling reshapes to 6-D (LiteRT: at most 5-D)",
    "attention": "needs select TensorFlow ops (Flex delegate), absent from the stock interpreter",
}


@pytest.mark.parametrize(
    "family",
    [
        pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=LITERT_UNSUPPORTED[f]))
        if f in LITERT_UNSUPPORTED
        else f
        for f in FAMILIES
        # One case of each unsupported kind is enough to notice a fix.
        if f not in ("deformable_v2", "unpooling_reference")
    ],
)
def test_litert_matches_keras(family, tmp_path):
    if BACKEND != "tensorflow":
        pytest.skip(
            "LiteRT export: Keras supports it on TensorFlow, and on torch only with the "
            "separate litert-torch package"
        )
    import tensorflow as tf

    model, inputs, expected = models.build(family)
    path = str(tmp_path / f"{family}.tflite")
    _export(model, inputs, path, "litert")
    interpreter = tf.lite.Interpreter(model_path=path)
    interpreter.allocate_tensors()
    details = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
    for detail, x in zip(details, inputs):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    got = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    assert len(got) == len(expected)
    for g in got:  # output order is not guaranteed: match by shape and value
        assert any(
            g.shape == e.shape and np.allclose(g, e, atol=TOLERANCE, rtol=TOLERANCE)
            for e in expected
        ), family
