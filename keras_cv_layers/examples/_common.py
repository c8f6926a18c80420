"""Helpers shared by the examples: save/reload checks and PNG figures."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

_warned_no_pillow = False


def pillow_available() -> bool:
    """Whether Pillow is importable; says once how to get it when it is not."""
    global _warned_no_pillow
    try:
        import PIL  # noqa: F401
    except ImportError:
        if not _warned_no_pillow:
            print(
                "Pillow is not installed: the examples run but write no figures "
                "(pip install 'keras-cv-layers[demo]')."
            )
            _warned_no_pillow = True
        return False
    return True


def save_reload_check(
    model: keras.Model,
    inputs,
    out_dir: str | os.PathLike,
    name: str,
    atol: float = 1e-5,
    batch_size: int = 32,
) -> tuple[str, float]:
    """Saves `model` as ``<out_dir>/<name>.keras``, reloads it with
    ``safe_mode=True`` and compares the predictions on `inputs`.

    Returns:
        ``(path, max_abs_diff)`` over all outputs.

    Raises:
        AssertionError: if the reloaded predictions differ by more than `atol`.
    """
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(os.fspath(out_dir), f"{name}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    expected = model.predict(inputs, batch_size=batch_size, verbose=0)
    actual = reloaded.predict(inputs, batch_size=batch_size, verbose=0)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    actual = actual if isinstance(actual, (list, tuple)) else [actual]
    diff = max(
        float(np.max(np.abs(np.asarray(e, "float64") - np.asarray(a, "float64"))))
        for e, a in zip(expected, actual)
    )
    if not diff <= atol:
        raise AssertionError(f"{name}: reloaded model differs by {diff:.3g} > {atol}.")
    return path, diff


def _to_uint8(image: np.ndarray, normalize: bool) -> np.ndarray:
    image = np.asarray(image, "float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if normalize:
        lo, hi = float(image.min()), float(image.max())
        image = (image - lo) / max(hi - lo, 1e-6)
    return (np.clip(image, 0.0, 1.0) * 255.0).astype("uint8")


def save_image_grid(
    path: str | os.PathLike,
    rows: Sequence[Sequence[np.ndarray]],
    row_labels: Sequence[str] | None = None,
    zoom: int = 4,
    normalize: bool = False,
) -> str | None:
    """Writes a PNG grid: one row per entry of `rows`, each a list of images
    (H, W), (H, W, 1) or (H, W, 3), values in [0, 1] (or any range with
    `normalize=True`, per tile).  Returns the path, or None without Pillow.
    """
    if not pillow_available():
        return None
    from PIL import Image, ImageDraw

    label_width = 90 if row_labels else 0
    tile_h = max(img.shape[0] for row in rows for img in row) * zoom
    tile_w = max(img.shape[1] for row in rows for img in row) * zoom
    cols = max(len(row) for row in rows)
    canvas = Image.new(
        "RGB", (label_width + cols * (tile_w + 4) + 4, len(rows) * (tile_h + 4) + 4), "white"
    )
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        top = 4 + r * (tile_h + 4)
        if row_labels:
            draw.text((4, top + tile_h // 2 - 6), row_labels[r], fill=(0, 0, 0))
        for c, img in enumerate(row):
            pixels = _to_uint8(img, normalize)
            mode = "L" if pixels.ndim == 2 else "RGB"
            tile = Image.fromarray(pixels, mode).resize(
                (img.shape[1] * zoom, img.shape[0] * zoom), Image.NEAREST
            )
            canvas.paste(tile, (label_width + 4 + c * (tile_w + 4), top))
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    canvas.save(path)
    return path
