"""Tests of the command-line interface and of the end-to-end demo."""

from __future__ import annotations

import json
import os
import sys
import types

import keras
import numpy as np
import pytest

from keras_cv_layers import cli, demo, examples
from keras_cv_layers.demo import build_model, make_dataset, run_demo, write_samples_figure
from keras_cv_layers.examples import _common


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
    report = run_demo(epochs=1, out_dir=tmp_path, num_samples=32, batch_size=16, verbose=0)
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


def _png_size(path) -> tuple[int, int]:
    """(height, width) of a PNG, read back with matplotlib."""
    from matplotlib.image import imread

    return imread(path).shape[:2]


def test_image_grid_figure(tmp_path):
    pytest.importorskip("matplotlib")
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    tiles = [np.full((8, 8), v, "float32") for v in (0.0, 0.5, 1.0)]
    one = _common.save_image_grid(tmp_path / "one.png", [tiles], row_labels=["a"])
    two = _common.save_image_grid(
        tmp_path / "sub" / "two.png", [tiles, tiles[:2]], row_labels=["a", "b"]
    )
    (h1, w1), (h2, w2) = _png_size(one), _png_size(two)
    assert w1 == w2 and h2 > h1 > 50  # one row per entry, same columns
    x, y = make_dataset(4)
    assert _png_size(write_samples_figure(tmp_path, x, y, y))[1] > 200
    # The object-oriented API only: no pyplot, no GUI backend chosen for the user.
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded


def test_figure_skipped_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    monkeypatch.setattr(_common, "_warned_no_matplotlib", False)
    x, y = make_dataset(4)
    assert write_samples_figure(tmp_path, x, y, y) is None
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not os.path.exists(tmp_path / "samples.png")


# ------------------------------------------------------------ demo runner
def _tiny_example(name, fail=False, bad_report=False, epochs_default=2):
    """A module following the example interface, with a two-weight model."""
    calls = []

    def run(epochs=epochs_default, out_dir="out", seed=0, verbose=1, small=False):
        calls.append({"epochs": epochs, "small": small, "seed": seed, "verbose": verbose})
        if fail:
            raise RuntimeError(f"{name} broke")
        x = np.linspace(-1, 1, 16, dtype="float32").reshape(8, 2)
        inputs = keras.Input((2,))
        model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, x[:, :1], epochs=epochs, verbose=verbose)
        path, diff = _common.save_reload_check(model, x, out_dir, name)
        figure = _common.save_image_grid(os.path.join(out_dir, f"{name}.png"), [[x[:2, :, None]]])
        if bad_report:
            return {"name": name}
        return {
            "name": name,
            "metric": 0.5,
            "metric_name": "score",
            "model_path": path,
            "max_abs_diff": diff,
            "figure_path": figure,
            "seconds": 0.1,
        }

    module = types.ModuleType(f"keras_cv_layers.examples.{name}")
    module.TITLE = f"tiny {name}"
    module.run = run
    module.calls = calls
    return module


@pytest.fixture
def tiny_examples(monkeypatch):
    modules = {
        "alpha": _tiny_example("alpha"),
        "beta": _tiny_example("beta", epochs_default=1),
    }
    monkeypatch.setattr(examples, "available_examples", lambda: dict(modules))
    return modules


