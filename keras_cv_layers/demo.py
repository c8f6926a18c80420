"""End-to-end demo: every worked example of `keras_cv_layers.examples`,
trained, saved, reloaded and checked on whichever Keras backend is active.

Run it with ``keras-cv-layers demo`` (or ``python -m keras_cv_layers demo``),
or from Python::

    from keras_cv_layers.demo import run_all, run_demo
    reports = run_all(epochs=None, out_dir="kcl_demo_output")   # every example
    report = run_demo(epochs=3, out_dir="kcl_demo_output")      # the classifier only

Each example makes its synthetic data in code (no download), trains a small
model built from the package's layers with Keras' progress bars, saves it as
``<out_dir>/<name>.keras``, reloads it with ``safe_mode=True`` and checks the
reloaded outputs, and writes ``<out_dir>/<name>.png`` when matplotlib is installed
(``pip install 'keras-cv-layers[demo]'``).  `run_all` ends with a summary
table and writes it to ``<out_dir>/summary.json``: one row per example, the
flat `ExampleReport.as_dict` of its report plus ``example``, ``ok`` (and
``error`` when it failed).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import os
import pkgutil
import time
import traceback
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import keras

import keras_cv_layers as kcl
from keras_cv_layers import examples as _examples
from keras_cv_layers.examples import classification
from keras_cv_layers.examples._common import figures_available
from keras_cv_layers.examples._skeleton import REPORT_KEYS, ExampleReport
from keras_cv_layers.examples.classification import (  # re-exported: the demo's classifier
    CLASS_NAMES,
    IMAGE_SIZE,
    NUM_CLASSES,
    build_model,
    make_dataset,
    write_samples_figure,
)

__all__ = [
    "CLASS_NAMES",
    "IMAGE_SIZE",
    "NUM_CLASSES",
    "DemoError",
    "ExampleReport",
    "build_model",
    "discover_examples",
    "format_summary",
    "make_dataset",
    "run_all",
    "run_demo",
    "run_example",
    "write_samples_figure",
]

#: Epochs used for an example whose `run` has no default for `epochs`.
DEFAULT_EPOCHS = 3
#: One row of the summary (and of ``summary.json``): a flat report, plus
#: ``example``, ``ok`` and, for a failed example, ``error``.
SummaryRow = dict[str, Any]


class DemoError(ValueError):
    """Bad demo arguments (e.g. an unknown example name)."""


def run_demo(
    epochs: int = 3,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    num_samples: int = 768,
    batch_size: int = 32,
    verbose: int = 1,
) -> ExampleReport:
    """Trains, evaluates, saves, reloads and checks the demo classifier alone
    (the ``classification`` example), writing ``model.keras`` and
    ``samples.png`` into `out_dir`.

    Uses the current Keras backend (set `KERAS_BACKEND` before importing
    keras to choose it).  Seeds Keras' global random state with `seed`.

    Args:
        epochs: training epochs.
        out_dir: output folder; created if needed.
        seed: seed for the data and the weights.
        num_samples: number of training images (a quarter as many again are
            generated for validation).
        batch_size: training batch size.
        verbose: `model.fit` verbosity (0 silent, 1 progress bar, 2 one line
            per epoch).

    Returns:
        The classifier's `ExampleReport` (`backend`, `epochs`, `model_path`,
        `max_abs_diff` (reloaded vs. original predictions), `seconds`, ...),
        with the extras `train_accuracy`, `val_accuracy`, `val_loss` and
        `samples_path` (the figure; None without matplotlib).  It also reads
        like the dict it used to be: ``report["val_accuracy"]``.

    Raises:
        AssertionError: if the reloaded model's predictions differ from the
            original's by more than 1e-5.
    """
    print(f"keras_cv_layers {kcl.__version__} demo on backend '{keras.backend.backend()}'")
    report = classification.train(
        epochs=epochs,
        out_dir=out_dir,
        seed=seed,
        num_samples=num_samples,
        batch_size=batch_size,
        verbose=verbose,
        name="model",
        figure_name="samples.png",
    )
    report = report.with_extras(samples_path=report.figure_path)
    print(
        "\n".join(
            [
                "",
                "keras_cv_layers demo report",
                f"  backend            {report.backend}",
                f"  epochs             {report.epochs}",
                f"  train accuracy     {report.extras['train_accuracy']:.4f}",
                f"  val accuracy       {report.extras['val_accuracy']:.4f}",
                f"  saved model        {report.model_path}",
                f"  reload max |diff|  {report.max_abs_diff:.3g} (<= 1e-5: ok)",
                f"  samples figure     {report.figure_path or '-'}",
                f"  time               {report.seconds:.1f} s",
            ]
        )
    )
    return report


# ------------------------------------------------------------ all examples
def discover_examples() -> tuple[dict[str, ModuleType], dict[str, str]]:
    """The example modules, and the ones that failed to import.

    Uses `keras_cv_layers.examples.available_examples()`; if that raises
    (one example does not import), imports the modules one by one so that the
    others still run.

    Returns:
        ``(modules, errors)``: `{name: module}` in name order, and
        `{name: traceback text}` of the examples that did not import.
    """
    try:
        return dict(_examples.available_examples()), {}
    except Exception as error:  # one broken example must not hide the others
        del error  # fall through: import the examples one by one below
    modules: dict[str, ModuleType] = {}
    errors: dict[str, str] = {}
    names = sorted(
        info.name for info in pkgutil.iter_modules(_examples.__path__) if not info.name[0] == "_"
    )
    for name in names:
        try:
            modules[name] = importlib.import_module(f"{_examples.__name__}.{name}")
        except Exception:
            errors[name] = traceback.format_exc()
    return modules, errors


def _default_epochs(module: ModuleType) -> int:
    """The default of `module.run`'s `epochs` argument, or `DEFAULT_EPOCHS`."""
    try:
        parameter = inspect.signature(module.run).parameters.get("epochs")
    except (TypeError, ValueError):
        return DEFAULT_EPOCHS
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return DEFAULT_EPOCHS
    return int(parameter.default)


