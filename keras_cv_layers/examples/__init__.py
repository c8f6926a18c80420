"""Worked examples on synthetic data, run by ``keras-cv-layers demo``.

Each public module of this package is one example and defines:

- ``TITLE``: a one-line description;
- ``run(epochs, out_dir, seed=0, verbose=1, small=False) -> ExampleReport``:
  makes its synthetic data in code, builds and trains a small model from the
  package's layers (Keras progress bars when `verbose`), saves it as
  ``<out_dir>/<name>.keras``, reloads it with ``safe_mode=True`` and checks the
  reloaded outputs, writes its PNG figure when matplotlib is installed, and
  returns an `ExampleReport`: ``name``, ``metric`` (the headline number, e.g.
  accuracy), ``metric_name``, ``model_path``, ``max_abs_diff``,
  ``figure_path`` (None without matplotlib), ``seconds``, ``backend``,
  ``epochs`` and the example's own ``extras``.  ``small=True`` selects a tiny
  configuration for tests.

The examples share one training skeleton, `ExampleRun` (seed, timer,
compile and fit, save / reload check, figure, report), in
`keras_cv_layers.examples._skeleton`; the other helpers are in
`keras_cv_layers.examples._common`.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from keras_cv_layers.examples._skeleton import ExampleReport, ExampleRun

__all__ = ["ExampleReport", "ExampleRun", "available_examples"]


def available_examples() -> dict[str, ModuleType]:
    """`{name: module}` of every example, in name order."""
    names = sorted(
        info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")
    )
    return {name: importlib.import_module(f"{__name__}.{name}") for name in names}
