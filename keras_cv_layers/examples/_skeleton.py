"""The training skeleton shared by the examples, and their typed report.

Every example's `run` does the same things around its own data, model and
metric: start a timer, seed Keras, compile and fit, save the model as
``<out_dir>/<name>.keras``, reload it with ``safe_mode=True`` and compare the
outputs, draw its figure, stop the timer and report.  `ExampleRun` does them
once for all; an example only says what differs::

    session = ExampleRun("blocks", out_dir, seed=seed, epochs=epochs, verbose=verbose)
    x, y = make_dataset(...)                     # after the seed, before the model
    model = build_model()
    history = session.fit(model, x, y, batch_size=32, about="1536 images")
    accuracy = session.evaluate(model, x_test, y_test)["accuracy"]
    return session.finish(
        model, x_test[:32], metric=accuracy, metric_name="test accuracy",
        figure=lambda path: draw(path, model),
    )

`ExampleReport` is what `run` returns and what ``keras-cv-layers demo``
writes, one entry per example, into ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras

from keras_cv_layers.examples._common import figures_available, save_reload_check

__all__ = ["REPORT_KEYS", "ExampleReport", "ExampleRun", "compile_model"]

#: Keys a report must hold (the headline of the demo's summary table).
REPORT_KEYS = ("name", "metric", "metric_name", "model_path", "max_abs_diff", "figure_path")


@dataclasses.dataclass(frozen=True)
class ExampleReport(Mapping[str, Any]):
    """What an example's `run` returns.

    Also a read-only mapping of the flat report (`as_dict`), so that
    ``report["metric"]`` and ``report["train_accuracy"]`` (an extra) read as
    they did when the examples returned dicts.

    Attributes:
        name: the example's name, also the file stem of its model and figure.
        metric: the headline number (e.g. test accuracy).
        metric_name: what `metric` measures (e.g. ``"test accuracy"``).
        model_path: the saved ``.keras`` file.
        max_abs_diff: the largest difference between the outputs of the
            trained model and of its reloaded copy.
        figure_path: the PNG figure, or None without matplotlib.
        seconds: wall-clock time of the whole run.
        backend: the Keras backend the example ran on.
        epochs: training epochs.
        extras: the example's own further numbers (e.g. ``train_accuracy``);
            their names must differ from the fields'.
    """

    name: str
    metric: float
    metric_name: str
    model_path: str
    max_abs_diff: float
    figure_path: str | None
    seconds: float
    backend: str
    epochs: int
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        extras = dict(self.extras)  # a private copy: the report does not change
        clashes = sorted(set(extras) & set(_FIELDS))
        if clashes:
            raise ValueError(f"extras {clashes} clash with ExampleReport fields.")
        object.__setattr__(self, "extras", extras)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], **defaults: Any) -> ExampleReport:
        """A report from a dict of the older interface (the flat keys of `as_dict`).

        Args:
            data: at least the `REPORT_KEYS`; keys that are not fields become
                extras.
            **defaults: values of fields that `data` lacks (e.g. `seconds`,
                `backend`, `epochs`).

        Returns:
            The report.

        Raises:
            KeyError: if a field is neither in `data` nor in `defaults`.
        """
        merged = {**defaults, **data}
        missing = [key for key in _FIELDS if key not in merged and key != "extras"]
        if missing:
            raise KeyError(f"report lacks {', '.join(map(repr, missing))}")
        fields = {key: merged[key] for key in _FIELDS if key != "extras"}
        extras = {key: value for key, value in data.items() if key not in _FIELDS}
        return cls(**fields, extras=extras)

    def as_dict(self) -> dict[str, Any]:
        """The report as one flat, JSON-ready dict: the fields, then the extras."""
        data = dataclasses.asdict(self)
        extras = data.pop("extras")
        return {**data, **extras}

    def with_extras(self, **extras: Any) -> ExampleReport:
        """A copy of the report with `extras` added (or replaced)."""
        return dataclasses.replace(self, extras={**self.extras, **extras})

    def __getitem__(self, key: str) -> Any:
        if key in _FIELDS and key != "extras":
            return getattr(self, key)
        return self.extras[key]

    def __iter__(self) -> Iterator[str]:
        yield from (key for key in _FIELDS if key != "extras")
        yield from self.extras

    def __len__(self) -> int:
        return len(_FIELDS) - 1 + len(self.extras)


_FIELDS = tuple(field.name for field in dataclasses.fields(ExampleReport))


def compile_model(
    model: keras.Model,
    learning_rate: float = 3e-3,
    loss: str = "sparse_categorical_crossentropy",
    metrics: Sequence[str] = ("accuracy",),
) -> keras.Model:
    """Compiles `model` the examples' way: Adam at `learning_rate`.

    Args:
        model: the model to compile.
        learning_rate: Adam's learning rate.
        loss: the Keras loss (default: a classifier's, on integer labels).
        metrics: Keras metrics; empty for none.

    Returns:
        `model`, compiled.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        metrics=list(metrics) or None,
    )
    return model


