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

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.examples._common import save_image_grid
from keras_cv_layers.examples._skeleton import ExampleReport, ExampleRun

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


def _fit_and_score(
    session: ExampleRun,
    model: keras.Model,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    batch_size: int,
    about: str,
) -> dict[str, float]:
    """Trains `model` on the upright glyphs; its accuracies on the upright
    and on the rotated test glyphs."""
    x_train, y_train, x_test, y_test = data
    session.fit(model, x_train, y_train, batch_size=batch_size, about=about)
    upright = session.evaluate(model, x_test, y_test, batch_size=batch_size)["accuracy"]
    rotated = session.evaluate(model, rotate90(x_test), y_test, batch_size=batch_size)["accuracy"]
    return {
        "upright_accuracy": upright,
        "rotated_accuracy": rotated,
        "accuracy_drop_points": 100.0 * (upright - rotated),
        "params": int(model.count_params()),
    }


def run(
    epochs: int = 8,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> ExampleReport:
    """The example interface of `keras_cv_layers.examples`: trains both models
    on upright glyphs (2000 images; 128 with `small=True`), tests them on 600
    upright and 90-degree-rotated glyphs (64 with `small=True`), writes
    ``rotation.keras`` (the group model) and ``rotation.png`` into `out_dir`.

    Returns:
        The example report (see `keras_cv_layers.examples`; `metric` is the
        group model's accuracy on rotated glyphs); extras: `group` and `plain`
        (each: `upright_accuracy`, `rotated_accuracy`, `accuracy_drop_points`,
        `params`) and `invariance_deviation` (largest change of the group
        model's class probabilities under the rotations of C4).
    """
    session = ExampleRun("rotation", out_dir, seed=seed, epochs=epochs, verbose=verbose)
    num_train, num_test = (128, 64) if small else (2000, 600)
    batch_size = 32
    x_train, y_train = make_dataset(num_train, seed=seed)
    x_test, y_test = make_dataset(num_test, seed=seed + 1)
    data = (x_train, y_train, x_test, y_test)

    group_model = build_group_model()
    session.reseed()  # both models start from the same random state
    plain_model = build_plain_model()
    about = f"{num_train} upright training glyphs, {num_test} test glyphs"
    group = _fit_and_score(session, group_model, data, batch_size, f"p4 CNN, {about}")
    plain = _fit_and_score(session, plain_model, data, batch_size, f"plain CNN, {about}")
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

    shown = x_test[:8]
    return session.finish(
        group_model,
        x_test,
        metric=group["rotated_accuracy"],
        metric_name="p4 CNN accuracy on 90-degree-rotated glyphs",
        batch_size=batch_size,
        figure=lambda path: save_image_grid(
            path,
            [list(shown), list(rotate90(shown))],
            row_labels=["upright", "rotated 90"],
            normalize=True,
        ),
        extras={"group": group, "plain": plain, "invariance_deviation": float(deviation)},
    )
