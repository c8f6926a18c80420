"""SegNet-style segmentation of synthetic shapes with argmax pooling/unpooling.

The task is synthetic and needs no download: each RGB image holds a few
randomly coloured squares and discs on a noisy background; the target
assigns every pixel a class (0 background, 1 square, 2 disc).  The model is a
small SegNet (Badrinarayanan et al., 2017, arXiv:1511.00561): the encoder
downsamples with `MaxPoolingWithArgmax2D`, the decoder upsamples with
`MaxUnpooling2D` using the encoder's indices, so boundaries come back where
the maxima were.

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

TITLE = "SegNet-style shape segmentation (MaxPoolingWithArgmax2D, MaxUnpooling2D)"

NUM_CLASSES = 3
CLASS_NAMES = ("background", "square", "disc")
_CL = "channels_last"


def make_dataset(
    num_samples: int, image_size: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic shapes and their per-pixel class masks.

    Args:
        num_samples: number of images.
        image_size: side of the square images (>= 12).
        seed: numpy seed; the same seed gives the same data.

    Returns:
        `(x, y)`: float32 images `(num_samples, image_size, image_size, 3)`
        and int32 masks `(num_samples, image_size, image_size)` with values
        0 (background), 1 (square) and 2 (disc); later shapes cover earlier ones.
    """
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.1, size=(num_samples, image_size, image_size, 3))
    masks = np.zeros((num_samples, image_size, image_size), "int32")
    grid = np.arange(image_size)
    yy, xx = grid[:, None], grid[None, :]
    for n in range(num_samples):
        for _ in range(rng.integers(1, 3)):
            cls = int(rng.integers(1, NUM_CLASSES))
            radius = rng.uniform(3.0, max(4.5, image_size / 6.0))
            cy, cx = rng.uniform(radius, image_size - radius, size=2)
            if cls == 1:
                inside = (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)
            else:
                inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= (radius + 0.5) ** 2
            colour = rng.uniform(0.4, 1.2, size=3)
            images[n][inside] = colour + rng.normal(0.0, 0.1, size=(int(inside.sum()), 3))
            masks[n][inside] = cls
    return images.astype("float32"), masks


def build_model(image_size: int = 32, width: int = 16) -> keras.Model:
    """A two-level SegNet: conv blocks, argmax pooling, bottleneck, unpooling
    with the encoder's indices, per-pixel softmax over the classes.

    Args:
        image_size: side of the square RGB input (any size works: the
            unpooling takes the pre-pool tensor as reference).
        width: channels of the first level (the second has twice as many).

    Returns:
        An uncompiled `keras.Model` from `(batch, image_size, image_size, 3)`
        to class probabilities `(batch, image_size, image_size, 3)`.
    """

    def block(x, filters, name):
        x = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, data_format=_CL, name=f"{name}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input((image_size, image_size, 3), name="image")
    e1 = block(inputs, width, "enc1")
    p1, i1 = kcl.MaxPoolingWithArgmax2D(2, data_format=_CL, name="pool1")(e1)
    e2 = block(p1, 2 * width, "enc2")
    p2, i2 = kcl.MaxPoolingWithArgmax2D(2, data_format=_CL, name="pool2")(e2)
    b = block(p2, 2 * width, "bottleneck")
    u2 = kcl.MaxUnpooling2D(2, data_format=_CL, name="unpool2")([b, i2, e2])
    d2 = block(u2, width, "dec2")
    u1 = kcl.MaxUnpooling2D(2, data_format=_CL, name="unpool1")([d2, i1, e1])
    d1 = block(u1, width, "dec1")
    outputs = keras.layers.Conv2D(
        NUM_CLASSES, 3, padding="same", activation="softmax", data_format=_CL, name="classes"
    )(d1)
    return keras.Model(inputs, outputs, name="kcl_segnet")


def pixel_accuracy(probabilities: np.ndarray, masks: np.ndarray) -> float:
    """Fraction of pixels whose most probable class is the target's."""
    return float(np.mean(np.argmax(probabilities, axis=-1) == masks))


def run(
    epochs: int = 20,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> ExampleReport:
    """Trains the SegNet on synthetic shapes (768 images of 32x32; 256 of 16x16
    with `small=True`), checks the `.keras` round trip, writes ``segnet.keras``
    and ``segnet.png`` (rows: images, targets, predictions) into `out_dir`.

    Returns:
        The example report (see `keras_cv_layers.examples`): `metric` is the
        validation pixel accuracy; extra: `train_pixel_accuracy`.
    """
    session = ExampleRun("segnet", out_dir, seed=seed, epochs=epochs, verbose=verbose)
    image_size, num_train, batch_size = (16, 256, 16) if small else (32, 768, 32)
    x_train, y_train = make_dataset(num_train, image_size, seed=seed)
    x_val, y_val = make_dataset(max(num_train // 4, 8), image_size, seed=seed + 1)
    model = build_model(image_size)
    one_hot = np.eye(NUM_CLASSES, dtype="float32")
    session.fit(
        model,
        x_train,
        one_hot[y_train],
        learning_rate=5e-3,
        # One-hot targets: keras' sparse cross-entropy on 4-D outputs fails on
        # torch ("grad_input must be contiguous" in NLLLoss2d's backward).
        loss="categorical_crossentropy",
        metrics=(),
        batch_size=batch_size,
        about=f"{len(x_train)} training / {len(x_val)} validation images of "
        f"{image_size}x{image_size}",
    )
    train_accuracy = pixel_accuracy(
        model.predict(x_train, batch_size=batch_size, verbose=0), y_train
    )
    predictions = model.predict(x_val, batch_size=batch_size, verbose=0)
    scale = NUM_CLASSES - 1
    count = min(8, len(x_val))
    return session.finish(
        model,
        x_val,
        metric=pixel_accuracy(predictions, y_val),
        metric_name="val pixel accuracy",
        batch_size=batch_size,
        figure=lambda path: save_image_grid(
            path,
            [
                [np.clip(img, 0.0, 1.0) for img in x_val[:count]],
                [m / scale for m in y_val[:count]],
                [np.argmax(p, -1) / scale for p in predictions[:count]],
            ],
            row_labels=["image", "target", "prediction"],
        ),
        extras={"train_pixel_accuracy": train_accuracy},
    )
