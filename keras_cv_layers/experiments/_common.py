"""Helpers shared by the experiments: optional dependencies, seeding, data
(scikit-learn's digits and sample photographs), numpy image transforms,
results tables (mean ± std over seeds) and their Markdown / JSON files.

scikit-learn (and with it scipy) and matplotlib are imported lazily: without
them an experiment raises `MissingDependencyError`, which says how to get
them (``pip install 'keras-cv-layers[experiments]'``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from keras_cv_layers.examples._common import new_figure, save_figure, show_image

__all__ = [
    "Column",
    "ExperimentResult",
    "MissingDependencyError",
    "Row",
    "count_params",
    "digits",
    "epochs_to",
    "fit",
    "format_table",
    "image_shape",
    "new_figure",
    "predict_classes",
    "require",
    "save_figure",
    "seed_everything",
    "show_image",
    "to_model_format",
]

INSTALL_HINT = "pip install 'keras-cv-layers[experiments]'"


class MissingDependencyError(ImportError):
    """An optional dependency of the experiments is not installed."""


def require(module: str) -> Any:
    """Imports `module` (e.g. ``"sklearn.datasets"``, ``"scipy.ndimage"``,
    ``"matplotlib"``) or raises `MissingDependencyError` saying how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"The experiments need scikit-learn (with scipy) and matplotlib; "
            f"'{module}' could not be imported ({error}). Install them with: {INSTALL_HINT}"
        ) from error


# ------------------------------------------------------------------ seeding
def seed_everything(seed: int) -> np.random.Generator:
    """Seeds Keras' (and numpy's / the backend's) global random state with
    `seed`; returns a fresh numpy `Generator` seeded alike for data."""
    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


# --------------------------------------------------------------- data format
def channels_first() -> bool:
    """Whether `keras.config.image_data_format()` is ``"channels_first"``."""
    return keras.config.image_data_format() == "channels_first"


def image_shape(height: int, width: int, channels: int) -> tuple[int, int, int]:
    """The input shape of a model in the current image data format."""
    return (channels, height, width) if channels_first() else (height, width, channels)


def to_model_format(images: np.ndarray) -> np.ndarray:
    """`(N, H, W, C)` float32 images, transposed to `(N, C, H, W)` when the
    image data format is channels_first."""
    images = np.asarray(images, "float32")
    if channels_first():
        images = np.transpose(images, (0, 3, 1, 2))
    return np.ascontiguousarray(images)


def from_model_format(images: np.ndarray) -> np.ndarray:
    """The inverse of `to_model_format`: back to `(N, H, W, C)`."""
    images = np.asarray(images)
    return np.transpose(images, (0, 2, 3, 1)) if channels_first() else images


