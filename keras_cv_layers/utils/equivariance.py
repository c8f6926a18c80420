"""The groups C4 and D4 acting on images and group feature maps, and
`check_equivariance`, which measures how far a layer or model is from the
equivariance law (as escnn's ``check_equivariance``).

Group elements are numbered ``g = m * 4 + i`` (``m`` = 0 for C4): element
``g`` first mirrors the image (``m`` = 1: reverses the width axis, as
``np.flip(..., axis=W)``) and then rotates it by ``i * 90`` degrees
counter-clockwise, as ``np.rot90(..., i, axes=(H, W))``.

A group feature map ``y`` of shape ``(..., H, W, G, C)`` transforms as
``(t . y)[..., G = t * g, :] = t(y[..., G = g, :])``: the spatial axes are
transformed by ``t`` and group index ``g`` moves to ``t * g`` (the group
product, `multiplication_table`).  For a 90-degree rotation this is
``(m, i) -> (m, i + 1 mod 4)``; for the mirror ``(m, i) -> (1 - m, -i mod 4)``.

Everything here is numpy (it runs at layer build time and in tests), except
that `check_equivariance` calls the given Keras layer or model.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import keras
import numpy as np

from keras_cv_layers.utils import argument_validation as av

#: Supported groups and their orders.
GROUP_ORDERS = {"C4": 4, "D4": 8}


def normalize_group(group, layer_name: str | None = None) -> str:
    """Returns `"C4"` or `"D4"` (case-insensitive); anything else is a ValueError."""
    if isinstance(group, str) and group.upper() in GROUP_ORDERS:
        return group.upper()
    prefix = f"{layer_name}: " if layer_name else ""
    raise ValueError(
        f"{prefix}unknown `group`={group!r}; expected one of {tuple(GROUP_ORDERS)} "
        "('C4': the 4 rotations by 90 degrees, p4; 'D4': rotations and mirrors, p4m)."
    )


def group_order(group: str) -> int:
    """4 for C4, 8 for D4."""
    return GROUP_ORDERS[normalize_group(group)]


def element_name(g: int) -> str:
    """`"identity"`, `"rot90"`, ..., `"flip"`, `"flip_rot90"` (mirror, then rotate)."""
    m, i = divmod(int(g), 4)
    rot = f"rot{90 * i}" if i else ""
    if m:
        return "flip" + (f"_{rot}" if rot else "")
    return rot or "identity"


def transform_spatial(x: np.ndarray, g: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Applies group element `g` to the two spatial axes `axes` = (H, W) of `x`."""
    m, i = divmod(int(g), 4)
    x = np.asarray(x)
    if m:
        x = np.flip(x, axis=axes[1])
    return np.rot90(x, i, axes=axes)


@functools.cache
def _tables(group: str) -> tuple[np.ndarray, np.ndarray]:
    """(multiplication table, inverses), found by acting on an asymmetric probe."""
    order = group_order(group)
    probe = np.arange(25).reshape(5, 5)
    images = [transform_spatial(probe, g) for g in range(order)]

    def index_of(image):
        (matches,) = [g for g in range(order) if np.array_equal(images[g], image)]
        return matches

    table = np.array(
        [[index_of(transform_spatial(images[b], a)) for b in range(order)] for a in range(order)],
        dtype="int64",
    )
    inverse = np.array([int(np.argmax(table[a] == 0)) for a in range(order)], dtype="int64")
    table.setflags(write=False)
    inverse.setflags(write=False)
    return table, inverse


def multiplication_table(group: str) -> np.ndarray:
    """`table[a, b]` = index of `a * b` (apply `b`, then `a`)."""
    return _tables(normalize_group(group))[0]


def inverse_elements(group: str) -> np.ndarray:
    """`inverse[g]` = index of `g^-1`."""
    return _tables(normalize_group(group))[1]


