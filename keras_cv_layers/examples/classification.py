"""Which quadrant holds the blob? A classifier that needs coordinates.

The task is synthetic and needs no download: each 16x16 RGB image holds a
bright blob in one of its four quadrants, and the label is the quadrant.  A
global-average-pooled network cannot see *where* the blob is on its own; the
coordinate channels of `CoordConv2D` / `AddCoords2D` make the task easy.  The
model also uses the weight-normalized, weight-standardized and depthwise
convolutions, the normalization layers, `Split`, `Resize2D`, `Scale`, `Mish`
and `Swish`; `DropBlock2D` regularizes the features in training, and the
classifier head is a `Dense` layer wrapped in `WeightNormalization` (with
the data-dependent initialisation of its first training batch).

Every layer is given ``data_format="channels_last"`` explicitly, so the
example works whatever ``image_data_format`` the user's ``keras.json`` holds.
"""

from __future__ import annotations

import os

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.examples._common import (
    figures_available,
    new_figure,
    save_figure,
    show_labelled_row,
)
from keras_cv_layers.examples._skeleton import ExampleReport, ExampleRun

TITLE = "Blob-quadrant classifier (CoordConv, weight norm/standardization, norm layers, DropBlock)"

IMAGE_SIZE = 16
NUM_CLASSES = 4
CLASS_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")
_CL = "channels_last"


