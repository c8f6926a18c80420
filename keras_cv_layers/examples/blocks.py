"""Texture orientation with the blocks family: MBConv, SEBlock and local self-attention.

Each 24x24 grey image holds a patch of stripes at one of four orientations
(0, 45, 90 or 135 degrees counter-clockwise from horizontal: the class)
with a random period, phase, contrast, position and size, on a noisy
background.  The classifier is a small
EfficientNet-style network: a weight-normalized stem `Conv2D`, anti-aliased
downsampling with `Blur2D`, an `MBConv` block (inverted bottleneck with its
own squeeze-excitation), a stand-alone `SEBlock` and a
`MultiHeadedSpatialAttention` layer (7x7 windows, 4 heads) before global
pooling.

The figure shows test images with their true and predicted labels, and the
channel gates of the stand-alone `SEBlock` averaged over the test images of
each class: squeeze-excitation re-weights the channels differently for each
orientation.

Every layer is given ``data_format="channels_last"`` explicitly, so the
example works whatever ``image_data_format`` the user's ``keras.json`` holds.
"""

from __future__ import annotations

import os

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.examples._common import new_figure, save_figure, show_labelled_row
from keras_cv_layers.examples._skeleton import ExampleReport, ExampleRun

TITLE = "Texture orientation: MBConv, SEBlock and MultiHeadedSpatialAttention (with Blur2D)"

SIZE = 24
ORIENTATIONS = (0, 45, 90, 135)
_CL = "channels_last"


