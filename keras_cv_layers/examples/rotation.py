"""Rotation robustness: a p4 group-equivariant CNN against a plain CNN.

The task is synthetic and needs no download: each 15x15 grey image holds
one of five glyphs (L, T, F, P, E), none of them symmetric under a
90-degree rotation and none a rotation of another, at a random position,
with random contrast and noise.  Both models are trained on *upright*
glyphs only and tested on upright glyphs and on the same test glyphs
rotated by 90 degrees.

- The group CNN (`GroupConv2D(group="C4")` x 3, `GroupPooling2D`, global
  average pooling) is rotation invariant by construction (stride 1, "same"
  padding, odd image size): its rotated accuracy equals its upright one.
- The plain CNN (`keras.layers.Conv2D` x 3, global average pooling, about
  the same parameter count) learns orientation-specific strokes and loses
  accuracy on rotated glyphs.

`run` reports both models' upright and rotated accuracies, the largest
deviation of the group model from invariance (`kcl.check_equivariance`),
and saves / reloads the group model.

Every layer is given ``data_format="channels_last"`` explicitly, so the
example works whatever ``image_data_format`` the user's ``keras.json`` holds.
"""

from __future__ import annotations

import os
import time
from typing import Any

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.examples._common import save_image_grid, save_reload_check

TITLE = "Rotation robustness: GroupConv2D (p4) vs plain Conv2D, trained upright only"

IMAGE_SIZE = 15
_CL = "channels_last"

_GLYPHS = {
    "L": ["#....", "#....", "#....", "#....", "#####"],
    "T": ["#####", "..#..", "..#..", "..#..", "..#.."],
    "F": ["#####", "#....", "####.", "#....", "#...."],
    "P": ["####.", "#...#", "####.", "#....", "#...."],
    "E": ["#####", "#....", "####.", "#....", "#####"],
}
CLASS_NAMES = tuple(_GLYPHS)
NUM_CLASSES = len(CLASS_NAMES)


def _glyph_images(scale: int = 2) -> np.ndarray:
    """(classes, 5 * scale, 5 * scale) binary glyphs."""
    glyphs = np.array([[[c == "#" for c in row] for row in g] for g in _GLYPHS.values()])
    return np.kron(glyphs.astype("float32"), np.ones((scale, scale), "float32"))