def test_demo_runs_every_example_and_summarizes(tiny_examples, tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--verbose", "0", "--small"]) == 0
    out = capsys.readouterr().out
    assert "demo summary" in out and "2 of 2 example(s) passed" in out
    for name in ("alpha", "beta"):
        assert os.path.isfile(tmp_path / f"{name}.keras")
        assert "score 0.5000" in out
        assert tiny_examples[name].calls[0]["small"] is True
    # Without --epochs each example gets its own default.
    assert tiny_examples["alpha"].calls[0]["epochs"] == 2
    assert tiny_examples["beta"].calls[0]["epochs"] == 1
    with open(tmp_path / "summary.json") as f:
        summary = json.load(f)
    assert summary["backend"] == keras.backend.backend()
    assert [r["example"] for r in summary["examples"]] == ["alpha", "beta"]
    assert all(r["ok"] for r in summary["examples"])


def test_demo_epochs_and_only(tiny_examples, tmp_path, capsys):
    args = ["demo", "--out", str(tmp_path), "--verbose", "0", "--epochs", "3", "--only", "beta"]
    assert cli.main(args) == 0
    assert tiny_examples["alpha"].calls == []
    assert tiny_examples["beta"].calls[0]["epochs"] == 3
    assert "1 of 1 example(s) passed" in capsys.readouterr().out


def test_demo_unknown_example_is_an_error(tiny_examples, tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--only", "gamma"]) == 2
    err = capsys.readouterr().err
    assert "gamma" in err and "alpha, beta" in err


def test_demo_failure_gives_nonzero_status_and_others_still_run(monkeypatch, tmp_path, capsys):
    modules = {
        "alpha": _tiny_example("alpha", fail=True),
        "beta": _tiny_example("beta", bad_report=True),
        "gamma": _tiny_example("gamma"),
    }
    monkeypatch.setattr(examples, "available_examples", lambda: dict(modules))
    assert cli.main(["demo", "--out", str(tmp_path), "--verbose", "0"]) == 1
    captured = capsys.readouterr()
    assert "1 of 3 example(s) passed; failed: alpha, beta" in captured.out
    assert "RuntimeError: alpha broke" in captured.out
    assert "report lacks 'metric'" in captured.out
    assert "demo failed: alpha, beta" in captured.err
    assert os.path.isfile(tmp_path / "gamma.keras")


def test_demo_example_that_does_not_import(monkeypatch, tmp_path, capsys):
    """A broken example module is reported; the other examples still run."""
    package = tmp_path / "fake_examples_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import importlib, pkgutil\n"
        "def available_examples():\n"
        "    return {i.name: importlib.import_module(__name__ + '.' + i.name)\n"
        "            for i in pkgutil.iter_modules(__path__)}\n"
    )
    (package / "broken.py").write_text("raise ImportError('no such thing')\n")
    (package / "fine.py").write_text(
        "from tests.test_cli import _tiny_example\n"
        "_m = _tiny_example('fine')\n"
        "TITLE, run = _m.TITLE, _m.run\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    fake = importlib.import_module("fake_examples_pkg")
    monkeypatch.setattr(demo, "_examples", fake)
    reports = demo.run_all(out_dir=tmp_path / "out", verbose=0)
    assert [(r["example"], r["ok"]) for r in reports] == [("broken", False), ("fine", True)]
    assert "no such thing" in reports[0]["error"]
    assert "failed: broken" in capsys.readouterr().out
    for name in ("fake_examples_pkg", "fake_examples_pkg.broken", "fake_examples_pkg.fine"):
        sys.modules.pop(name, None)


def test_demo_list(tiny_examples, capsys):
    assert cli.main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "tiny beta" in out


@pytest.mark.parametrize("matplotlib", [True, False])
def test_format_summary_marks_failures(matplotlib, monkeypatch):
    monkeypatch.setattr(demo, "figures_available", lambda: matplotlib)
    text = demo.format_summary(
        [
            {
                "example": "a",
                "ok": True,
                "metric": 0.25,
                "metric_name": "acc",
                "max_abs_diff": 0.0,
                "figure_path": None,
                "seconds": 1.0,
            },
            {"example": "b", "ok": False, "error": "ValueError: x"},
        ],
        backend="jax",
    )
    assert "acc 0.2500" in text
    # No figure: for want of matplotlib, or an example that draws none (export).
    assert ("(no matplotlib)" in text) is not matplotlib
    assert "FAILED: ValueError: x" in text
    assert "1 of 2 example(s) passed; failed: b" in text


@pytest.mark.parametrize("name", sorted(examples.available_examples()))
def test_every_example_follows_the_interface(name):
    import inspect

    module = examples.available_examples()[name]
    assert isinstance(getattr(module, "TITLE", None), str) and module.TITLE
    parameters = inspect.signature(module.run).parameters
    for argument in ("epochs", "out_dir", "seed", "verbose", "small"):
        assert argument in parameters, f"{name}.run lacks {argument!r}"
    assert os.path.isfile(
        os.path.join(
            os.path.dirname(os.path.dirname(__file__)), "tests", "examples", f"test_{name}.py"
        )
    ), f"example {name!r} has no tests/examples/test_{name}.py"


# ------------------------------------------------------------------ bench
def test_bench_passes_output_paths_to_the_runner(monkeypatch, tmp_path):
    commands = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: commands.append(command) or 0)
    png, js = str(tmp_path / "r.png"), str(tmp_path / "r.json")
    assert cli.main(["bench", "--backend", "all", "-k", "WSConv", "--png", png, "--json", js]) == 0
    (command,) = commands
    assert command[1].endswith("run.py")
    for expected in (["--backend", "all"], ["--filter", "WSConv"], ["--png", png], ["--json", js]):
        i = command.index(expected[0])
        assert command[i : i + 2] == expected
    # Defaults: results folder next to the runner.
    commands.clear()
    assert cli.main(["bench", "--threads", "1"]) == 0
    (command,) = commands
    assert command[command.index("--png") + 1].endswith(os.path.join("results", "bench_ratios.png"))
    assert command[-2:] == ["--threads", "1"]
    commands.clear()
    assert cli.main(["bench", "--png", "", "--json", ""]) == 0
    assert "--png" not in commands[0] and "--json" not in commands[0]


def _bench_module(name: str):
    """A module of the checkout's `benchmarks/` folder (skips without it)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", f"{name}.py")
    if not os.path.isfile(path):
        pytest.skip("no benchmarks/ folder")
    spec = importlib.util.spec_from_file_location(f"kcl_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _bench_report_module():
    return _bench_module("report")


def test_bench_device_forward_is_the_models_forward():
    # The benchmarks' forward timer must compute what predict_on_batch
    # computes, with the model's current weights (read at every call).
    bench_utils = _bench_module("bench_utils")
    inputs = keras.Input((4, 4, 3), batch_size=2)
    hidden = keras.layers.Conv2D(5, 3, padding="same")(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization()(hidden))
    model.compile(optimizer="sgd", loss="mse")
    x = keras.ops.convert_to_tensor(
        np.random.default_rng(0).standard_normal((2, 4, 4, 3)), "float32"
    )
    forward = bench_utils.device_forward(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(forward(x)), model.predict_on_batch(x), rtol=1e-5, atol=1e-6
    )
    kernel = model.layers[1].kernel
    kernel.assign(kernel * 2.0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(forward(x)), model.predict_on_batch(x), rtol=1e-5, atol=1e-6
    )


def test_bench_side_by_side_table_and_chart(tmp_path):
    report = _bench_report_module()
    rows = [
        {"backend": "jax", "name": "A fwd+bwd", "ratio": 1.05, "target": 1.1},
        {"backend": "torch", "name": "A fwd+bwd", "ratio": 1.3, "target": 1.1},
        {"backend": "jax", "name": "B fwd", "ratio": 0.9, "target": None},
        {"backend": "torch", "name": "B fwd", "ratio": None, "target": None, "error": "boom"},
    ]
    table = report.side_by_side_table(rows).splitlines()
    assert "jax" in table[0] and "torch" in table[0] and "tensorflow" not in table[0]
    a_line = next(line for line in table if line.startswith("A fwd+bwd"))
    assert "<=1.10" in a_line and "1.050 yes" in a_line and "1.300 NO" in a_line
    b_line = next(line for line in table if line.startswith("B fwd"))
    assert "0.900 -" in b_line and "error ERR" in b_line
    assert "missed or failed: A fwd+bwd [torch], B fwd [torch]" in table[-1]
    path = report.write_bar_chart(rows, tmp_path / "chart.png")
    if path is not None:
        height, width = _png_size(path)
        assert width > 400 and height > 100