def make_dataset(
    num_samples: int, seed: int = 0, image_size: int = IMAGE_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic "which quadrant holds the blob" images.

    Args:
        num_samples: number of images.
        seed: numpy seed; the same seed gives the same data.
        image_size: side of the square images (even, >= 8).

    Returns:
        `(x, y)`: float32 images `(num_samples, image_size, image_size, 3)`
        (channels_last, noise around 0 plus one Gaussian blob of a random
        colour) and int32 labels in `[0, 4)` (the blob's quadrant).
    """
    rng = np.random.default_rng(seed)
    half = image_size // 2
    labels = rng.integers(0, NUM_CLASSES, size=num_samples).astype("int32")
    row_offset = (labels // 2) * half
    col_offset = (labels % 2) * half
    # Blob centres lie well inside their quadrant.
    margin = max(1.5, half / 4)
    cy = row_offset + rng.uniform(margin, half - 1 - margin, num_samples)
    cx = col_offset + rng.uniform(margin, half - 1 - margin, num_samples)
    sigma = rng.uniform(1.0, 2.0, num_samples)
    grid = np.arange(image_size, dtype="float32")
    yy = grid[None, :, None]
    xx = grid[None, None, :]
    blob = np.exp(
        -((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2)
        / (2.0 * sigma[:, None, None] ** 2)
    )
    colour = rng.uniform(0.5, 1.5, size=(num_samples, 1, 1, 3))
    noise = rng.normal(0.0, 0.2, size=(num_samples, image_size, image_size, 3))
    images = blob[..., None] * colour + noise
    return images.astype("float32"), labels


def build_model(image_size: int = IMAGE_SIZE, num_classes: int = NUM_CLASSES) -> keras.Model:
    """A small functional classifier that uses many of the package's layers.

    Args:
        image_size: side of the square RGB input.
        num_classes: number of output classes.

    Returns:
        An uncompiled `keras.Model` mapping `(batch, image_size, image_size, 3)`
        images to class probabilities.
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    # Stem: coordinates + convolution, layer norm over channels, Mish.
    x = kcl.CoordConv2D(16, 3, padding="same", data_format=_CL, name="coord_conv")(inputs)
    x = kcl.LayerNormalization(data_format=_CL, name="layer_norm")(x)
    x = kcl.Mish(name="mish_1")(x)
    # Weight-normalized convolution + instance norm + Swish.
    x = kcl.Conv2D(
        16, 3, padding="same", use_bias=True, weightnorm=True, data_format=_CL, name="wn_conv"
    )(x)
    x = kcl.InstanceNormalization(data_format=_CL, name="instance_norm")(x)
    x = kcl.Swish(name="swish_1")(x)
    # Two branches on the two channel halves: depthwise and weight-standardized.
    left, right = kcl.Split(2, axis=-1, name="split")(x)
    left = kcl.DepthwiseConv2D(
        3, padding="same", use_bias=True, weightnorm=True, data_format=_CL, name="wn_depthwise"
    )(left)
    right = kcl.WSConv2D(8, 3, padding="same", data_format=_CL, name="ws_conv")(right)
    x = keras.layers.Concatenate(axis=-1, name="concat")([left, right])
    x = kcl.CLayerNorm(data_format=_CL, name="c_layer_norm")(x)
    x = kcl.Mish(name="mish_2")(x)
    # Downsample, re-append coordinates, scaled weight-standardized conv.
    x = kcl.Resize2D(image_size // 2, interpolation="bilinear", data_format=_CL, name="resize")(x)
    x = kcl.AddCoords2D(data_format=_CL, name="add_coords")(x)
    x = kcl.SWSConv2D(
        32, 3, padding="same", preceding_activation="swish", data_format=_CL, name="sws_conv"
    )(x)
    x = kcl.DropBlock2D(0.1, block_size=3, data_format=_CL, seed=0, name="drop_block")(x)
    x = kcl.PFLayerNorm(data_format=_CL, name="pf_layer_norm")(x)
    x = kcl.Scale(data_format=_CL, name="scale")(x)
    x = kcl.Swish(name="swish_2")(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=_CL, name="pool")(x)
    outputs = kcl.WeightNormalization(
        keras.layers.Dense(num_classes, activation="softmax"), data_init=True, name="classifier"
    )(x)
    return keras.Model(inputs, outputs, name="kcl_demo_classifier")


def _save_samples(
    path: str, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, count: int = 8
) -> str:
    """Writes a row of inputs titled with true (t) and predicted (p) labels."""
    figure = new_figure(1.3 * min(count, len(images)), 1.7)
    show_labelled_row(figure, images, labels, predicted, count)
    figure.suptitle("blob quadrant: true (t) and predicted (p) labels", fontsize=10)
    return save_figure(figure, path)


def write_samples_figure(
    out_dir: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    filename: str = "samples.png",
) -> str | None:
    """Writes a PNG of inputs with true/predicted labels into `out_dir`.

    matplotlib is optional: without it, says how to install it and returns None.

    Returns:
        The path of the figure, or None when matplotlib is not installed.
    """
    if not figures_available():
        return None
    return _save_samples(os.path.join(os.fspath(out_dir), filename), images, labels, predicted)


def train(
    epochs: int = 3,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    num_samples: int = 768,
    batch_size: int = 32,
    verbose: int = 1,
    name: str = "classification",
    figure_name: str | None = None,
) -> ExampleReport:
    """Trains, evaluates, saves, reloads and checks the classifier.

    Uses the current Keras backend.  Seeds Keras' global random state with
    `seed`.

    Args:
        epochs: training epochs.
        out_dir: folder for ``<name>.keras`` and the figure; created if needed.
        seed: seed for the data and the weights.
        num_samples: number of training images (a quarter as many again are
            generated for validation).
        batch_size: training batch size.
        verbose: `model.fit` verbosity (0 silent, 1 progress bar, 2 one line
            per epoch).
        name: file stem of the saved model (and report name).
        figure_name: file name of the figure (default ``<name>.png``).

    Returns:
        The example report (see `keras_cv_layers.examples`); extras:
        `train_accuracy`, `val_accuracy`, `val_loss`, `final_fit_accuracy`.

    Raises:
        AssertionError: if the reloaded model's predictions differ from the
            original's by more than 1e-5.
    """
    session = ExampleRun(
        name, out_dir, seed=seed, epochs=epochs, verbose=verbose, label="classifier"
    )
    x_train, y_train = make_dataset(num_samples, seed=seed)
    x_val, y_val = make_dataset(max(num_samples // 4, 1), seed=seed + 1)
    model = build_model()
    history = session.fit(
        model,
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        batch_size=batch_size,
        about=f"{len(model.layers)} layers, {len(x_train)} training / {len(x_val)} "
        "validation images",
    )
    # Same batch size as in `fit`: the compiled test step is reused.
    train_scores = session.evaluate(model, x_train, y_train, batch_size=batch_size)
    val_scores = session.evaluate(model, x_val, y_val, batch_size=batch_size)
    predicted = np.argmax(np.asarray(model.predict(x_val, batch_size=batch_size, verbose=0)), -1)
    return session.finish(
        model,
        x_val,
        metric=val_scores["accuracy"],
        metric_name="val accuracy",
        batch_size=batch_size,
        figure=lambda path: _save_samples(path, x_val, y_val, predicted),
        figure_name=figure_name,
        extras={
            "train_accuracy": train_scores["accuracy"],
            "val_accuracy": val_scores["accuracy"],
            "val_loss": val_scores["loss"],
            "final_fit_accuracy": float(history.history["accuracy"][-1]) if epochs else None,
        },
    )


def run(
    epochs: int = 3,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> ExampleReport:
    """The example interface of `keras_cv_layers.examples`: trains the
    classifier on 768 images (64 with `small=True`), writes
    ``classification.keras`` and ``classification.png`` into `out_dir`."""
    return train(
        epochs=epochs,
        out_dir=out_dir,
        seed=seed,
        num_samples=64 if small else 768,
        batch_size=16 if small else 32,
        verbose=verbose,
        name="classification",
    )