def group_permutation(group: str, t: int) -> np.ndarray:
    """`perm` with `(t . y)[..., j, :] = t(y[..., perm[j], :])`, i.e. `perm[j] = t^-1 * j`."""
    table, inverse = _tables(normalize_group(group))
    return table[inverse[int(t)]].copy()


def transform_group_map(
    y: np.ndarray, t: int, group: str, spatial_axes: tuple[int, int], group_axis: int
) -> np.ndarray:
    """Applies `t` to a group feature map: spatial transform and group-axis permutation."""
    y = transform_spatial(y, t, spatial_axes)
    return np.take(y, group_permutation(group, t), axis=group_axis)


def expansion_indices(kernel_size: int, group: str, in_group: int, in_channels: int) -> np.ndarray:
    """Gather indices of the group-kernel expansion.

    The raw kernel `W` has shape `(k, k, in_group * in_channels, F)` (group-major
    input axis; `in_group` = 1 for a lifting layer).  The expanded kernel is
    `take(reshape(W, (-1, F)), idx, axis=0)` reshaped to
    `(k, k, in_group * in_channels, G * F)`, with

        K[:, :, (h, c), (g, f)] = g(W[:, :, (g^-1 * h, c), f])

    (for a lifting layer, `K[:, :, c, (g, f)] = g(W[:, :, c, f])`): output
    group `g` uses the kernel transformed by `g` spatially, with its input
    group axis permuted by `g`.

    Returns:
        int32 array of shape `(k, k, in_group * in_channels, G)` indexing the rows
        of `reshape(W, (k * k * in_group * in_channels, F))`.
    """
    order = group_order(group)
    k = int(kernel_size)
    table, inverse = _tables(normalize_group(group))
    spatial = np.arange(k * k).reshape(k, k)
    # src_spatial[g, a, b]: flat spatial index of W that lands at (a, b) under g.
    src_spatial = np.stack([transform_spatial(spatial, g) for g in range(order)])
    if in_group == 1:
        src_group = np.zeros((1, order), dtype="int64")
    else:
        if in_group != order:
            raise ValueError(f"in_group must be 1 or {order} for {group}; received {in_group}.")
        # src_group[h, g] = g^-1 * h
        src_group = table[inverse[None, :], np.arange(order)[:, None]]
    channels = np.arange(in_channels)
    idx = (
        src_spatial.transpose(1, 2, 0)[:, :, None, None, :] * in_group + src_group[:, None, :]
    ) * in_channels + channels[None, None, None, :, None]  # (k, k, in_group, C, G)
    return idx.reshape(k, k, in_group * in_channels, order).astype("int32")


# ------------------------------------------------------------ check_equivariance
def _layout_axes(ndim: int, data_format: str, what: str) -> tuple[tuple[int, int], int | None]:
    """(spatial axes, group axis or None) of a 4-D or 5-D tensor."""
    if ndim == 4:
        return ((1, 2) if data_format == "channels_last" else (2, 3)), None
    if ndim == 5:
        return ((1, 2), 3) if data_format == "channels_last" else ((3, 4), 1)
    raise ValueError(
        f"check_equivariance: the {what} must be 4-D (batch, height, width, channels) or "
        f"5-D (batch, height, width, group, channels) (channels_last; channels_first "
        f"(batch, channels, height, width) / (batch, group, channels, height, width))"
        + (", or 2-D (batch, features) for an invariant output" if what == "output" else "")
        + f"; received rank {ndim}."
    )


def _transform(x: np.ndarray, t: int, group: str, data_format: str, what: str) -> np.ndarray:
    if what == "output" and x.ndim == 2:
        return x  # invariant features
    spatial, group_axis = _layout_axes(x.ndim, data_format, what)
    if group_axis is None:
        return transform_spatial(x, t, spatial)
    if x.shape[group_axis] != group_order(group):
        raise ValueError(
            f"check_equivariance: the {what}'s group axis (axis {group_axis}) has size "
            f"{x.shape[group_axis]}, but group {group!r} has {group_order(group)} elements."
        )
    return transform_group_map(x, t, group, spatial, group_axis)


