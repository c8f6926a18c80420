"""Inpainting free-form holes in real photographs: PartialConv2D vs Conv2D.

scikit-learn's two sample photographs (`load_sample_images`: "china.jpg"
and "flower.jpg", 427x640 RGB), halved to 213x320.  Training crops come from
the left 70% of each photograph, held-out test crops from the right 30%.
Each crop gets random free-form holes (brush strokes: random polylines of
random thickness, as in Liu et al., 2018).

Two U-Nets of the same topology (three stride-2 encoder convolutions, three
decoder convolutions after 2x upsampling with skip connections):

- PartialConv2D: `kcl.PartialConv2D` everywhere, fed `[masked image, mask]`,
  the mask propagated from layer to layer;
- Conv2D: `keras.layers.Conv2D` everywhere, fed the masked image and the
  mask concatenated (the usual baseline).

Both are trained with a hole-weighted L1 loss (holes count 6x); the table
reports the hole L1 and the PSNR of the composite (valid pixels kept, holes
filled by the network) on the held-out crops, and a mean-fill baseline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

import keras_cv_layers as kcl
from keras_cv_layers.experiments import _common as C

NAME = "inpainting"
TITLE = "Inpainting free-form holes in the sample photographs: PartialConv2D vs Conv2D U-Net"
TRAIN_FRACTION = 0.7
HOLE_WEIGHT = 6.0


def _sizes(small: bool) -> dict:
    if small:
        return {"crop": 16, "train": 32, "test": 8, "epochs": 1, "filters": (4, 8, 8), "batch": 32}
    return {
        "crop": 32,
        "train": 768,
        "test": 192,
        "epochs": 15,
        "filters": (16, 32, 32),
        "batch": 32,
    }


def photographs() -> list[np.ndarray]:
    """The two sample photographs, halved (2x2 means), float32 in [0, 1]."""
    datasets = C.require("sklearn.datasets")
    images = []
    for image in datasets.load_sample_images().images:
        image = np.asarray(image, "float32") / 255.0
        h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
        image = image[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
        images.append(image)
    return images


def crops(
    images: Sequence[np.ndarray], count: int, size: int, part: str, rng: np.random.Generator
) -> np.ndarray:
    """`count` random `size` x `size` crops from the left (`part="train"`) or
    right (`"test"`) part of the photographs, alternating between them."""
    out = np.empty((count, size, size, 3), "float32")
    for i in range(count):
        image = images[i % len(images)]
        h, w = image.shape[:2]
        cut = int(w * TRAIN_FRACTION)
        lo, hi = (0, cut - size) if part == "train" else (cut, w - size)
        top = rng.integers(0, h - size + 1)
        left = rng.integers(lo, hi + 1)
        out[i] = image[top : top + size, left : left + size]
    return out


def free_form_masks(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Free-form hole masks `(count, size, size, 1)`: 1 valid, 0 hole.

    Each mask holds 1-3 strokes; a stroke is a random polyline of 2-5
    segments (each `size`/8 to `size`/3 long, random direction) drawn with a
    brush of radius `size`/32 to `size`/12.
    """
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1)
    grid = grid.astype("float64")
    masks = np.ones((count, size, size, 1), "float32")
    for n in range(count):
        holes = np.zeros((size, size), bool)
        for _ in range(rng.integers(1, 4)):
            point = rng.uniform(0, size, 2)
            radius = rng.uniform(size / 32, size / 12)
            for _ in range(rng.integers(2, 6)):
                angle = rng.uniform(0, 2 * np.pi)
                length = rng.uniform(size / 8, size / 3)
                end = np.clip(point + length * np.array([np.sin(angle), np.cos(angle)]), 0, size)
                segment = end - point
                t = np.clip(((grid - point) @ segment) / max(segment @ segment, 1e-9), 0, 1)
                distance = np.linalg.norm(grid - (point + t[..., None] * segment), axis=-1)
                holes |= distance <= radius
                point = end
        masks[n, holes, 0] = 0.0
    return masks