def _as_report(result: Any, epochs: int, seconds: float) -> ExampleReport:
    """The `ExampleReport` of what an example's `run` returned: that report,
    or one made from a dict of the older interface (`REPORT_KEYS` at least).

    Raises:
        AssertionError: if `result` is neither, or a dict that lacks keys.
    """
    if isinstance(result, ExampleReport):
        return result
    if not isinstance(result, Mapping):
        raise AssertionError(f"run() returned {type(result).__name__}, not an ExampleReport")
    missing = [f"report lacks {key!r}" for key in REPORT_KEYS if key not in result]
    if missing:
        raise AssertionError("; ".join(missing))
    return ExampleReport.from_mapping(
        result, seconds=seconds, backend=keras.backend.backend(), epochs=epochs
    )


def _check_report(report: ExampleReport) -> list[str]:
    """What is wrong with an example's report (empty when nothing)."""
    problems = []
    if report.model_path and not os.path.isfile(report.model_path):
        problems.append(f"model file {report.model_path} was not written")
    if report.figure_path and not os.path.isfile(report.figure_path):
        problems.append(f"figure {report.figure_path} was not written")
    diff = report.max_abs_diff
    if diff is not None and not (isinstance(diff, (int, float)) and math.isfinite(diff)):
        problems.append(f"max_abs_diff is {diff!r}")
    return problems