class ExampleRun:
    """One run of an example: seed and timer on creation, then `fit` (one
    call per model), `evaluate` and `finish`, which saves, reloads and
    checks the model, draws the figure and returns the `ExampleReport`.

    Creating it starts the timer, creates `out_dir` and seeds Keras' global
    random state (`keras.utils.set_random_seed`), so build the models after.

    Args:
        name: the example's name: report name and file stem of
            ``<out_dir>/<name>.keras`` and ``<out_dir>/<name>.png``.
        out_dir: output folder; created if needed.
        seed: seed of Keras' global random state.
        epochs: training epochs of every `fit`.
        verbose: `model.fit` verbosity (0 silent, 1 progress bar, 2 one line
            per epoch); also whether `fit` prints what it trains.
        label: how `fit` names the model in that line (default `name`).
    """

    def __init__(
        self,
        name: str,
        out_dir: str | os.PathLike,
        *,
        seed: int = 0,
        epochs: int,
        verbose: int = 1,
        label: str | None = None,
    ) -> None:
        self._start = time.perf_counter()
        self.name = name
        self.out_dir = os.fspath(out_dir)
        self.seed = seed
        self.epochs = int(epochs)
        self.verbose = verbose
        self.label = label or name
        self.backend = keras.backend.backend()
        os.makedirs(self.out_dir, exist_ok=True)
        self.reseed()

    def reseed(self) -> None:
        """Seeds Keras' global random state again with the run's seed (e.g.
        so that two models compared with each other start alike)."""
        keras.utils.set_random_seed(self.seed)

    def fit(
        self,
        model: keras.Model,
        x: Any,
        y: Any = None,
        *,
        learning_rate: float = 3e-3,
        loss: str = "sparse_categorical_crossentropy",
        metrics: Sequence[str] = ("accuracy",),
        batch_size: int = 32,
        verbose: int | None = None,
        about: str = "",
        **fit_kwargs: Any,
    ) -> keras.callbacks.History:
        """Compiles `model` (`compile_model`) and trains it for the run's
        epochs, shuffling, after printing its parameter count and `about`
        when verbose.

        Args:
            model: the model to train.
            x: training inputs.
            y: training targets.
            learning_rate: Adam's learning rate.
            loss: the Keras loss.
            metrics: Keras metrics; empty for none.
            batch_size: training batch size.
            verbose: `model.fit` verbosity (default: the run's).
            about: what the model is trained on, for the printed line.
            **fit_kwargs: more `model.fit` arguments (e.g. `validation_data`,
                `sample_weight`).

        Returns:
            The `History` of `model.fit`.
        """
        verbose = self.verbose if verbose is None else verbose
        compile_model(model, learning_rate, loss, metrics)
        if verbose:
            print(
                f"{self.label} on backend '{self.backend}': {model.count_params()} parameters"
                + (f", {about}" if about else ""),
                flush=True,
            )
        fit_kwargs.setdefault("shuffle", True)
        return model.fit(
            x, y, epochs=self.epochs, batch_size=batch_size, verbose=verbose, **fit_kwargs
        )

    def evaluate(
        self, model: keras.Model, x: Any, y: Any, batch_size: int | None = None
    ) -> dict[str, float]:
        """The compiled loss and metrics of `model` on `(x, y)`, silently.

        Args:
            model: a compiled model.
            x: inputs.
            y: targets.
            batch_size: evaluation batch size (Keras' default: 32).

        Returns:
            `{"loss": ..., "<metric>": ...}` as floats.
        """
        results = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {key: float(value) for key, value in results.items()}

    def finish(
        self,
        model: keras.Model,
        check_inputs: Any,
        *,
        metric: float,
        metric_name: str,
        batch_size: int = 32,
        atol: float = 1e-5,
        figure: Callable[[str], str | None] | None = None,
        figure_name: str | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> ExampleReport:
        """Saves `model` as ``<out_dir>/<name>.keras``, reloads it with
        ``safe_mode=True`` and compares the outputs on `check_inputs`, draws
        the figure, stops the timer and reports.

        Args:
            model: the trained model to save and check.
            check_inputs: inputs on which the reloaded model must agree.
            metric: the headline number.
            metric_name: what `metric` measures.
            batch_size: prediction batch size of the reload check.
            atol: the largest difference allowed by the reload check.
            figure: draws the figure at the path it is given and returns that
                path (or None); called only when matplotlib is installed.
            figure_name: the figure's file name (default ``<name>.png``).
            extras: the example's further numbers for the report.

        Returns:
            The `ExampleReport` of the run.

        Raises:
            AssertionError: if the reloaded model's outputs differ from the
                trained model's by more than `atol`.
        """
        model_path, max_abs_diff = save_reload_check(
            model, check_inputs, self.out_dir, self.name, atol=atol, batch_size=batch_size
        )
        figure_path = None
        if figure is not None and figures_available():
            figure_path = figure(os.path.join(self.out_dir, figure_name or f"{self.name}.png"))
        return ExampleReport(
            name=self.name,
            metric=float(metric),
            metric_name=metric_name,
            model_path=model_path,
            max_abs_diff=max_abs_diff,
            figure_path=figure_path,
            seconds=time.perf_counter() - self._start,
            backend=self.backend,
            epochs=self.epochs,
            extras=extras or {},
        )
