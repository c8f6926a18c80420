"""Helpers shared by the examples: save/reload checks and PNG figures.

Figures are drawn with matplotlib's object-oriented API (`matplotlib.figure.Figure`,
no `pyplot`): nothing touches the user's GUI backend or pyplot's global state.
matplotlib is optional (the `demo` extra); without it the examples say so once
and write no figures.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

_warned_no_matplotlib = False


def figures_available() -> bool:
    """Whether matplotlib is importable; says once how to get it when it is not."""
    global _warned_no_matplotlib
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if not _warned_no_matplotlib:
            print(
                "matplotlib is not installed: the examples run but write no figures "
                "(pip install 'keras-cv-layers[demo]')."
            )
            _warned_no_matplotlib = True
        return False
    return True


def new_figure(width: float, height: float):
    """A matplotlib `Figure` of `width` x `height` inches, not managed by pyplot."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(figure, path: str | os.PathLike) -> str:
    """Writes `figure` as a PNG at `path` (creating its folder); returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path)
    return path


def show_image(axes, image: np.ndarray, normalize: bool = False) -> None:
    """Draws one (H, W), (H, W, 1) or (H, W, 3) image on `axes`, without ticks."""
    axes.imshow(
        _to_unit(image, normalize), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest"
    )
    axes.set_xticks([])
    axes.set_yticks([])


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


def show_labelled_row(
    container,
    images: np.ndarray,
    labels: Sequence[object],
    predicted: Sequence[object],
    count: int = 8,
) -> None:
    """Draws the first `count` `images` in one row of `container` (a matplotlib
    `Figure` or `SubFigure`), each titled ``t=<label> p=<predicted>``, green
    when they agree and red when they do not (each image's range stretched)."""
    count = min(count, len(images))
    for i, axes in enumerate(container.subplots(1, count, squeeze=False)[0]):
        show_image(axes, images[i], normalize=True)
        colour = "green" if labels[i] == predicted[i] else "red"
        axes.set_title(f"t={labels[i]} p={predicted[i]}", color=colour, fontsize=9)


def _to_unit(image: np.ndarray, normalize: bool) -> np.ndarray:
    """`image` as float32 in [0, 1] ((H, W, 1) squeezed); `normalize`
    stretches its own range to [0, 1] first."""
    image = np.asarray(image, "float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if normalize:
        lo, hi = float(image.min()), float(image.max())
        image = (image - lo) / max(hi - lo, 1e-6)
    return np.clip(image, 0.0, 1.0)


def save_image_grid(
    path: str | os.PathLike,
    rows: Sequence[Sequence[np.ndarray]],
    row_labels: Sequence[str] | None = None,
    normalize: bool = False,
    title: str | None = None,
) -> str | None:
    """Writes a PNG grid: one row per entry of `rows`, each a list of images
    (H, W), (H, W, 1) or (H, W, 3), values in [0, 1] (or any range with
    `normalize=True`, per tile), `row_labels` on the left.  Returns the
    path, or None without matplotlib.
    """
    if not figures_available():
        return None
    cols = max(len(row) for row in rows)
    figure = new_figure(1.3 * cols + (0.6 if row_labels else 0.0), 1.3 * len(rows) + 0.4)
    grid = figure.subplots(len(rows), cols, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(cols):
            axes = grid[r][c]
            if c < len(row):
                show_image(axes, row[c], normalize)
            else:
                axes.set_axis_off()
        if row_labels:
            grid[r][0].set_ylabel(row_labels[r])
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
