"""Deformable convolution on real digits under random scale and shear.

Digits upsampled to 16x16 on a 20x20 canvas, each warped by a random affine
map about the centre: an isotropic scale in [1 - s, 1 + s] and a horizontal
shear in [-h, h] (training and test alike, independent draws; fresh training warps
every epoch), and a
stronger test set with 1.5 times the ranges.  The CNN: conv 3x3 + relu,
max pool, conv + relu, max pool, then the last stage, global average
pooling and a softmax; the last stage is either a `keras.layers.Conv2D` or
`kcl.DeformableConv2D` (offsets predicted from the input, zero-initialised)
with the same filters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.experiments import _common as C

NAME = "deformable"
TITLE = "Digits under random scale and shear: plain CNN vs DeformableConv2D in the last stage"
SCALE, SHEAR = 0.25, 0.35
MODELS = {"plain Conv2D": False, "DeformableConv2D (last stage)": True}


def _sizes(small: bool) -> dict:
    if small:
        return {"limit": 160, "epochs": 1, "filters": (4, 8, 8), "batch": 128}
    return {"limit": None, "epochs": 15, "filters": (8, 16, 32), "batch": 64}


def warp(x: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random scale and shear (ranges `SCALE`, `SHEAR` times `strength`)."""
    n = len(x)
    scale = 1.0 + rng.uniform(-SCALE, SCALE, n) * strength
    shear = rng.uniform(-SHEAR, SHEAR, n) * strength
    # Output pixel p reads input A^-1 p with A = scale * [[1, 0], [shear, 1]]
    # (row, col): columns move by shear * row.
    inverse = np.zeros((n, 2, 2))
    inverse[:, 0, 0] = 1.0 / scale
    inverse[:, 1, 1] = 1.0 / scale
    inverse[:, 1, 0] = -shear / scale
    return C.affine(x, inverse)


def build_model(deformable: bool, filters: Sequence[int] = (16, 32, 32), size: int = 20):
    """The CNN, with a `DeformableConv2D` last stage when `deformable`."""
    inputs = keras.Input(C.image_shape(size, size, 1))
    x = inputs
    for i, f in enumerate(filters[:-1]):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2)(x)
    if deformable:
        x = kcl.DeformableConv2D(
            filters[-1], 3, padding="same", use_bias=True, activation="relu", name="last"
        )(x)
    else:
        x = keras.layers.Conv2D(filters[-1], 3, padding="same", activation="relu", name="last")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"deformable_{int(deformable)}")


def run(
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | os.PathLike = "kcl_experiments",
    small: bool = False,
    verbose: int = 1,
) -> C.ExperimentResult:
    """Runs the experiment; returns its table (and writes its figure)."""
    timer = C.Timer()
    sizes = _sizes(small)
    x_all, y_all = C.digits(16, canvas=20)
    rows = {label: C.Row(label) for label in MODELS}
    examples = None
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x, y, xt, yt = C.split(x_all, y_all, rng, limit=sizes["limit"])
        tests = {"clean": xt, "warped": warp(xt, rng), "strong": warp(xt, rng, 1.5)}
        if examples is None:
            examples = (xt[:8], tests["warped"][:8], tests["strong"][:8])
        stacked = C.to_model_format(np.concatenate(list(tests.values())))
        for label, deformable in MODELS.items():
            t = C.Timer()
            C.seed_everything(seed)
            model = build_model(deformable, sizes["filters"])
            aug_rng = np.random.default_rng(seed + 1000)  # the same for every model
            C.fit(
                model,
                x,
                y,
                epochs=sizes["epochs"],
                batch_size=sizes["batch"],
                augment=lambda _, x=x, r=aug_rng: C.to_model_format(warp(x, r)),
                run_eagerly=small,
            )
            predicted = C.predict_classes(model, stacked).reshape(len(tests), len(yt))
            accuracies = {k: float(np.mean(p == yt)) for k, p in zip(tests, predicted)}
            rows[label].facts["params"] = C.count_params(model)
            rows[label].add(**accuracies, seconds=t.elapsed)
            C.log(
                verbose,
                f"  [{NAME}] seed {seed} {label}: warped {accuracies['warped']:.3f}"
                f" ({t.elapsed:.1f} s)",
            )
    result = C.ExperimentResult(
        name=NAME,
        title=TITLE,
        columns=[
            C.Column("warped", "test, warped as in training"),
            C.Column("strong", "test, 1.5x stronger warp"),
            C.Column("clean", "test, unwarped"),
            C.Column("seconds", "train s", 1),
        ],
        rows=list(rows.values()),
        fact_headers={"params": "params"},
        seeds=list(seeds),
        small=small,
        setup={
            **sizes,
            "train": int(len(y)),
            "test": int(len(yt)),
            "canvas": 20,
            "scale": SCALE,
            "shear": SHEAR,
        },
        notes=[
            f"{len(y)} training / {len(yt)} test digits (16x16 on a 20x20 canvas), "
            f"{sizes['epochs']} epochs on warped digits (fresh warps each epoch): scale in "
            f"[{1 - SCALE:.2f}, {1 + SCALE:.2f}], horizontal shear in ±{SHEAR}.",
        ],
    )
    result.figure_path = C.figure_or_none(lambda: _figure(result, examples, out_dir))
    result.seconds = timer.elapsed
    return result


def _figure(result: C.ExperimentResult, examples, out_dir) -> str:
    figure = C.new_figure(9.0, 3.6)
    left, right = figure.subfigures(1, 2, width_ratios=[1.2, 1.0])
    grid = left.subplots(3, 8, squeeze=False)
    for r, (images, name) in enumerate(zip(examples, ("clean", "warped", "1.5x"))):
        for c in range(8):
            C.show_image(grid[r][c], images[c])
        grid[r][0].set_ylabel(name, fontsize=8)
    axes = right.subplots()
    keys, names = ("warped", "strong", "clean"), ("warped", "1.5x warp", "clean")
    width = 0.8 / len(result.rows)
    positions = np.arange(len(keys))
    for i, row in enumerate(result.rows):
        stats = [C.mean_std(row.values[k]) for k in keys]
        axes.bar(
            positions + i * width,
            [m for m, _ in stats],
            width,
            yerr=[s for _, s in stats],
            label=row.label,
            capsize=2,
        )
    axes.set_xticks(positions + width * (len(result.rows) - 1) / 2, names)
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel("test accuracy")
    axes.legend(fontsize=7, loc="lower left")
    return C.save_figure(figure, os.path.join(os.fspath(out_dir), f"{NAME}.png"))
