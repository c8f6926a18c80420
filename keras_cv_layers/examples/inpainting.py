"""Filling rectangular holes with a partial-convolution encoder-decoder.

Synthetic data, no download: each image is a smooth grey-level scene (a
linear gradient plus a few soft-edged ellipses) with one or two random
rectangular holes.  A small U-shaped network of `PartialConv2D` layers
(Liu et al., 2018, arXiv:1804.07723) sees only the valid pixels and the hole
mask, and propagates the mask from layer to layer: `[y, mask] -> [y, mask]`.
The headline number is the mean absolute error inside the holes of the
composited output (valid pixels kept, holes filled by the network), compared
with a trivial baseline that fills each hole with the mean of the image's
valid pixels.

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

TITLE = "Inpainting rectangular holes (PartialConv2D encoder-decoder, mask propagation)"

IMAGE_SIZE = 32
_CL = "channels_last"


def make_dataset(
    num_samples: int, seed: int = 0, image_size: int = IMAGE_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth synthetic grey images and random rectangular hole masks.

    Args:
        num_samples: number of images.
        seed: numpy seed; the same seed gives the same data.
        image_size: side of the square images (>= 8).

    Returns:
        `(images, masks)`: float32 `(num_samples, image_size, image_size, 1)`
        images in [0, 1] and masks of the same shape, 1 for valid pixels and
        0 inside the holes (one or two rectangles, each side a quarter to
        three eighths of the image).
    """
    rng = np.random.default_rng(seed)
    n, s = num_samples, image_size
    grid = (np.arange(s, dtype="float64") + 0.5) / s
    yy, xx = grid[None, :, None], grid[None, None, :]
    gy, gx = rng.uniform(-0.4, 0.4, (2, n, 1, 1))
    images = 0.5 + gy * (yy - 0.5) + gx * (xx - 0.5)
    for _ in range(3):
        cy, cx = rng.uniform(0.15, 0.85, (2, n, 1, 1))
        ry, rx = rng.uniform(0.1, 0.3, (2, n, 1, 1))
        level = rng.uniform(-0.4, 0.4, (n, 1, 1))
        r2 = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        images = images + level / (1.0 + np.exp((r2 - 1.0) * 6.0))
    images = np.clip(images, 0.0, 1.0)

    masks = np.ones((n, s, s), "float32")
    low, high = max(2, s // 4), max(3, (3 * s) // 8)
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            h, w = rng.integers(low, high + 1, 2)
            top, left = rng.integers(0, s - h + 1), rng.integers(0, s - w + 1)
            masks[i, top : top + h, left : left + w] = 0.0
    return images[..., None].astype("float32"), masks[..., None]


def build_model(image_size: int = IMAGE_SIZE) -> keras.Model:
    """A small partial-convolution U-Net.

    Args:
        image_size: side of the square grey input.

    Returns:
        An uncompiled `keras.Model` mapping `[masked_image, mask]` (both
        `(batch, image_size, image_size, 1)`) to the predicted full image.
    """
    image = keras.Input((image_size, image_size, 1), name="masked_image")
    mask = keras.Input((image_size, image_size, 1), name="mask")

    def pconv(filters, kernel_size, strides, name, activation="relu"):
        return kcl.PartialConv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            activation=activation,
            use_bias=True,
            data_format=_CL,
            name=name,
        )

    def up(t, name):
        return keras.layers.UpSampling2D(2, data_format=_CL, name=name)(t)

    def concat(a, b, name):
        return keras.layers.Concatenate(axis=-1, name=name)([a, b])

    e1, m1 = pconv(16, 5, 2, "enc1")([image, mask])  # 1/2
    e2, m2 = pconv(32, 3, 2, "enc2")([e1, m1])  # 1/4
    e3, m3 = pconv(32, 3, 2, "enc3")([e2, m2])  # 1/8
    # Decoder: upsample features and masks, concatenate the skip connection
    # (features and their per-channel masks), partial conv.
    d2, n2 = pconv(32, 3, 1, "dec2")(
        [concat(up(e3, "up3"), e2, "cat2"), concat(up(m3, "up3_mask"), m2, "cat2_mask")]
    )
    d1, n1 = pconv(16, 3, 1, "dec1")(
        [concat(up(d2, "up2"), e1, "cat1"), concat(up(n2, "up2_mask"), m1, "cat1_mask")]
    )
    out, _ = pconv(1, 3, 1, "dec0", activation="sigmoid")(
        [concat(up(d1, "up1"), image, "cat0"), concat(up(n1, "up1_mask"), mask, "cat0_mask")]
    )
    return keras.Model([image, mask], out, name="kcl_inpainting")