def _call(model_or_layer: Callable, x: np.ndarray) -> np.ndarray:
    if isinstance(model_or_layer, keras.layers.Layer):
        y = model_or_layer(x, training=False)
    else:
        y = model_or_layer(x)
    if isinstance(y, (list, tuple, dict)):
        raise ValueError("check_equivariance: the model must have a single output.")
    return np.asarray(keras.ops.convert_to_numpy(y), dtype="float64")


def check_equivariance(
    model_or_layer: Callable,
    x,
    group: str = "C4",
    data_format: str | None = None,
    transformations: Iterable[str] | None = None,
    return_all: bool = False,
) -> float | dict[str, float]:
    """Largest deviation of `model_or_layer` from the equivariance law.

    For each group element `t` (rotations by 90, 180, 270 degrees, and for D4
    the mirror and mirror-then-rotations), computes
    `max |f(t . x) - t . f(x)|`, where `t` acts on

    - a 4-D tensor `(batch, H, W, C)` by transforming the spatial axes
      (`np.rot90` counter-clockwise on (H, W), the mirror reverses W);
    - a 5-D group feature map `(batch, H, W, G, C)` by transforming the
      spatial axes and moving group index `g` to `t * g`
      (`keras_cv_layers.utils.equivariance.group_permutation`);
    - a 2-D output `(batch, features)` trivially (invariance).

    Exact equivariance of convolutions needs stride 1 (or sizes that the
    strides divide evenly around the centre) and symmetric padding ("same"
    with odd kernels); the result is then float rounding only.

    Args:
        model_or_layer: a Keras layer or model, or any callable, with one input
            and one output.
        x: the input (numpy or tensor), 4-D or 5-D.
        group: `"C4"` or `"D4"`.
        data_format: layout of `x` and of the output; None:
            `keras.config.image_data_format()`.
        transformations: names of the elements to check (`"rot90"`, `"rot180"`,
            `"rot270"`, `"flip"`, `"flip_rot90"`, `"flip_rot180"`,
            `"flip_rot270"`); default all non-identity elements of `group`.
        return_all: if True, return `{name: deviation}` instead of the max.

    Returns:
        The largest absolute deviation (float), or a dict per transformation.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.GroupConv2D(4, 3, group="C4", padding="same",
    ...                         data_format="channels_last")
    >>> x = np.random.default_rng(0).normal(size=(1, 7, 7, 2)).astype("float32")
    >>> kcl.check_equivariance(layer, x, group="C4", data_format="channels_last") < 1e-5
    True
    """
    group = normalize_group(group)
    data_format = av.normalize_data_format(data_format, "check_equivariance")
    order = group_order(group)
    names = {element_name(g): g for g in range(1, order)}
    if transformations is None:
        selected = list(names)
    else:
        selected = list(transformations)
        unknown = [n for n in selected if n not in names]
        if unknown:
            raise ValueError(
                f"check_equivariance: unknown `transformations` {unknown} for group "
                f"{group}; expected names among {list(names)}."
            )
    x = np.asarray(keras.ops.convert_to_numpy(x))
    y = _call(model_or_layer, x)
    deviations = {}
    for name in selected:
        t = names[name]
        x_t = np.ascontiguousarray(_transform(x, t, group, data_format, "input"))
        y_t = _call(model_or_layer, x_t)
        expected = _transform(y, t, group, data_format, "output")
        if y_t.shape != expected.shape:
            raise ValueError(
                f"check_equivariance: f(t . x) has shape {y_t.shape} but t . f(x) has "
                f"shape {expected.shape} for t = {name}."
            )
        deviations[name] = float(np.max(np.abs(y_t - expected))) if y_t.size else 0.0
    if return_all:
        return deviations
    return max(deviations.values()) if deviations else 0.0
