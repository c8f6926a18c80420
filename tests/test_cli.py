"""Tests of the command-line interface and of the end-to-end demo."""

from __future__ import annotations

import os
import sys

import keras
import numpy as np
import pytest

from keras_cv_layers import cli
from keras_cv_layers.demo import build_model, make_dataset, run_demo, write_samples_figure


def test_info_prints_backend(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert keras.backend.backend() in out
    assert keras.__version__ in out
    assert keras.config.image_data_format() in out
    for name in ("jax", "tensorflow", "torch", "fast paths", "weight_standardize"):
        assert name in out


def test_info_with_current_backend_runs_in_process(capsys):
    # The current backend needs no child process.
    assert cli.main(["info", "--backend", keras.backend.backend()]) == 0
    out = capsys.readouterr().out
    assert "re-running" not in out
    assert keras.backend.backend() in out


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_installed_version():
    assert cli.installed_version("keras") == keras.__version__
    assert cli.installed_version("surely-not-a-real-distribution-kcl") == "not installed"


def test_benchmark_runner_found_in_checkout():
    runner = cli.find_benchmark_runner()
    if os.path.isdir(os.path.join(os.path.dirname(cli.__file__), "..", "benchmarks")):
        assert runner is not None and runner.name == "run.py"


def test_bench_without_benchmarks_folder(monkeypatch, capsys):
    monkeypatch.setattr(cli, "find_benchmark_runner", lambda: None)
    assert cli.main(["bench"]) == 1
    assert "benchmarks are not available" in capsys.readouterr().err


def test_unknown_option_is_an_error():
    with pytest.raises(SystemExit):
        cli.main(["info", "--no-such-option"])


def test_dataset_is_seeded_and_balanced():
    x1, y1 = make_dataset(64, seed=3)
    x2, y2 = make_dataset(64, seed=3)
    assert x1.shape == (64, 16, 16, 3) and x1.dtype == np.float32
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert set(np.unique(y1)) <= {0, 1, 2, 3}


def test_demo_model_is_channels_last_whatever_the_config():
    model = build_model()
    assert tuple(model.input.shape) == (None, 16, 16, 3)
    assert tuple(model.output.shape) == (None, 4)
    for layer in model.layers:
        if hasattr(layer, "data_format"):
            assert layer.data_format == "channels_last", layer.name


def test_run_demo_saves_and_reloads(tmp_path, capsys):
    report = run_demo(epochs=1, out_dir=tmp_path, num_samples=128, verbose=0)
    out = capsys.readouterr().out
    assert report["backend"] == keras.backend.backend()
    assert report["backend"] in out
    assert os.path.isfile(tmp_path / "model.keras")
    assert report["model_path"] == os.path.join(str(tmp_path), "model.keras")
    assert report["max_abs_diff"] <= 1e-5
    assert isinstance(report["train_accuracy"], float)
    assert isinstance(report["val_accuracy"], float)
    assert 0.0 <= report["val_accuracy"] <= 1.0
    if report["samples_path"] is not None:
        assert os.path.isfile(report["samples_path"])


def test_figure_skipped_without_pillow(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `import PIL` fail
    x, y = make_dataset(4)
    assert write_samples_figure(tmp_path, x, y, y) is None
    assert "Pillow not installed: skipping figures" in capsys.readouterr().out
    assert not os.path.exists(tmp_path / "samples.png")
