"""The training skeleton shared by the examples (`ExampleRun`) and their
typed report (`ExampleReport`)."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from keras_cv_layers.examples import ExampleReport, ExampleRun, _common


def _report(**extras):
    return ExampleReport(
        name="toy",
        metric=0.75,
        metric_name="accuracy",
        model_path="out/toy.keras",
        max_abs_diff=0.0,
        figure_path=None,
        seconds=1.5,
        backend="jax",
        epochs=2,
        extras=extras,
    )


def test_report_is_typed_frozen_and_reads_like_the_old_dict():
    report = _report(train_accuracy=0.5, group={"params": 3})
    assert report.metric == 0.75 and report.extras["train_accuracy"] == 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.metric = 1.0
    # The flat dict of the older interface: fields first, then the extras.
    flat = report.as_dict()
    assert list(flat) == [
        "name",
        "metric",
        "metric_name",
        "model_path",
        "max_abs_diff",
        "figure_path",
        "seconds",
        "backend",
        "epochs",
        "train_accuracy",
        "group",
    ]
    assert json.loads(json.dumps(flat)) == flat
    assert dict(report) == flat and len(report) == len(flat)
    assert report["metric"] == 0.75 and report["train_accuracy"] == 0.5
    assert "train_accuracy" in report and "extras" not in report
    assert report.get("missing") is None
    with pytest.raises(KeyError):
        report["missing"]


def test_report_extras_are_copied_and_must_not_clash():
    extras = {"a": 1}
    report = _report(**extras)
    extras["a"] = 2
    assert report["a"] == 1
    assert report.with_extras(b=2).as_dict()["b"] == 2 and "b" not in report
    with pytest.raises(ValueError, match="metric"):
        _report(metric=1.0)


def test_report_from_a_dict_of_the_older_interface():
    old = {key: value for key, value in _report(extra=3).as_dict().items()}
    del old["backend"], old["seconds"]
    report = ExampleReport.from_mapping(old, backend="torch", seconds=2.0)
    assert report.backend == "torch" and report.seconds == 2.0 and report.extras == {"extra": 3}
    with pytest.raises(KeyError, match="backend"):
        ExampleReport.from_mapping(old)


def _toy_model():
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


def test_run_fits_checks_the_reload_and_reports(tmp_path, capsys):
    x = np.linspace(-1, 1, 32, dtype="float32").reshape(16, 2)
    y = (x[:, 0] > 0).astype("int32")
    session = ExampleRun("toy", tmp_path / "out", seed=3, epochs=2, verbose=1)
    assert os.path.isdir(tmp_path / "out")
    model = _toy_model()
    session.reseed()
    again = _toy_model()
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # the same seed, the same start
    history = session.fit(model, x, y, batch_size=8, about="16 points")
    assert len(history.history["accuracy"]) == 2
    assert "toy on backend" in capsys.readouterr().out
    scores = session.evaluate(model, x, y)
    assert set(scores) == {"loss", "accuracy"}
    assert all(isinstance(value, float) for value in scores.values())

    drawn = []

    def figure(path):
        drawn.append(path)
        return path

    report = session.finish(
        model,
        x,
        metric=scores["accuracy"],
        metric_name="accuracy",
        figure=figure,
        extras={"train_loss": scores["loss"]},
    )
    assert isinstance(report, ExampleReport)
    assert report.name == "toy" and report.epochs == 2
    assert report.backend == keras.backend.backend()
    assert report.model_path == os.path.join(str(tmp_path / "out"), "toy.keras")
    assert os.path.isfile(report.model_path) and report.max_abs_diff <= 1e-5
    assert report.seconds > 0 and report.extras == {"train_loss": scores["loss"]}
    if _common.figures_available():
        assert drawn == [os.path.join(str(tmp_path / "out"), "toy.png")]
        assert report.figure_path == drawn[0]
    else:
        assert drawn == [] and report.figure_path is None


def test_run_fit_compiles_with_the_given_loss(tmp_path):
    x = np.ones((4, 2), "float32")
    session = ExampleRun("toy", tmp_path, epochs=1, verbose=0)
    model = _toy_model()
    session.fit(model, x, x, loss="mae", metrics=(), batch_size=2)
    assert set(session.evaluate(model, x, x)) == {"loss"}
