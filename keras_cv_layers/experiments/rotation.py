"""Rotation: plain CNN vs p4 (C4) and p4m (D4) group CNNs on real digits.

Three CNNs of (roughly) equal parameter count on digits upsampled to 16x16,
each three 3x3 "same" convolutions with relu, 2x2 max pools after the first
two, global average pooling and a softmax classifier:

- plain: `keras.layers.Conv2D`;
- C4 / D4: `kcl.GroupConv2D(group=...)` (a lifting layer, then group
  layers; fewer filters per group element, so that the parameter counts
  match), spatial max pools on the group feature maps (`MaxPooling3D` with a
  window of 1 on the group axis), then `kcl.GroupPooling2D("max")`.

Part A trains on *upright* digits only and tests on the test digits upright,
rotated by 90, 180 and 270 degrees and rotated by small random angles
(uniform in ±`SMALL_ANGLE` degrees).  The group models are invariant to
90-degree rotations by construction (stride 1, "same" padding, even sizes,
aligned 2x2 pools), so their accuracy does not change under those rotations
(6 and 9 become hard to tell apart, though).

Part B trains on randomly rotated digits (a random multiple of 90 degrees
plus a small random angle) and tests on rotated test digits: the setting of
the claim "group convolution gives better results and faster convergence
on rotated data".
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.experiments import _common as C

NAME = "rotation"
TITLE = "Rotated digits: plain CNN vs GroupConv2D C4 / D4 (similar parameter counts)"
SMALL_ANGLE = 20.0
THRESHOLD = 0.90

#: label -> (kind, filters), in table order; filters chosen for similar counts.
MODELS = {
    "plain Conv2D": ("plain", (8, 16, 32)),
    "GroupConv2D C4": ("C4", (4, 8, 16)),
    "GroupConv2D D4": ("D4", (3, 6, 11)),
}
SMALL_MODELS = {
    "plain Conv2D": ("plain", (4, 8, 8)),
    "GroupConv2D C4": ("C4", (2, 4, 4)),
    "GroupConv2D D4": ("D4", (2, 3, 3)),
}


def _sizes(small: bool) -> dict:
    if small:
        return {"size": 16, "limit": 160, "epochs": 1, "rotated_epochs": 1, "batch": 128}
    return {"size": 16, "limit": None, "epochs": 12, "rotated_epochs": 12, "batch": 64}


def _spatial_pool(x):
    """2x2 max pool of a 4-D map or a 5-D group map (window 1 on the group axis)."""
    if len(x.shape) == 4:
        return keras.layers.MaxPooling2D(2)(x)
    if C.channels_first():  # (batch, G, C, H, W): G plays the channels
        return keras.layers.MaxPooling3D((1, 2, 2), data_format="channels_first")(x)
    return keras.layers.MaxPooling3D((2, 2, 1), data_format="channels_last")(x)


def build_model(kind: str, filters: Sequence[int], size: int = 16) -> keras.Model:
    """A plain (`kind="plain"`) or group (`"C4"`, `"D4"`) CNN."""
    inputs = keras.Input(C.image_shape(size, size, 1))
    x = inputs
    for i, f in enumerate(filters):
        if kind == "plain":
            x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        else:
            x = kcl.GroupConv2D(
                f,
                3,
                group=kind,
                padding="same",
                use_bias=True,
                activation="relu",
                name=f"gconv{i}",
            )(x)
        if i < len(filters) - 1:
            x = _spatial_pool(x)
    if kind != "plain":
        x = kcl.GroupPooling2D("max")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"rotation_{kind}")


def _random_rotations(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image rotated by a random multiple of 90 degrees plus a small angle."""
    ks = rng.integers(0, 4, len(x))
    out = np.empty_like(x)
    for k in range(4):
        out[ks == k] = C.rot90(x[ks == k], k)
    return C.rotate(out, rng.uniform(-SMALL_ANGLE, SMALL_ANGLE, len(x)))


