"""Harness cases (see tests/harness.py) of the pooling layers."""

import numpy as np

import keras_cv_layers as kcl
from tests.harness import LayerCase


def _block_indices(x, rng, channels_first, size=2, reference=False):
    """Indices of a 2x2/stride-2 pooling of an input `size` times larger than
    `x` (or of the odd-sized reference `2 * n - 1`): a random position in each
    pooled position's own block, in `x`'s layout."""
    if channels_first:
        b, c, h, w = x.shape
    else:
        b, h, w, c = x.shape
    out_h, out_w = (size * h - 1, size * w - 1) if reference else (size * h, size * w)
    rows = np.minimum(
        size * np.arange(h)[None, :, None, None] + rng.integers(0, size, (b, h, w, c)), out_h - 1
    )
    cols = np.minimum(
        size * np.arange(w)[None, None, :, None] + rng.integers(0, size, (b, h, w, c)), out_w - 1
    )
    chan = np.arange(c)[None, None, None, :]
    if channels_first:
        idx = (chan * out_h + rows) * out_w + cols
        idx = np.moveaxis(idx, -1, 1)
    else:
        idx = (rows * out_w + cols) * c + chan
    extras = [idx.astype("int32")]
    if reference:
        shape = (b, c, out_h, out_w) if channels_first else (b, out_h, out_w, c)
        extras.append(rng.normal(size=shape).astype("float32"))
    return extras


def _block_indices_nd(x, rng, channels_first, size=2, reference=False):
    """`_block_indices` for any number of spatial axes (1D signals, 3D
    volumes): a random position in each pooled position's own `size` block
    of an output `size` times larger than `x` (or of the odd-sized reference
    `size * n - 1`), in `x`'s layout; with `reference`, that tensor too."""
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    b, *sizes, c = x.shape
    out = [size * n - 1 if reference else size * n for n in sizes]
    idx = np.zeros((b, *sizes, c), "int64")
    for d, (n, o) in enumerate(zip(sizes, out)):
        grid = np.arange(n).reshape([1] * (d + 1) + [n] + [1] * (len(sizes) - d))
        pos = np.minimum(size * grid + rng.integers(0, size, idx.shape), o - 1)
        idx = idx * o + pos
    chan = np.arange(c)
    if channels_first:
        idx = np.moveaxis(chan * int(np.prod(out)) + idx, -1, 1)
    else:
        idx = idx * c + chan
    extras = [idx.astype("int32")]
    if reference:
        shape = (b, c, *out) if channels_first else (b, *out, c)
        extras.append(rng.normal(size=shape).astype("float32"))
    return extras


def _arbitrary_indices(x, rng, channels_first):
    """Any indices, duplicates and out-of-range ones included (scatter path)."""
    n = int(np.prod(x.shape[1:])) * 4
    return [rng.integers(-3, n + 3, size=x.shape).astype("int32")]


CASES: list = [
    LayerCase(
        "MaxPoolingWithArgmax2D_same", kcl.MaxPoolingWithArgmax2D, dict(pool_size=2), (2, 7, 9, 3)
    ),
    LayerCase(
        "MaxPoolingWithArgmax2D_overlap_valid",
        kcl.MaxPoolingWithArgmax2D,
        dict(pool_size=3, strides=2, padding="valid"),
        (2, 7, 8, 3),
    ),
    LayerCase(
        "MaxUnpooling2D_pair",
        kcl.MaxUnpooling2D,
        dict(size=2),
        (2, 4, 5, 3),
        extra_inputs=_block_indices,
    ),
    LayerCase(
        "MaxUnpooling2D_reference",
        kcl.MaxUnpooling2D,
        dict(size=2),
        (2, 4, 5, 3),
        extra_inputs=lambda x, rng, cf: _block_indices(x, rng, cf, reference=True),
    ),
    LayerCase(
        "MaxUnpooling2D_scatter",
        kcl.MaxUnpooling2D,
        dict(size=2),
        (2, 3, 4, 3),
        extra_inputs=_arbitrary_indices,
    ),
    LayerCase(
        "MaxPoolingWithArgmax1D_overlap_same",
        kcl.MaxPoolingWithArgmax1D,
        dict(pool_size=3, strides=2),
        (2, 9, 3),
    ),
    LayerCase(
        "MaxUnpooling1D_reference",
        kcl.MaxUnpooling1D,
        dict(size=2),
        (2, 5, 3),
        extra_inputs=lambda x, rng, cf: _block_indices_nd(x, rng, cf, reference=True),
    ),
    LayerCase(
        "MaxPoolingWithArgmax3D_same",
        kcl.MaxPoolingWithArgmax3D,
        dict(pool_size=2),
        (1, 4, 5, 6, 2),
    ),
    LayerCase(
        "MaxUnpooling3D_pair",
        kcl.MaxUnpooling3D,
        dict(size=2),
        (1, 2, 3, 2, 2),
        extra_inputs=_block_indices_nd,
    ),
    LayerCase("Blur2D_valid", kcl.Blur2D, dict(filter_size=3), (2, 9, 8, 3)),
    LayerCase(
        "Blur2D_same_normalize",
        kcl.Blur2D,
        dict(filter_size=4, padding="same"),
        (2, 9, 8, 3),
    ),
    LayerCase(
        "Blur2D_same_reflect",
        kcl.Blur2D,
        dict(filter_size=5, strides=1, padding="same", boundary="reflect"),
        (2, 7, 6, 3),
    ),
    LayerCase(
        "MaxPoolingWithRelativePosition2D",
        kcl.MaxPoolingWithRelativePosition2D,
        dict(pool_size=3),
        (2, 6, 5, 3),
    ),
]