def _axis() -> int:
    return 1 if C.channels_first() else -1


def build_model(partial: bool, filters: Sequence[int] = (16, 32, 32), size: int = 32):
    """The U-Net: `PartialConv2D` (`partial=True`; inputs `[masked image,
    mask]`, mask with 3 channels) or `Conv2D` (input `[masked image, mask]`
    concatenated, mask with 1 channel)."""
    axis = _axis()
    f1, f2, f3 = filters
    image = keras.Input(C.image_shape(size, size, 3), name="masked_image")
    mask = keras.Input(C.image_shape(size, size, 3 if partial else 1), name="mask")

    def up(t):
        return keras.layers.UpSampling2D(2)(t)

    def cat(a, b):
        return keras.layers.Concatenate(axis=axis)([a, b])

    if partial:

        def conv(filters, kernel, strides, activation="relu"):
            return kcl.PartialConv2D(
                filters,
                kernel,
                strides=strides,
                padding="same",
                activation=activation,
                use_bias=True,
            )

        e1, m1 = conv(f1, 5, 2)([image, mask])
        e2, m2 = conv(f2, 3, 2)([e1, m1])
        e3, m3 = conv(f3, 3, 2)([e2, m2])
        d2, n2 = conv(f2, 3, 1)([cat(up(e3), e2), cat(up(m3), m2)])
        d1, n1 = conv(f1, 3, 1)([cat(up(d2), e1), cat(up(n2), m1)])
        out, _ = conv(3, 3, 1, "sigmoid")([cat(up(d1), image), cat(up(n1), mask)])
    else:

        def conv(filters, kernel, strides, activation="relu"):
            return keras.layers.Conv2D(
                filters, kernel, strides=strides, padding="same", activation=activation
            )

        inputs = cat(image, mask)
        e1 = conv(f1, 5, 2)(inputs)
        e2 = conv(f2, 3, 2)(e1)
        e3 = conv(f3, 3, 2)(e2)
        d2 = conv(f2, 3, 1)(cat(up(e3), e2))
        d1 = conv(f1, 3, 1)(cat(up(d2), e1))
        out = conv(3, 3, 1, "sigmoid")(cat(up(d1), inputs))
    return keras.Model([image, mask], out, name="inpaint_partial" if partial else "inpaint_conv")


def hole_weighted_l1(y_true, y_pred):
    """L1 with the holes weighted `HOLE_WEIGHT` times; `y_true` carries the
    target's 3 channels then the hole indicator (1 in holes)."""
    axis = _axis()
    target = ops.take(y_true, [0, 1, 2], axis=axis)
    holes = ops.take(y_true, [3], axis=axis)
    weights = 1.0 + (HOLE_WEIGHT - 1.0) * holes
    error = ops.abs(target - y_pred) * weights
    return ops.mean(ops.reshape(error, (ops.shape(error)[0], -1)), axis=-1)


def _scores(composite: np.ndarray, target: np.ndarray, masks: np.ndarray) -> dict[str, float]:
    """Hole L1 (mean absolute error over hole pixels and channels) and PSNR
    (dB, mean over crops) of composites `(N, H, W, 3)`."""
    holes = np.broadcast_to(masks == 0, composite.shape)
    l1 = float(np.abs(composite - target)[holes].mean())
    mse = ((composite - target) ** 2).reshape(len(target), -1).mean(axis=1)
    psnr = float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))))
    return {"hole_l1": l1, "psnr": psnr}