def run(
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | os.PathLike = "kcl_experiments",
    small: bool = False,
    verbose: int = 1,
) -> C.ExperimentResult:
    """Runs the experiment; returns its table (and writes its figure)."""
    timer = C.Timer()
    sizes = _sizes(small)
    models = SMALL_MODELS if small else MODELS
    x_all, y_all = C.digits(sizes["size"])
    rows = {label: C.Row(label) for label in models}
    tests = ("upright", "rot90", "rot180", "rot270", "small")
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x, y, xt, yt = C.split(x_all, y_all, rng, limit=sizes["limit"])
        test_sets = {
            "upright": xt,
            "rot90": C.rot90(xt, 1),
            "rot180": C.rot90(xt, 2),
            "rot270": C.rot90(xt, 3),
            "small": C.rotate(xt, rng.uniform(-SMALL_ANGLE, SMALL_ANGLE, len(xt))),
        }
        stacked = C.to_model_format(np.concatenate([test_sets[t] for t in tests]))
        xt_rot = C.to_model_format(_random_rotations(xt, rng))
        x_up = C.to_model_format(x)
        for label, (kind, filters) in models.items():
            t = C.Timer()
            # Part A: upright training.
            C.seed_everything(seed)
            model = build_model(kind, filters, sizes["size"])
            C.fit(
                model, x_up, y, epochs=sizes["epochs"], batch_size=sizes["batch"], run_eagerly=small
            )
            predicted = C.predict_classes(model, stacked).reshape(len(tests), len(yt))
            accuracies = {t_: float(np.mean(p == yt)) for t_, p in zip(tests, predicted)}
            rows[label].facts["params"] = C.count_params(model)
            # Part B: rotated training.
            C.seed_everything(seed)
            model = build_model(kind, filters, sizes["size"])
            aug_rng = np.random.default_rng(seed + 1000)  # the same for every model
            history = C.fit(
                model,
                x_up,
                y,
                augment=lambda _, x=x, r=aug_rng: C.to_model_format(_random_rotations(x, r)),
                epochs=sizes["rotated_epochs"],
                batch_size=sizes["batch"],
                validation_data=(xt_rot, yt),
                run_eagerly=small,
            )
            curve = history["val_accuracy"]
            rows[label].add(
                **accuracies,
                rotated_trained=curve[-1],
                epochs_to=C.epochs_to(curve, THRESHOLD),
                seconds=t.elapsed,
            )
            C.log(
                verbose,
                f"  [{NAME}] seed {seed} {label}: upright {accuracies['upright']:.3f}"
                f", rot90 {accuracies['rot90']:.3f}, rotated-trained {curve[-1]:.3f} "
                f"({t.elapsed:.1f} s)",
            )
    result = C.ExperimentResult(
        name=NAME,
        title=TITLE,
        columns=[
            C.Column("upright", "upright"),
            C.Column("rot90", "90°"),
            C.Column("rot180", "180°"),
            C.Column("rot270", "270°"),
            C.Column("small", f"±{SMALL_ANGLE:.0f}°"),
            C.Column("rotated_trained", "B: rotated-trained, rotated test"),
            C.Column("epochs_to", f"B: epochs to {THRESHOLD:.0%}", 1),
            C.Column("seconds", "train s (A+B)", 1),
        ],
        rows=list(rows.values()),
        fact_headers={"params": "params"},
        seeds=list(seeds),
        small=small,
        setup={
            **sizes,
            "train": int(len(y)),
            "test": int(len(yt)),
            "filters": {k: list(v[1]) for k, v in models.items()},
        },
        notes=[
            "Columns 'upright' to '±20°': part A, trained on upright digits only "
            f"({sizes['epochs']} epochs), test accuracy on the test digits rotated so.",
            "Part B: trained on digits rotated by a random multiple of 90° plus a random "
            f"angle (fresh each epoch) in ±{SMALL_ANGLE:.0f}° ({sizes['rotated_epochs']} epochs), tested on "
            f"test digits rotated alike; 'epochs to {THRESHOLD:.0%}' counts a run that "
            f"never reached it as {sizes['rotated_epochs'] + 1}.",
        ],
    )
    result.figure_path = C.figure_or_none(lambda: _figure(result, tests, out_dir))
    result.seconds = timer.elapsed
    return result


def _figure(result: C.ExperimentResult, tests: Sequence[str], out_dir) -> str:
    figure = C.new_figure(7.5, 3.8)
    axes = figure.subplots()
    labels = [*tests, "rotated_trained"]
    names = ["upright", "90°", "180°", "270°", f"±{SMALL_ANGLE:.0f}°", "B: rot-trained"]
    width = 0.8 / len(result.rows)
    positions = np.arange(len(labels))
    for i, row in enumerate(result.rows):
        means = [C.mean_std(row.values[k])[0] for k in labels]
        stds = [C.mean_std(row.values[k])[1] for k in labels]
        axes.bar(positions + i * width, means, width, yerr=stds, label=row.label, capsize=2)
    axes.set_xticks(positions + width * (len(result.rows) - 1) / 2, names)
    axes.set_ylabel("test accuracy")
    axes.set_ylim(0.0, 1.0)
    axes.set_title("Digits: trained upright (A) / rotated (B)")
    axes.legend(fontsize=8, loc="lower left")
    return C.save_figure(figure, os.path.join(os.fspath(out_dir), f"{NAME}.png"))
