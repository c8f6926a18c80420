"""Deformable convolution on scaled and sheared synthetic shapes.

Three shape classes (hollow square, cross, X), each drawn at a random scale,
shear and position in a 24x24 image with noise.  A small network whose
first layers are `DeformableConv2D` (modulated, DCN v2) learns where to look;
the figure shows, for a few test images, the 3x3 sampling locations the
second deformable layer uses at the centre of the image (red: learned
samples, blue: the regular grid), mapped back to input pixels through the
first layer's stride.
"""

from __future__ import annotations

import os

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.examples._common import new_figure, save_figure, show_image
from keras_cv_layers.examples._skeleton import ExampleReport, ExampleRun, compile_model

TITLE = "DeformableConv2D: classifying scaled and sheared shapes, learned sampling locations"

SIZE = 24
CLASSES = ("square", "cross", "x")


def _shape_mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """`u`, `v`: coordinates in the shape's own frame, the shape in [-1, 1]."""
    thick = 0.28
    inside = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if kind == "square":
        return inside & ((np.abs(u) >= 1 - thick) | (np.abs(v) >= 1 - thick))
    if kind == "cross":
        return inside & ((np.abs(u) <= thick) | (np.abs(v) <= thick))
    return inside & ((np.abs(u - v) <= thick * 1.4) | (np.abs(u + v) <= thick * 1.4))


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (n, SIZE, SIZE, 1) in [0, 1] and their labels."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    images = np.zeros((n, SIZE, SIZE, 1), "float32")
    labels = rng.integers(0, len(CLASSES), size=n)
    for k in range(n):
        scale = rng.uniform(3.5, 9.0)
        shear = rng.uniform(-0.6, 0.6)
        cy, cx = rng.uniform(9, SIZE - 9, size=2)
        v = (yy - cy) / scale
        u = (xx - cx) / scale - shear * v
        image = _shape_mask(CLASSES[labels[k]], u, v).astype("float32")
        images[k, ..., 0] = np.clip(image + rng.normal(scale=0.15, size=image.shape), 0, 1)
    return images, labels.astype("int32")


def build_model(deformable: bool = True) -> keras.Model:
    """The classifier: two modulated `DeformableConv2D` layers (plain
    `keras.layers.Conv2D` when not `deformable`), max pooling, softmax.

    Returns:
        A `keras.Model` from `(batch, SIZE, SIZE, 1)` to the class
        probabilities, compiled (Adam, sparse cross-entropy, accuracy).
    """
    cl = "channels_last"
    inputs = keras.Input((SIZE, SIZE, 1))
    if deformable:
        x = kcl.DeformableConv2D(
            16,
            3,
            padding="same",
            modulated=True,
            use_bias=True,
            activation="relu",
            data_format=cl,
            name="deform1",
        )(inputs)
    else:
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", data_format=cl)(inputs)
    x = keras.layers.MaxPooling2D(2, data_format=cl)(x)
    if deformable:
        x = kcl.DeformableConv2D(
            32,
            3,
            padding="same",
            modulated=True,
            use_bias=True,
            activation="relu",
            data_format=cl,
            name="deform2",
        )(x)
    else:
        x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", data_format=cl)(x)
    x = keras.layers.GlobalMaxPooling2D(data_format=cl)(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(x)
    return compile_model(keras.Model(inputs, outputs))


def sampling_locations(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """(n, 9, 2) input-pixel (y, x) sampling locations of `deform2` at the
    centre of its (stride-2) feature map."""
    layer = model.get_layer("deform2")
    features = keras.Model(model.input, layer.input)(images)
    offsets, _ = layer.offsets_and_mask(features)
    offsets = np.asarray(keras.ops.convert_to_numpy(offsets))
    h = offsets.shape[1]
    c = h // 2
    off = offsets[:, c, c].reshape(-1, 9, 2)
    grid = np.array([(c - 1 + i, c - 1 + j) for i in range(3) for j in range(3)], "float32")
    feature_pos = grid[None] + off
    return feature_pos * 2.0 + 0.5  # back to input pixels (MaxPooling2D(2))


def _save_figure(path: str, images: np.ndarray, locations: np.ndarray) -> str:
    """Each image with the regular 3x3 grid of `deform2`'s centre tap (blue
    rings) and its learned sampling locations (red dots), in input pixels."""
    c = (SIZE // 2) // 2
    grid = np.array(
        [((c - 1 + i) * 2 + 0.5, (c - 1 + j) * 2 + 0.5) for i in range(3) for j in range(3)]
    )
    figure = new_figure(2.0 * len(images), 2.4)
    for k, axes in enumerate(figure.subplots(1, len(images), squeeze=False)[0]):
        show_image(axes, images[k])
        axes.scatter(
            grid[:, 1],
            grid[:, 0],
            s=30,
            facecolors="none",
            edgecolors="tab:blue",
            label="regular grid",
        )
        axes.scatter(locations[k][:, 1], locations[k][:, 0], s=14, c="red", label="learned")
        axes.set_xlim(-0.5, SIZE - 0.5)
        axes.set_ylim(SIZE - 0.5, -0.5)
    figure.legend(
        *figure.axes[0].get_legend_handles_labels(), loc="lower center", ncols=2, fontsize=8
    )
    figure.get_layout_engine().set(rect=(0, 0.1, 1, 0.9))
    figure.suptitle("DeformableConv2D: where the centre tap samples", fontsize=10)
    return save_figure(figure, path)


def run(
    epochs: int,
    out_dir: str | os.PathLike,
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> ExampleReport:
    """The example interface of `keras_cv_layers.examples`: trains the
    deformable network on 3000 images (96 with `small=True`), tests it on 600
    (48), and, unless `small`, the same network with `keras.layers.Conv2D` for
    comparison; writes ``deformable.keras`` and ``deformable.png`` into
    `out_dir`.

    Returns:
        The example report (see `keras_cv_layers.examples`): `metric` is the
        test accuracy; extra: `baseline_conv2d_accuracy` (None when `small`).
    """
    session = ExampleRun("deformable", out_dir, seed=seed, epochs=epochs, verbose=verbose)
    rng = np.random.default_rng(seed)
    n_train, n_test = (96, 48) if small else (3000, 600)
    x_train, y_train = make_data(n_train, rng)
    x_test, y_test = make_data(n_test, rng)
    model = build_model(deformable=True)
    session.fit(model, x_train, y_train, about=f"{n_train} training / {n_test} test images")
    accuracy = session.evaluate(model, x_test, y_test)["accuracy"]
    baseline_accuracy = None
    if not small:
        # The same network with keras.layers.Conv2D, for comparison.
        baseline = build_model(deformable=False)
        session.fit(baseline, x_train, y_train, verbose=0)
        baseline_accuracy = session.evaluate(baseline, x_test, y_test)["accuracy"]
    picks = x_test[:6]
    return session.finish(
        model,
        x_test[:16],
        metric=accuracy,
        metric_name="test accuracy",
        figure=lambda path: _save_figure(path, picks, sampling_locations(model, picks)),
        extras={"baseline_conv2d_accuracy": baseline_accuracy},
    )