def run_example(
    name: str,
    module: ModuleType,
    epochs: int | None,
    out_dir: str | os.PathLike,
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> SummaryRow:
    """Runs one example and returns its summary row, never raising for a
    failure of the example itself.

    Keras' session is cleared and the seed and dtype policy reset around the
    run, so that examples do not depend on each other.

    Args:
        name: the example's name.
        module: the example's module (with `run`).
        epochs: training epochs; None: the default of the module's `run`.
        out_dir: folder for the model and the figure.
        seed: seed of the data and the weights.
        verbose: `model.fit` verbosity.
        small: the example's tiny configuration.

    Returns:
        The flat `ExampleReport.as_dict` of the example's report with
        ``example``, ``epochs`` and ``ok=True``; for a failed run only
        ``name``, ``example``, ``epochs``, ``seconds``, ``ok=False`` and
        ``error``.
    """
    epochs = _default_epochs(module) if epochs is None else epochs
    title = getattr(module, "TITLE", "")
    print(f"\n=== example '{name}'{': ' + title if title else ''} ({epochs} epochs)", flush=True)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    policy = keras.config.dtype_policy()
    start = time.perf_counter()
    try:
        result = module.run(epochs=epochs, out_dir=out_dir, seed=seed, verbose=verbose, small=small)
        report = _as_report(result, epochs, time.perf_counter() - start)
        problems = _check_report(report)
        if problems:
            raise AssertionError("; ".join(problems))
    except Exception as error:
        traceback.print_exc()
        row: SummaryRow = {
            "name": name,
            "ok": False,
            "error": f"{type(error).__name__}: {error}",
            "seconds": time.perf_counter() - start,
        }
    else:
        row = {**report.as_dict(), "ok": True}
    finally:
        keras.config.set_dtype_policy(policy)
    row["example"] = name
    row["epochs"] = epochs
    return row


def missing_requirements(module: ModuleType | None) -> list[str]:
    """The modules named in an example's ``REQUIRES`` that are not installed
    (an example without ``REQUIRES`` needs only the package)."""
    required = getattr(module, "REQUIRES", ()) if module is not None else ()
    return [name for name in required if importlib.util.find_spec(name) is None]


def run_all(
    epochs: int | None = None,
    out_dir: str | os.PathLike = "kcl_demo_output",
    only: Sequence[str] | None = None,
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> list[SummaryRow]:
    """Runs every example (or those named in `only`), prints a summary table
    and writes it to ``<out_dir>/summary.json``.

    Args:
        epochs: training epochs of every example; None: each example's own
            default (`DEFAULT_EPOCHS` when it has none).
        out_dir: folder for the models, figures and summary; created if needed.
        only: names of the examples to run (default: all, in name order).
        seed: seed of the data and the weights.
        verbose: `model.fit` verbosity (0, 1 progress bars, 2).
        small: tiny configurations (seconds each; for tests).

    Returns:
        One summary row per example (see `run_example`), in run order; each
        has ``ok`` (and ``error`` when it failed).

    Raises:
        DemoError: if `only` names an example that does not exist.
    """
    modules, import_errors = discover_examples()
    names = sorted({*modules, *import_errors})
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise DemoError(
                f"Unknown example(s) {unknown}; available: {', '.join(names) or 'none'}."
            )
        names = [n for n in names if n in set(only)]
    os.makedirs(out_dir, exist_ok=True)
    backend = keras.backend.backend()
    print(
        f"keras_cv_layers {kcl.__version__} demo on backend '{backend}' "
        f"(keras {keras.__version__}): {len(names)} example(s): {', '.join(names)}",
        flush=True,
    )
    figures_available()  # says once that figures are skipped without matplotlib
    reports: list[SummaryRow] = []
    for name in names:
        missing = missing_requirements(modules.get(name))
        if missing and not only:
            print(
                f"\n=== example '{name}' skipped: needs {', '.join(missing)} "
                f'(pip install "keras-cv-layers[export]")',
                flush=True,
            )
            continue
        if missing:
            error = f'needs {", ".join(missing)}: pip install "keras-cv-layers[export]"'
            reports.append({"name": name, "example": name, "ok": False, "error": error})
            continue
        if name in import_errors:
            print(f"\n=== example '{name}' failed to import:\n{import_errors[name]}", flush=True)
            error = import_errors[name].strip().splitlines()[-1]
            reports.append({"name": name, "example": name, "ok": False, "error": error})
            continue
        reports.append(run_example(name, modules[name], epochs, out_dir, seed, verbose, small))
    print("\n" + format_summary(reports, backend), flush=True)
    with open(os.path.join(os.fspath(out_dir), "summary.json"), "w") as f:
        json.dump({"backend": backend, "examples": reports}, f, indent=2, default=str)
    return reports


def format_summary(reports: Sequence[Mapping[str, Any]], backend: str | None = None) -> str:
    """The summary table of `run_all`: example, headline metric, reload
    difference, figure path, seconds and status."""
    header = ("example", "metric", "reload |diff|", "figure", "seconds", "status")
    # An example without a figure: matplotlib missing, or one that draws none.
    no_figure = "-" if figures_available() else "(no matplotlib)"
    rows = []
    for r in reports:
        if r.get("ok"):
            metric = r.get("metric")
            value = f"{metric:.4f}" if isinstance(metric, (int, float)) else str(metric)
            metric_text = f"{r.get('metric_name', 'metric')} {value}"
            diff = f"{r['max_abs_diff']:.2g}" if r.get("max_abs_diff") is not None else "-"
            status = "ok"
        else:
            metric_text, diff = "-", "-"
            status = f"FAILED: {r.get('error', '?')}"[:100]
        figure = r.get("figure_path") or ("-" if not r.get("ok") else no_figure)
        seconds = f"{r['seconds']:.1f}" if isinstance(r.get("seconds"), (int, float)) else "-"
        rows.append(
            (r.get("example", r.get("name", "?")), metric_text, diff, figure, seconds, status)
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        f"keras_cv_layers demo summary (backend {backend or keras.backend.backend()})",
        "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    failed = [r for r in reports if not r.get("ok")]
    lines.append(
        f"{len(reports) - len(failed)} of {len(reports)} example(s) passed"
        + (f"; failed: {', '.join(r.get('example', '?') for r in failed)}" if failed else "")
    )
    return "\n".join(lines)
