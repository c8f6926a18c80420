"""End-to-end demo: train, save, reload and check a small classifier built
from the package's layers, on whichever Keras backend is active.

Run it with ``keras-cv-layers demo`` (or ``python -m keras_cv_layers demo``),
or from Python::

    from keras_cv_layers.demo import run_demo
    report = run_demo(epochs=3, out_dir="kcl_demo_output")

The task is synthetic and needs no download: each 16x16 RGB image holds a
bright blob in one of its four quadrants, and the label is the quadrant.  A
global-average-pooled network cannot see *where* the blob is on its own; the
coordinate channels of `CoordConv2D` / `AddCoords2D` make the task easy.

Every layer is given ``data_format="channels_last"`` explicitly, so the demo
works whatever ``image_data_format`` the user's ``keras.json`` holds.
"""

from __future__ import annotations

import os
import time
from typing import Any

import keras
import numpy as np

import keras_cv_layers as kcl

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
    x = kcl.PFLayerNorm(data_format=_CL, name="pf_layer_norm")(x)
    x = kcl.Scale(data_format=_CL, name="scale")(x)
    x = kcl.Swish(name="swish_2")(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=_CL, name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="kcl_demo_classifier")


def _save_samples(
    path: str, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, count: int = 8
) -> None:
    """Writes a grid of inputs with true (t) and predicted (p) labels (Pillow only)."""
    from PIL import Image, ImageDraw

    count = min(count, len(images))
    zoom, caption = 6, 14
    size = images.shape[1] * zoom
    canvas = Image.new("RGB", (count * (size + 4) + 4, size + caption + 8), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(count):
        img = images[i]
        lo, hi = float(img.min()), float(img.max())
        pixels = ((img - lo) / max(hi - lo, 1e-6) * 255.0).astype("uint8")
        tile = Image.fromarray(pixels, "RGB").resize((size, size), Image.NEAREST)
        left = 4 + i * (size + 4)
        canvas.paste(tile, (left, 4))
        colour = (0, 128, 0) if labels[i] == predicted[i] else (200, 0, 0)
        draw.text((left, size + 6), f"t={labels[i]} p={predicted[i]}", fill=colour)
    canvas.save(path)


def write_samples_figure(
    out_dir: str | os.PathLike, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray
) -> str | None:
    """Writes `samples.png` (inputs with true/predicted labels) into `out_dir`.

    Pillow is optional: without it, prints how to install it and returns None.

    Returns:
        The path of the figure, or None when Pillow is not installed.
    """
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("Pillow not installed: skipping figures (pip install 'keras-cv-layers[demo]')")
        return None
    path = os.path.join(os.fspath(out_dir), "samples.png")
    _save_samples(path, images, labels, predicted)
    return path


def run_demo(
    epochs: int = 3,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    num_samples: int = 768,
    batch_size: int = 32,
    verbose: int = 1,
) -> dict[str, Any]:
    """Trains, evaluates, saves, reloads and checks the demo classifier.

    Uses the current Keras backend (set `KERAS_BACKEND` before importing
    keras to choose it).  Seeds Keras' global random state with `seed`.

    Args:
        epochs: training epochs.
        out_dir: folder for `model.keras` (and `samples.png` when Pillow is
            installed); created if needed.
        seed: seed for the data and the weights.
        num_samples: number of training images (a quarter as many again
            are generated for validation).
        batch_size: training batch size.
        verbose: `model.fit` verbosity (0 silent, 1 progress bar, 2 one line
            per epoch).

    Returns:
        A dict with `backend`, `epochs`, `train_accuracy`, `val_accuracy`,
        `val_loss`, `model_path`, `max_abs_diff` (reloaded vs. original
        predictions), `samples_path` (None without Pillow) and `seconds`.

    Raises:
        AssertionError: if the reloaded model's predictions differ from the
            original's by more than 1e-5.
    """
    start = time.perf_counter()
    backend = keras.backend.backend()
    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)

    x_train, y_train = make_dataset(num_samples, seed=seed)
    x_val, y_val = make_dataset(max(num_samples // 4, 1), seed=seed + 1)

    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    print(
        f"keras_cv_layers {kcl.__version__} demo on backend '{backend}': "
        f"{model.count_params()} parameters, {len(model.layers)} layers, "
        f"{len(x_train)} training / {len(x_val)} validation images"
    )
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
    )
    # Same batch size as in `fit`: the compiled test step is reused.
    _, train_accuracy = model.evaluate(x_train, y_train, batch_size=batch_size, verbose=0)
    val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=batch_size, verbose=0)

    model_path = os.path.join(os.fspath(out_dir), "model.keras")
    model.save(model_path)
    reloaded = keras.saving.load_model(model_path, safe_mode=True)
    expected = model.predict(x_val, batch_size=batch_size, verbose=0)
    actual = reloaded.predict(x_val, batch_size=batch_size, verbose=0)
    max_abs_diff = float(np.max(np.abs(np.asarray(expected) - np.asarray(actual))))
    if not max_abs_diff <= 1e-5:
        raise AssertionError(
            f"Reloaded model differs from the trained one: max |diff| = {max_abs_diff:.3g} > 1e-5."
        )

    samples_path = write_samples_figure(out_dir, x_val, y_val, np.argmax(actual, axis=-1))

    report: dict[str, Any] = {
        "backend": backend,
        "epochs": int(epochs),
        "train_accuracy": float(train_accuracy),
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "final_fit_accuracy": float(history.history["accuracy"][-1]) if epochs else None,
        "model_path": model_path,
        "max_abs_diff": max_abs_diff,
        "samples_path": samples_path,
        "seconds": time.perf_counter() - start,
    }
    print(
        "\n".join(
            [
                "",
                "keras_cv_layers demo report",
                f"  backend            {backend}",
                f"  epochs             {epochs}",
                f"  train accuracy     {report['train_accuracy']:.4f}",
                f"  val accuracy       {report['val_accuracy']:.4f}",
                f"  saved model        {model_path}",
                f"  reload max |diff|  {max_abs_diff:.3g} (<= 1e-5: ok)",
                f"  samples figure     {samples_path or '-'}",
                f"  time               {report['seconds']:.1f} s",
            ]
        )
    )
    return report