def make_dataset(num_samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Striped patches at four orientations on noise.

    Args:
        num_samples: number of images.
        seed: numpy seed; the same seed gives the same data.

    Returns:
        `(x, y)`: float32 images `(num_samples, SIZE, SIZE, 1)`, roughly in
        [0, 1], and int32 labels: the index of the stripes' orientation in
        `ORIENTATIONS`.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype("float32")
    labels = rng.integers(0, len(ORIENTATIONS), size=num_samples).astype("int32")
    images = np.empty((num_samples, SIZE, SIZE, 1), "float32")
    for n in range(num_samples):
        angle = np.deg2rad(ORIENTATIONS[labels[n]])
        period = rng.uniform(3.5, 6.0)
        # Stripes run along `angle` (counter-clockwise from horizontal, image
        # rows counted downwards): the intensity varies across that direction.
        across = -np.sin(angle) * xx - np.cos(angle) * yy
        stripes = 0.5 + 0.5 * np.cos(2 * np.pi * across / period + rng.uniform(0, 2 * np.pi))
        radius = rng.uniform(6.0, 10.0)
        cy, cx = rng.uniform(radius - 2, SIZE - radius + 2, size=2)
        patch = ((yy - cy) ** 2 + (xx - cx) ** 2) <= radius**2
        contrast = rng.uniform(0.5, 1.0)
        image = 0.5 + rng.normal(0.0, 0.12, size=(SIZE, SIZE))
        image[patch] = 0.5 + contrast * (stripes[patch] - 0.5)
        images[n, ..., 0] = image + rng.normal(0.0, 0.05, size=(SIZE, SIZE))
    return images, labels


def build_model(width: int = 16) -> keras.Model:
    """The classifier: stem → Blur2D → MBConv → SEBlock → local attention → softmax.

    Args:
        width: channels of the stem (the blocks have twice as many).

    Returns:
        An uncompiled `keras.Model` from `(batch, SIZE, SIZE, 1)` to the
        probabilities of the four orientations.
    """
    inputs = keras.Input((SIZE, SIZE, 1), name="image")
    x = keras.layers.Rescaling(4.0, offset=-2.0, name="centre")(inputs)  # [0, 1] -> [-2, 2]
    x = kcl.Conv2D(
        width, 3, padding="same", weightnorm=True, use_bias=True, data_format=_CL, name="stem"
    )(x)
    x = kcl.Swish(name="stem_act")(x)
    x = kcl.Blur2D(3, strides=2, padding="same", data_format=_CL, name="blur_pool")(x)
    x = kcl.MBConv(
        2 * width, kernel_size=3, expand_ratio=4, se_ratio=0.25, data_format=_CL, name="mbconv"
    )(x)
    x = kcl.SEBlock(ratio=4, data_format=_CL, name="se")(x)
    x = kcl.MultiHeadedSpatialAttention(
        2 * width, 5, heads=4, position="learned", data_format=_CL, name="attention"
    )(x)
    x = kcl.LayerNormalization(data_format=_CL, name="norm")(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=_CL, name="pool")(x)
    outputs = keras.layers.Dense(len(ORIENTATIONS), activation="softmax", name="orientation")(x)
    return keras.Model(inputs, outputs, name="kcl_blocks_classifier")


def se_gates(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """`(n, channels)`: the channel gates (in (0, 1)) that the model's
    stand-alone `SEBlock` ("se") applies to each image's features."""
    se = model.get_layer("se")
    features = keras.Model(model.input, se.input)(images)
    pooled = keras.ops.mean(features, axis=(1, 2), keepdims=True)
    gates = se.expand(se.reduce(pooled))
    return np.asarray(keras.ops.convert_to_numpy(gates))[:, 0, 0, :]


def _save_figure(
    path: str, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, gates: np.ndarray
) -> str:
    """Test images with true (t) / predicted (p) orientations, and the mean
    SE gates per class as a heat map (rows: classes, columns: channels)."""
    count = min(8, len(images))
    figure = new_figure(1.3 * count, 4.2)
    top, bottom = figure.subfigures(2, 1, height_ratios=(1.0, 1.4))
    degrees = [f"{o}°" for o in ORIENTATIONS]
    show_labelled_row(
        top, images, [degrees[k] for k in labels], [degrees[k] for k in predicted], count
    )
    top.suptitle("test images: true (t) and predicted (p) stripe orientation", fontsize=10)
    axes = bottom.subplots()
    per_class = np.stack(
        [
            gates[labels == c].mean(axis=0) if np.any(labels == c) else np.zeros(gates.shape[1])
            for c in range(len(ORIENTATIONS))
        ]
    )
    shown = axes.imshow(per_class, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
    axes.set_yticks(range(len(ORIENTATIONS)), degrees)
    axes.set_xlabel("channel")
    axes.set_title("SEBlock channel gates, mean over each class's test images", fontsize=10)
    bottom.colorbar(shown, ax=axes, label="gate")
    return save_figure(figure, path)


def run(
    epochs: int = 8,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> ExampleReport:
    """Trains the classifier (1536 training / 384 test images in batches of
    32; 384 / 128 in batches of 8 with `small=True`, so that the blocks'
    BatchNormalization statistics, momentum 0.99, still settle), checks the
    `.keras` round trip, writes ``blocks.keras`` and ``blocks.png`` into
    `out_dir`.

    Returns:
        The example report (see `keras_cv_layers.examples`): `metric` is the
        test accuracy; extra: `train_accuracy`.
    """
    session = ExampleRun("blocks", out_dir, seed=seed, epochs=epochs, verbose=verbose)
    num_train, num_test, batch_size = (384, 128, 8) if small else (1536, 384, 32)
    x_train, y_train = make_dataset(num_train, seed=seed)
    x_test, y_test = make_dataset(num_test, seed=seed + 1)
    model = build_model()
    history = session.fit(
        model,
        x_train,
        y_train,
        batch_size=batch_size,
        about=f"{num_train} training / {num_test} test images of {SIZE}x{SIZE}",
    )
    predicted = np.argmax(model.predict(x_test, batch_size=64, verbose=0), axis=-1)
    return session.finish(
        model,
        x_test[:32],
        metric=float(np.mean(predicted == y_test)),
        metric_name="test accuracy",
        figure=lambda path: _save_figure(path, x_test, y_test, predicted, se_gates(model, x_test)),
        extras={"train_accuracy": float(history.history["accuracy"][-1])},
    )
