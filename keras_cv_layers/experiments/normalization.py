"""Normalization: one small CNN on real digits with each normalization.

The same three-convolution CNN (two 2x2 max pools, global average pooling,
softmax) on scikit-learn's handwritten digits upsampled to 16x16, with each
convolution followed by (or replaced with) one of:

- nothing (plain `keras.layers.Conv2D` with bias: the reference);
- `keras.layers.BatchNormalization` (momentum 0.9, after a bias-free conv);
- `kcl.Conv2D(weightnorm=True)` (weight normalization, no normalization layer);
- `kcl.WSConv2D` / `kcl.SWSConv2D` (weight standardization; no BN);
- `kcl.LayerNormalization` / `kcl.InstanceNormalization` after the conv.

Reports test accuracy after the last epoch and the first epoch at which the
test accuracy reaches 95% (the test set is evaluated after every epoch).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.experiments import _common as C

NAME = "normalization"
TITLE = "Normalization layers on real digits (16x16): accuracy and epochs to 95%"

#: (label, kind), in table order.
VARIANTS = (
    ("no normalization (Conv2D)", "none"),
    ("BatchNormalization", "batchnorm"),
    ("kcl.Conv2D(weightnorm=True)", "weightnorm"),
    ("kcl.WSConv2D", "ws"),
    ("kcl.SWSConv2D", "sws"),
    ("kcl.LayerNormalization", "layernorm"),
    ("kcl.InstanceNormalization", "instancenorm"),
)
THRESHOLD = 0.95


def _sizes(small: bool) -> dict:
    if small:
        return {"size": 16, "limit": 160, "epochs": 1, "filters": (4, 8, 8), "batch": 128}
    return {"size": 16, "limit": None, "epochs": 20, "filters": (8, 16, 32), "batch": 64}


def build_model(kind: str, size: int = 16, filters: Sequence[int] = (16, 32, 32)) -> keras.Model:
    """The CNN with normalization `kind` (see `VARIANTS`)."""
    inputs = keras.Input(C.image_shape(size, size, 1))
    x = inputs
    for i, f in enumerate(filters):
        name = f"conv{i}"
        if kind == "none":
            x = keras.layers.Conv2D(f, 3, padding="same", name=name)(x)
        elif kind == "batchnorm":
            x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=name)(x)
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        elif kind == "weightnorm":
            x = kcl.Conv2D(f, 3, padding="same", use_bias=True, weightnorm=True, name=name)(x)
        elif kind == "ws":
            x = kcl.WSConv2D(f, 3, padding="same", use_bias=True, name=name)(x)
        elif kind == "sws":
            # The first conv sees the raw image, not a relu output.
            act = "linear" if i == 0 else "relu"
            x = kcl.SWSConv2D(
                f, 3, padding="same", use_bias=True, preceding_activation=act, name=name
            )(x)
        elif kind == "layernorm":
            x = keras.layers.Conv2D(f, 3, padding="same", name=name)(x)
            x = kcl.LayerNormalization(name=f"ln{i}")(x)
        elif kind == "instancenorm":
            x = keras.layers.Conv2D(f, 3, padding="same", name=name)(x)
            x = kcl.InstanceNormalization(name=f"in{i}")(x)
        else:
            raise ValueError(f"unknown normalization kind {kind!r}")
        x = keras.layers.Activation("relu")(x)
        if i < len(filters) - 1:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"norm_{kind}")


def run(
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | os.PathLike = "kcl_experiments",
    small: bool = False,
    verbose: int = 1,
) -> C.ExperimentResult:
    """Runs the experiment; returns its table (and writes its figure)."""
    timer = C.Timer()
    sizes = _sizes(small)
    x_all, y_all = C.digits(sizes["size"])
    rows = {label: C.Row(label) for label, _ in VARIANTS}
    curves: dict[str, list[list[float]]] = {label: [] for label, _ in VARIANTS}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x, y, xt, yt = C.split(x_all, y_all, rng, limit=sizes["limit"])
        x, xt = C.to_model_format(x), C.to_model_format(xt)
        for label, kind in VARIANTS:
            C.seed_everything(seed)
            model = build_model(kind, sizes["size"], sizes["filters"])
            t = C.Timer()
            history = C.fit(
                model,
                x,
                y,
                epochs=sizes["epochs"],
                batch_size=sizes["batch"],
                validation_data=(xt, yt),
                run_eagerly=small,
            )
            curve = history["val_accuracy"]
            curves[label].append(curve)
            rows[label].facts["params"] = C.count_params(model)
            rows[label].add(
                accuracy=curve[-1],
                best=max(curve),
                epochs_to=C.epochs_to(curve, THRESHOLD),
                reached=float(max(curve) >= THRESHOLD),
                seconds=t.elapsed,
            )
            C.log(
                verbose,
                f"  [{NAME}] seed {seed} {label}: test accuracy {curve[-1]:.3f} "
                f"({t.elapsed:.1f} s)",
            )
    result = C.ExperimentResult(
        name=NAME,
        title=TITLE,
        columns=[
            C.Column("accuracy", "test accuracy (last epoch)"),
            C.Column("best", "best test accuracy"),
            C.Column("epochs_to", f"epochs to {THRESHOLD:.0%}", 1),
            C.Column("reached", f"runs reaching {THRESHOLD:.0%}", 2),
            C.Column("seconds", "train s", 1),
        ],
        rows=list(rows.values()),
        fact_headers={"params": "params"},
        seeds=list(seeds),
        small=small,
        setup={**sizes, "train": int(len(x)), "test": int(len(xt))},
        notes=[
            f"{len(x)} training / {len(xt)} test digits per seed (a fresh random split per "
            f"seed), {sizes['epochs']} epochs, Adam 3e-3, batch {sizes['batch']}.",
            f"'epochs to {THRESHOLD:.0%}' counts a run that never reached it as "
            f"{sizes['epochs'] + 1} (epochs + 1); 'runs reaching' is the fraction that did.",
        ],
    )
    result.figure_path = C.figure_or_none(lambda: _figure(curves, out_dir))
    result.seconds = timer.elapsed
    return result


def _figure(curves: dict[str, list[list[float]]], out_dir) -> str:
    figure = C.new_figure(7.0, 4.2)
    axes = figure.subplots()
    for label, runs in curves.items():
        array = np.asarray(runs)
        epochs = np.arange(1, array.shape[1] + 1)
        mean = array.mean(axis=0)
        axes.plot(epochs, mean, marker="o", markersize=3, label=label)
        if len(array) > 1:
            axes.fill_between(epochs, array.min(axis=0), array.max(axis=0), alpha=0.15)
    axes.axhline(THRESHOLD, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("epoch")
    axes.set_ylabel("test accuracy (mean; band: min–max over seeds)")
    axes.set_ylim(0.0, 1.0)
    axes.set_title("Digits 16x16: test accuracy per epoch")
    axes.legend(fontsize=8, loc="lower right")
    return C.save_figure(figure, os.path.join(os.fspath(out_dir), f"{NAME}.png"))