# ---------------------------------------------------------------------- data
def digits(size: int = 16, canvas: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's handwritten digits (1,797 real 8x8 scans, UCI).

    Args:
        size: side of the digits after bilinear upsampling from 8x8.
        canvas: side of the zero canvas the digit is centred on (default
            `size`: no border).

    Returns:
        `(x, y)`: float32 `(1797, canvas, canvas, 1)` in [0, 1] and int32
        labels in [0, 10).
    """
    datasets = require("sklearn.datasets")
    ndimage = require("scipy.ndimage")
    data = datasets.load_digits()
    images = data.images.astype("float32") / 16.0
    if size != 8:
        images = ndimage.zoom(
            images, (1, size / 8, size / 8), order=1, grid_mode=True, mode="grid-constant"
        )
    images = np.clip(images, 0.0, 1.0)
    canvas = size if canvas is None else canvas
    if canvas > size:
        top = (canvas - size) // 2
        padded = np.zeros((len(images), canvas, canvas), "float32")
        padded[:, top : top + size, top : top + size] = images
        images = padded
    return images[..., None].astype("float32"), data.target.astype("int32")


def split(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    test_fraction: float = 1 / 3,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A random train / test split (`limit`: at most that many samples in all)."""
    order = rng.permutation(len(x))
    if limit is not None:
        order = order[:limit]
    n_test = int(round(len(order) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def affine(images: np.ndarray, matrices: np.ndarray, order: int = 1) -> np.ndarray:
    """Applies one 2x2 matrix per image about the image centre (output pixel
    `p` reads input pixel `M @ (p - c) + c`), bilinear, zeros outside.

    Args:
        images: `(N, H, W, C)`.
        matrices: `(N, 2, 2)`.
        order: spline order of `scipy.ndimage.affine_transform`.
    """
    ndimage = require("scipy.ndimage")
    out = np.empty_like(images)
    h, w = images.shape[1:3]
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    for i, (image, matrix) in enumerate(zip(images, matrices)):
        offset = centre - matrix @ centre
        for c in range(image.shape[-1]):
            out[i, ..., c] = ndimage.affine_transform(
                image[..., c], matrix, offset=offset, order=order, mode="constant"
            )
    return np.clip(out, 0.0, 1.0) if images.min() >= 0 else out


def rotate(images: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotates each `(H, W, C)` image counter-clockwise by its angle in degrees
    (bilinear, about the centre, zeros outside)."""
    t = np.deg2rad(np.asarray(degrees, "float64"))
    cos, sin = np.cos(t), np.sin(t)
    # Output (row, col) reads input R^-1 (row, col); rows point down, so a
    # counter-clockwise rotation on screen.
    matrices = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)
    return affine(images, matrices)


def rot90(images: np.ndarray, k: int) -> np.ndarray:
    """Rotates `(N, H, W, C)` images by `k` x 90 degrees counter-clockwise."""
    return np.ascontiguousarray(np.rot90(images, k, axes=(1, 2)))


def shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shifts `(N, H, W, C)` images by `(dy, dx)` pixels, zeros coming in."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = images[:, ys, xs]
    return out


# ------------------------------------------------------------------ training
def count_params(model: keras.Model) -> int:
    """Trainable parameters of `model`."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def fit(
    model: keras.Model,
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    loss: Any = "sparse_categorical_crossentropy",
    metrics: Sequence[str] = ("accuracy",),
    validation_data: Any = None,
    augment: Callable[[int], Any] | None = None,
    run_eagerly: bool = False,
) -> dict[str, list[float]]:
    """Compiles `model` (Adam, learning rate decayed to 0 by a cosine over
    all steps) and trains it silently.

    Args:
        model: the model.
        x: training inputs (an array or a list of arrays).
        y: training targets.
        epochs: training epochs.
        batch_size: batch size.
        learning_rate: Adam's initial learning rate.
        loss: Keras loss (name or callable).
        metrics: Keras metrics.
        validation_data: evaluated after every epoch (`val_*` in the history).
        augment: called with the epoch index, returns that epoch's training
            inputs (fresh random augmentations); `x` is then only used for
            its length.
        run_eagerly: no `tf.function` (for tiny runs, where tracing and
            compiling would cost more than the steps); ignored on JAX, whose
            eager ops each compile on first use (the small experiments took
            ~1.4x longer eager than jit-compiled there).

    Returns:
        The history, `{name: [value per epoch]}`.
    """
    n = len(x[0]) if isinstance(x, (list, tuple)) else len(x)
    steps = max(1, math.ceil(n / batch_size) * epochs)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=loss,
        metrics=list(metrics) or None,
        run_eagerly=run_eagerly and keras.backend.backend() != "jax",
    )
    kwargs = {"batch_size": batch_size, "validation_data": validation_data, "verbose": 0}
    if augment is None:
        history = model.fit(x, y, epochs=epochs, shuffle=True, **kwargs).history
    else:
        history = {}
        for epoch in range(epochs):
            step = model.fit(augment(epoch), y, epochs=1, shuffle=True, **kwargs).history
            for key, values in step.items():
                history.setdefault(key, []).extend(values)
    return {key: [float(v) for v in values] for key, values in history.items()}


def predict_classes(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Arg-max class of `model`'s predictions on `x`."""
    return np.argmax(np.asarray(model.predict(x, batch_size=batch_size, verbose=0)), axis=-1)


def epochs_to(curve: Sequence[float], threshold: float) -> float:
    """The first epoch (1-based) at which `curve` reaches `threshold`, or
    `len(curve) + 1` when it never does (censored; see `reached`)."""
    for epoch, value in enumerate(curve, start=1):
        if value >= threshold:
            return float(epoch)
    return float(len(curve) + 1)


# -------------------------------------------------------------------- tables
@dataclasses.dataclass(frozen=True)
class Column:
    """A column of a results table: `key` in the rows' values, its header,
    and the number of decimals of its cells."""

    key: str
    header: str
    decimals: int = 3


@dataclasses.dataclass
class Row:
    """A row of a results table: a label, fixed facts (e.g. the parameter
    count) and, per column key, one number per seed."""

    label: str
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)
    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    def add(self, **values: float) -> None:
        """Appends one seed's numbers."""
        for key, value in values.items():
            self.values.setdefault(key, []).append(float(value))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation; std 0 for one value."""
    array = np.asarray(values, "float64")
    return float(array.mean()), float(array.std()) if len(array) > 1 else 0.0


def _cell(values: Sequence[float] | None, decimals: int) -> str:
    if not values:
        return "–"
    mean, std = mean_std(values)
    if len(values) == 1:
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


@dataclasses.dataclass
class ExperimentResult:
    """What an experiment's `run` returns: its table, notes and figure."""

    name: str
    title: str
    columns: list[Column]
    rows: list[Row]
    fact_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    figure_path: str | None = None
    seconds: float = 0.0
    seeds: list[int] = dataclasses.field(default_factory=list)
    small: bool = False
    setup: dict[str, Any] = dataclasses.field(default_factory=dict)

    def row(self, label: str) -> Row:
        """The row labelled `label`."""
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)

    def table(self) -> str:
        """The results as a Markdown table: mean ± std over the seeds."""
        return format_table(self.columns, self.rows, self.fact_headers)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the setup, columns and, per row, mean, std and runs."""
        rows = []
        for row in self.rows:
            values = {}
            for column in self.columns:
                runs = row.values.get(column.key, [])
                mean, std = mean_std(runs) if runs else (float("nan"), float("nan"))
                values[column.key] = {"mean": mean, "std": std, "runs": runs}
            rows.append({"label": row.label, **row.facts, "values": values})
        return {
            "name": self.name,
            "title": self.title,
            "backend": keras.backend.backend(),
            "image_data_format": keras.config.image_data_format(),
            "seeds": list(self.seeds),
            "small": self.small,
            "seconds": self.seconds,
            "setup": self.setup,
            "columns": [dataclasses.asdict(c) for c in self.columns],
            "fact_headers": self.fact_headers,
            "rows": rows,
            "notes": self.notes,
            "figure_path": self.figure_path,
            "table_markdown": self.table(),
        }

    def write(self, out_dir: str | os.PathLike) -> str:
        """Writes ``<out_dir>/<name>.json`` and ``<out_dir>/<name>.md``;
        returns the JSON path."""
        out_dir = os.fspath(out_dir)
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, f"{self.name}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.as_dict(), handle, indent=2, allow_nan=True)
        with open(os.path.join(out_dir, f"{self.name}.md"), "w", encoding="utf-8") as handle:
            handle.write(f"## {self.title}\n\n{self.table()}\n")
            for note in self.notes:
                handle.write(f"\n- {note}")
            handle.write("\n")
        return path


def format_table(
    columns: Sequence[Column], rows: Sequence[Row], fact_headers: dict[str, str] | None = None
) -> str:
    """A Markdown table: the label, the facts (e.g. parameters), then one
    ``mean ± std`` cell per column."""
    fact_headers = fact_headers or {}
    header = ["model", *fact_headers.values(), *(c.header for c in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        facts = [str(row.facts.get(key, "")) for key in fact_headers]
        cells = [_cell(row.values.get(c.key), c.decimals) for c in columns]
        lines.append("| " + " | ".join([row.label, *facts, *cells]) + " |")
    return "\n".join(lines)


def all_finite(result: ExperimentResult) -> bool:
    """Whether every number of every row and column is finite."""
    return all(
        row.values.get(c.key) and all(math.isfinite(v) for v in row.values[c.key])
        for row in result.rows
        for c in result.columns
    )


class Timer:
    """Wall-clock seconds since creation (`elapsed`)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start


def log(verbose: int, message: str) -> None:
    """Prints `message` (flushed) when `verbose`."""
    if verbose:
        print(message, flush=True)


def figure_or_none(draw: Callable[[], str | None]) -> str | None:
    """Calls `draw` when matplotlib is importable (else raises the
    `MissingDependencyError`)."""
    require("matplotlib")
    return draw()
