"""Anti-aliasing: MaxPooling2D vs Zhang's MaxBlurPool on real digits.

Digits upsampled to 16x16 and centred on a 24x24 canvas (a 4-pixel empty
border, so shifts of up to 4 pixels lose nothing), trained with random
shifts of up to ±`MAX_SHIFT` pixels in each direction (fresh each epoch), as
Zhang trains with random crops.  The CNN has three 3x3 convolution + relu stages, each
followed by a stride-2 downsampling, global average pooling and a softmax:

- `MaxPooling2D(2)`;
- MaxBlurPool (Zhang, 2019): `MaxPooling2D(2, strides=1, padding="same")`
  then `kcl.Blur2D(filter_size, strides=2, padding="same",
  boundary="reflect")`, with the 3-tap ([1, 2, 1]) and 5-tap binomial filters.

Shift consistency (Zhang's measure of shift invariance): the probability
that the predicted class of a test digit is unchanged when it is shifted by
`s` pixels in a random one of the 8 directions, averaged over s = 1..4;
also the accuracy on those shifted digits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.experiments import _common as C

NAME = "antialias"
TITLE = "Anti-aliasing on real digits: MaxPooling2D vs MaxBlurPool (Blur2D), shift consistency"
SHIFTS = (1, 2, 3, 4)
MAX_SHIFT = 4
#: label -> blur filter size (0: plain max pooling).
MODELS = {"MaxPooling2D": 0, "MaxBlurPool (Blur2D 3)": 3, "MaxBlurPool (Blur2D 5)": 5}
_DIRECTIONS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def _sizes(small: bool) -> dict:
    if small:
        return {"limit": 160, "epochs": 1, "filters": (4, 8, 8), "batch": 128}
    return {"limit": None, "epochs": 12, "filters": (8, 16, 32), "batch": 64}


def random_shifts(x: np.ndarray, rng: np.random.Generator, max_shift: int = MAX_SHIFT):
    """Each image shifted by its own random (dy, dx) in [-max_shift, max_shift]^2."""
    offsets = rng.integers(-max_shift, max_shift + 1, (len(x), 2))
    out = np.empty_like(x)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            chosen = (offsets[:, 0] == dy) & (offsets[:, 1] == dx)
            if chosen.any():
                out[chosen] = C.shift(x[chosen], dy, dx)
    return out


def build_model(blur: int, filters: Sequence[int] = (16, 32, 64), size: int = 24) -> keras.Model:
    """The CNN with max pooling (`blur=0`) or MaxBlurPool with a `blur`-tap filter."""
    inputs = keras.Input(C.image_shape(size, size, 1))
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if blur:
            x = keras.layers.MaxPooling2D(2, strides=1, padding="same", name=f"max{i}")(x)
            x = kcl.Blur2D(blur, strides=2, padding="same", boundary="reflect", name=f"blur{i}")(x)
        else:
            x = keras.layers.MaxPooling2D(2, name=f"max{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"antialias_{blur}")


def run(
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | os.PathLike = "kcl_experiments",
    small: bool = False,
    verbose: int = 1,
) -> C.ExperimentResult:
    """Runs the experiment; returns its table (and writes its figure)."""
    timer = C.Timer()
    sizes = _sizes(small)
    x_all, y_all = C.digits(16, canvas=24)
    rows = {label: C.Row(label) for label in MODELS}
    per_shift: dict[str, list[list[float]]] = {label: [] for label in MODELS}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x, y, xt, yt = C.split(x_all, y_all, rng, limit=sizes["limit"])
        # One random direction per test digit and shift size.
        shifted = []
        for s in SHIFTS:
            direction = rng.integers(0, len(_DIRECTIONS), len(xt))
            out = np.empty_like(xt)
            for d, (dy, dx) in enumerate(_DIRECTIONS):
                chosen = direction == d
                out[chosen] = C.shift(xt[chosen], s * dy, s * dx)
            shifted.append(out)
        stacked = C.to_model_format(np.concatenate([xt, *shifted]))
        for label, blur in MODELS.items():
            t = C.Timer()
            C.seed_everything(seed)
            model = build_model(blur, sizes["filters"])
            aug_rng = np.random.default_rng(seed + 1000)  # the same for every model
            C.fit(
                model,
                x,
                y,
                epochs=sizes["epochs"],
                batch_size=sizes["batch"],
                augment=lambda _, x=x, r=aug_rng: C.to_model_format(random_shifts(x, r)),
                run_eagerly=small,
            )
            predicted = C.predict_classes(model, stacked).reshape(len(SHIFTS) + 1, len(yt))
            base = predicted[0]
            consistency = [float(np.mean(p == base)) for p in predicted[1:]]
            shifted_accuracy = float(np.mean(predicted[1:] == yt[None]))
            per_shift[label].append(consistency)
            rows[label].facts["params"] = C.count_params(model)
            rows[label].add(
                accuracy=float(np.mean(base == yt)),
                shifted_accuracy=shifted_accuracy,
                consistency=float(np.mean(consistency)),
                consistency_4=consistency[-1],
                seconds=t.elapsed,
            )
            C.log(
                verbose,
                f"  [{NAME}] seed {seed} {label}: accuracy {np.mean(base == yt):.3f}"
                f", consistency {np.mean(consistency):.3f} ({t.elapsed:.1f} s)",
            )
    result = C.ExperimentResult(
        name=NAME,
        title=TITLE,
        columns=[
            C.Column("accuracy", "test accuracy"),
            C.Column("shifted_accuracy", "accuracy, shifted 1–4 px"),
            C.Column("consistency", "consistency, 1–4 px"),
            C.Column("consistency_4", "consistency, 4 px"),
            C.Column("seconds", "train s", 1),
        ],
        rows=list(rows.values()),
        fact_headers={"params": "params"},
        seeds=list(seeds),
        small=small,
        setup={**sizes, "train": int(len(y)), "test": int(len(yt)), "canvas": 24},
        notes=[
            f"{len(y)} training / {len(yt)} test digits (16x16 on a 24x24 canvas), "
            f"{sizes['epochs']} epochs with random shifts of up to ±{MAX_SHIFT} px.",
            "Consistency: fraction of test digits whose predicted class is unchanged by a "
            "shift of s px (random direction of 8), mean over s = 1, 2, 3, 4.",
        ],
    )
    result.figure_path = C.figure_or_none(lambda: _figure(per_shift, out_dir))
    result.seconds = timer.elapsed
    return result


def _figure(per_shift: dict[str, list[list[float]]], out_dir) -> str:
    figure = C.new_figure(6.0, 3.8)
    axes = figure.subplots()
    for label, runs in per_shift.items():
        array = np.asarray(runs)
        axes.errorbar(SHIFTS, array.mean(0), yerr=array.std(0), marker="o", capsize=3, label=label)
    axes.set_xticks(SHIFTS)
    axes.set_xlabel("shift (pixels, random direction)")
    axes.set_ylabel("P(prediction unchanged)")
    axes.set_title("Shift consistency on digits (24x24 canvas)")
    axes.legend(fontsize=8)
    return C.save_figure(figure, os.path.join(os.fspath(out_dir), f"{NAME}.png"))