def hole_l1(prediction: np.ndarray, target: np.ndarray, masks: np.ndarray) -> float:
    """Mean absolute error over the hole pixels (mask == 0)."""
    holes = masks == 0
    return float(np.abs(prediction - target)[holes].mean())


def mean_fill(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The baseline: each hole filled with the mean of its image's valid pixels."""
    axes = tuple(range(1, images.ndim))
    mean = (images * masks).sum(axis=axes, keepdims=True) / np.maximum(
        masks.sum(axis=axes, keepdims=True), 1.0
    )
    return images * masks + mean * (1.0 - masks)


def run(
    epochs: int = 8,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> ExampleReport:
    """The example interface of `keras_cv_layers.examples`: trains the
    inpainting network on 384 images of 32x32 (64 of 16x16 with `small=True`),
    writes ``inpainting.keras`` and ``inpainting.png`` (rows: input with
    holes, mask, output, target) into `out_dir`.

    Returns:
        The example report (see `keras_cv_layers.examples`); `metric` is the
        hole L1 of the composited output; extra: `baseline_hole_l1` (mean
        fill).

    Raises:
        AssertionError: if the reloaded model's predictions differ from the
            original's by more than 1e-5.
    """
    session = ExampleRun("inpainting", out_dir, seed=seed, epochs=epochs, verbose=verbose)
    size = 16 if small else IMAGE_SIZE
    num_train = 64 if small else 384
    batch_size = 16 if small else 32

    x_train, m_train = make_dataset(num_train, seed=seed, image_size=size)
    x_val, m_val = make_dataset(max(num_train // 4, 8), seed=seed + 1, image_size=size)
    val_inputs = [x_val * m_val, m_val]

    model = build_model(size)
    # Per-pixel weights: the holes count 6x (the valid pixels are copied
    # through in the composite anyway).
    session.fit(
        model,
        [x_train * m_train, m_train],
        x_train,
        loss="mae",
        metrics=(),
        sample_weight=1.0 + 5.0 * (1.0 - m_train[..., 0]),
        validation_data=(val_inputs, x_val, 1.0 + 5.0 * (1.0 - m_val[..., 0])),
        batch_size=batch_size,
        about=f"{len(x_train)} training / {len(x_val)} validation {size}x{size} images",
    )
    predicted = np.asarray(model.predict(val_inputs, batch_size=batch_size, verbose=0))
    composite = x_val * m_val + predicted * (1.0 - m_val)
    metric = hole_l1(composite, x_val, m_val)
    baseline = hole_l1(mean_fill(x_val, m_val), x_val, m_val)
    if verbose:
        print(f"hole L1: {metric:.4f} (mean-fill baseline {baseline:.4f})", flush=True)
    count = min(8, len(x_val))
    return session.finish(
        model,
        val_inputs,
        metric=metric,
        metric_name="hole L1 (lower is better)",
        batch_size=batch_size,
        figure=lambda path: save_image_grid(
            path,
            [
                list(x_val[:count] * m_val[:count]),
                list(m_val[:count]),
                list(composite[:count]),
                list(x_val[:count]),
            ],
            row_labels=["input", "mask", "output", "target"],
        ),
        extras={"baseline_hole_l1": baseline},
    )