def run(
    seeds: Sequence[int] = (0, 1, 2),
    out_dir: str | os.PathLike = "kcl_experiments",
    small: bool = False,
    verbose: int = 1,
) -> C.ExperimentResult:
    """Runs the experiment; returns its table (and writes its figure)."""
    timer = C.Timer()
    sizes = _sizes(small)
    size = sizes["crop"]
    images = photographs()
    labels = {"mean fill (no network)": None, "Conv2D U-Net": False, "PartialConv2D U-Net": True}
    rows = {label: C.Row(label) for label in labels}
    picture = None
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x = crops(images, sizes["train"], size, "train", rng)
        xt = crops(images, sizes["test"], size, "test", rng)
        m = free_form_masks(len(x), size, rng)
        mt = free_form_masks(len(xt), size, rng)
        mean = (xt * mt).sum(axis=(1, 2), keepdims=True) / np.maximum(
            mt.sum(axis=(1, 2), keepdims=True), 1.0
        )
        filled = {"mean fill (no network)": xt * mt + mean * (1 - mt)}
        rows["mean fill (no network)"].facts["params"] = 0
        rows["mean fill (no network)"].add(
            **_scores(filled["mean fill (no network)"], xt, mt), seconds=0.0
        )
        target = C.to_model_format(np.concatenate([x, 1.0 - m], axis=-1))
        for label, partial in labels.items():
            if partial is None:
                continue
            t = C.Timer()
            mask_channels = 3 if partial else 1
            train_inputs = [
                C.to_model_format(x * m),
                C.to_model_format(np.repeat(m, mask_channels, -1)),
            ]
            test_inputs = [
                C.to_model_format(xt * mt),
                C.to_model_format(np.repeat(mt, mask_channels, -1)),
            ]
            C.seed_everything(seed)
            model = build_model(partial, sizes["filters"], size)
            C.fit(
                model,
                train_inputs,
                target,
                epochs=sizes["epochs"],
                batch_size=sizes["batch"],
                loss=hole_weighted_l1,
                metrics=(),
                run_eagerly=small,
            )
            predicted = C.from_model_format(
                np.asarray(model.predict(test_inputs, batch_size=64, verbose=0))
            )
            composite = xt * mt + predicted * (1 - mt)
            filled[label] = composite
            scores = _scores(composite, xt, mt)
            rows[label].facts["params"] = C.count_params(model)
            rows[label].add(**scores, seconds=t.elapsed)
            C.log(
                verbose,
                f"  [{NAME}] seed {seed} {label}: hole L1 {scores['hole_l1']:.4f}, "
                f"PSNR {scores['psnr']:.2f} dB ({t.elapsed:.1f} s)",
            )
        if picture is None:
            picture = (xt, mt, filled)
    result = C.ExperimentResult(
        name=NAME,
        title=TITLE,
        columns=[
            C.Column("hole_l1", "hole L1 (lower is better)", 4),
            C.Column("psnr", "PSNR dB (higher is better)", 2),
            C.Column("seconds", "train s", 1),
        ],
        rows=list(rows.values()),
        fact_headers={"params": "params"},
        seeds=list(seeds),
        small=small,
        setup=dict(sizes),
        notes=[
            f"{sizes['train']} training crops ({size}x{size}, left {TRAIN_FRACTION:.0%} of the "
            f"two photographs) and {sizes['test']} held-out crops (right part), fresh crops "
            f"and holes per seed; {sizes['epochs']} epochs, Adam 3e-3, hole-weighted L1.",
            "Both metrics on the composite (valid pixels kept, holes from the network); "
            "PSNR over the whole crop, values in [0, 1].",
        ],
    )
    result.figure_path = C.figure_or_none(lambda: _figure(picture, out_dir))
    result.seconds = timer.elapsed
    return result


def _figure(picture, out_dir) -> str:
    xt, mt, filled = picture
    count = min(6, len(xt))
    rows = [("input", xt * mt + 0.5 * (1 - mt))]
    rows += [(label.replace(" (no network)", ""), images) for label, images in filled.items()]
    rows.append(("target", xt))
    figure = C.new_figure(1.3 * count + 1.2, 1.3 * len(rows) + 0.4)
    grid = figure.subplots(len(rows), count, squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c in range(count):
            C.show_image(grid[r][c], images[c])
        grid[r][0].set_ylabel(label.replace(" U-Net", ""), fontsize=8)
    figure.suptitle("Held-out crops: holes (grey), fills, target")
    return C.save_figure(figure, os.path.join(os.fspath(out_dir), f"{NAME}.png"))
