"""Small, seeded experiments on real data, run by ``keras-cv-layers experiments``.

They test claims about the layers on the real data that ships inside
scikit-learn (no download): the handwritten digits (`load_digits`, 1,797
8x8 scans) and the two sample photographs (`load_sample_images`).

- ``normalization``: BatchNormalization vs weight normalization, weight
  standardization, layer and instance normalization in one small CNN;
- ``rotation``: plain CNN vs `GroupConv2D` C4 / D4 on rotated digits;
- ``antialias``: MaxPooling2D vs MaxBlurPool (`Blur2D`): shift consistency;
- ``inpainting``: PartialConv2D vs Conv2D U-Net on free-form holes;
- ``deformable``: plain CNN vs `DeformableConv2D` under scale and shear.

Each module has ``NAME``, ``TITLE`` and ``run(seeds, out_dir, small,
verbose) -> ExperimentResult``; `run_experiments` runs them, prints each
table (mean ± std over the seeds), and writes ``<out_dir>/<name>.json``,
``<out_dir>/<name>.md``, ``<out_dir>/<name>.png`` and
``<out_dir>/results.json``.  They need scikit-learn and matplotlib:
``pip install 'keras-cv-layers[experiments]'``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from types import ModuleType

import keras

from keras_cv_layers.experiments._common import (
    ExperimentResult,
    MissingDependencyError,
    Timer,
    require,
)

__all__ = [
    "EXPERIMENTS",
    "ExperimentError",
    "ExperimentResult",
    "MissingDependencyError",
    "get_experiment",
    "run_experiments",
]

#: The experiments, in run order.
EXPERIMENTS = ("normalization", "rotation", "antialias", "inpainting", "deformable")


class ExperimentError(ValueError):
    """Bad arguments of `run_experiments` (e.g. an unknown experiment name)."""


def get_experiment(name: str) -> ModuleType:
    """The module of experiment `name` (one of `EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ExperimentError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"{__name__}.{name}")


def run_experiments(
    only: Sequence[str] | None = None,
    seeds: int = 3,
    small: bool = False,
    out_dir: str | os.PathLike = "kcl_experiments",
    verbose: int = 1,
) -> list[ExperimentResult]:
    """Runs the experiments (all, or those named in `only`) with seeds
    ``0 .. seeds - 1``; prints and writes their tables and figures.

    Args:
        only: experiment names (default: all of `EXPERIMENTS`).
        seeds: number of seeds (>= 1).
        small: tiny configurations (seconds; for smoke tests).
        out_dir: output folder (created).
        verbose: 0 silent, 1 a line per trained model and the tables.

    Returns:
        The results, in run order.

    Raises:
        ExperimentError: on an unknown name or `seeds` < 1.
        MissingDependencyError: without scikit-learn / scipy / matplotlib.
    """
    names = list(EXPERIMENTS) if not only else list(dict.fromkeys(only))
    modules = [get_experiment(name) for name in names]
    if int(seeds) < 1:
        raise ExperimentError(f"seeds must be >= 1; received {seeds!r}")
    for dependency in ("sklearn.datasets", "scipy.ndimage", "matplotlib"):
        require(dependency)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    timer = Timer()
    results = []
    for module in modules:
        if verbose:
            print(f"== {module.NAME}: {module.TITLE}", flush=True)
        result = module.run(
            seeds=tuple(range(int(seeds))), out_dir=out_dir, small=small, verbose=verbose
        )
        result.write(out_dir)
        results.append(result)
        if verbose:
            print(f"\n{result.table()}\n({result.seconds:.1f} s)\n", flush=True)
    summary = {
        "backend": keras.backend.backend(),
        "image_data_format": keras.config.image_data_format(),
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "seeds": int(seeds),
        "small": bool(small),
        "seconds": timer.elapsed,
        "experiments": [result.as_dict() for result in results],
    }
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    if verbose:
        print(f"experiments: {len(results)} in {timer.elapsed:.1f} s; results in {out_dir}")
    return results