def make_dataset(
    num_samples: int, seed: int = 0, image_size: int = IMAGE_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Upright glyph images.

    Args:
        num_samples: number of images.
        seed: numpy seed; the same seed gives the same data.
        image_size: side of the square images (odd, >= 11).

    Returns:
        `(x, y)`: float32 images `(num_samples, image_size, image_size, 1)`
        (a glyph of random contrast at a random position, plus Gaussian
        noise) and int32 labels in `[0, 5)` (`CLASS_NAMES`).
    """
    rng = np.random.default_rng(seed)
    glyphs = _glyph_images()
    side = glyphs.shape[-1]
    labels = rng.integers(0, NUM_CLASSES, size=num_samples).astype("int32")
    images = rng.normal(0.0, 0.25, size=(num_samples, image_size, image_size)).astype("float32")
    rows = rng.integers(0, image_size - side + 1, size=num_samples)
    cols = rng.integers(0, image_size - side + 1, size=num_samples)
    contrast = rng.uniform(0.6, 1.4, size=num_samples).astype("float32")
    for n in range(num_samples):
        images[n, rows[n] : rows[n] + side, cols[n] : cols[n] + side] += (
            contrast[n] * glyphs[labels[n]]
        )
    return images[..., None], labels


def rotate90(images: np.ndarray) -> np.ndarray:
    """Rotates `(batch, H, W, C)` images by 90 degrees counter-clockwise."""
    return np.ascontiguousarray(np.rot90(images, 1, axes=(1, 2)))


def build_group_model(
    filters: tuple[int, int, int] = (8, 8, 12), image_size: int | None = IMAGE_SIZE
) -> keras.Model:
    """p4 CNN: lifting + two group convolutions (the last dilated), group max
    pooling, global average pooling, softmax classifier; rotation invariant."""
    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = kcl.GroupConv2D(
        filters[0],
        3,
        group="C4",
        padding="same",
        use_bias=True,
        activation="relu",
        data_format=_CL,
        name="lift",
    )(inputs)
    x = kcl.GroupConv2D(
        filters[1],
        3,
        group="C4",
        padding="same",
        use_bias=True,
        activation="relu",
        data_format=_CL,
        name="gconv_1",
    )(x)
    x = kcl.GroupConv2D(
        filters[2],
        3,
        group="C4",
        padding="same",
        dilation_rate=2,
        use_bias=True,
        activation="relu",
        data_format=_CL,
        name="gconv_2",
    )(x)
    x = kcl.GroupPooling2D("max", data_format=_CL, name="group_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=_CL, name="pool")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="p4_cnn")


def build_plain_model(
    filters: tuple[int, int, int] = (12, 18, 22), image_size: int | None = IMAGE_SIZE
) -> keras.Model:
    """The same architecture with plain `keras.layers.Conv2D` (similar parameter count)."""
    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = keras.layers.Conv2D(
        filters[0], 3, padding="same", activation="relu", data_format=_CL, name="conv_0"
    )(inputs)
    x = keras.layers.Conv2D(
        filters[1], 3, padding="same", activation="relu", data_format=_CL, name="conv_1"
    )(x)
    x = keras.layers.Conv2D(
        filters[2],
        3,
        padding="same",
        dilation_rate=2,
        activation="relu",
        data_format=_CL,
        name="conv_2",
    )(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=_CL, name="pool")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="plain_cnn")


def _fit_and_score(model, data, epochs, batch_size, verbose) -> dict[str, float]:
    x_train, y_train, x_test, y_test = data
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    _, upright = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
    _, rotated = model.evaluate(rotate90(x_test), y_test, batch_size=batch_size, verbose=0)
    return {
        "upright_accuracy": float(upright),
        "rotated_accuracy": float(rotated),
        "accuracy_drop_points": 100.0 * (float(upright) - float(rotated)),
        "params": int(model.count_params()),
    }


def run(
    epochs: int = 8,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> dict[str, Any]:
    """The example interface of `keras_cv_layers.examples`: trains both models
    on upright glyphs (2000 images; 128 with `small=True`), tests them on 600
    upright and 90-degree-rotated glyphs (64 with `small=True`), writes
    ``rotation.keras`` (the group model) and ``rotation.png`` into `out_dir`.

    Returns:
        The example report (see `keras_cv_layers.examples`; `metric` is the
        group model's accuracy on rotated glyphs) plus `group` and `plain`
        (each: `upright_accuracy`, `rotated_accuracy`, `accuracy_drop_points`,
        `params`), `invariance_deviation` (largest change of the group model's
        class probabilities under the rotations of C4), `backend` and
        `epochs`.
    """
    start = time.perf_counter()
    backend = keras.backend.backend()
    os.makedirs(out_dir, exist_ok=True)
    num_train, num_test = (128, 64) if small else (2000, 600)
    batch_size = 32
    x_train, y_train = make_dataset(num_train, seed=seed)
    x_test, y_test = make_dataset(num_test, seed=seed + 1)
    data = (x_train, y_train, x_test, y_test)

    keras.utils.set_random_seed(seed)
    group_model = build_group_model()
    keras.utils.set_random_seed(seed)
    plain_model = build_plain_model()
    if verbose:
        print(
            f"rotation example on backend '{backend}': p4 CNN {group_model.count_params()} "
            f"parameters, plain CNN {plain_model.count_params()} parameters, "
            f"{num_train} upright training glyphs, {num_test} test glyphs",
            flush=True,
        )
    group = _fit_and_score(group_model, data, epochs, batch_size, verbose)
    plain = _fit_and_score(plain_model, data, epochs, batch_size, verbose)
    deviation = kcl.check_equivariance(group_model, x_test[:16], group="C4", data_format=_CL)
    if verbose:
        for name, score in (("p4 CNN", group), ("plain CNN", plain)):
            print(
                f"  {name:9s}: upright {100 * score['upright_accuracy']:.1f}%, rotated 90 "
                f"{100 * score['rotated_accuracy']:.1f}% (drop "
                f"{score['accuracy_drop_points']:.1f} points)",
                flush=True,
            )
        print(f"  p4 CNN invariance deviation: {deviation:.2e}", flush=True)

    model_path, max_abs_diff = save_reload_check(
        group_model, x_test, out_dir, "rotation", atol=1e-5, batch_size=batch_size
    )
    shown = x_test[:8]
    figure_path = save_image_grid(
        os.path.join(os.fspath(out_dir), "rotation.png"),
        [list(shown), list(rotate90(shown))],
        row_labels=["upright", "rotated 90"],
        normalize=True,
    )
    return {
        "name": "rotation",
        "metric": group["rotated_accuracy"],
        "metric_name": "p4 CNN accuracy on 90-degree-rotated glyphs",
        "model_path": model_path,
        "max_abs_diff": max_abs_diff,
        "figure_path": figure_path,
        "seconds": time.perf_counter() - start,
        "backend": backend,
        "epochs": int(epochs),
        "group": group,
        "plain": plain,
        "invariance_deviation": float(deviation),
    }
