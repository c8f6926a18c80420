"""Coordinate channels (CoordConv) as a Keras operation: `add_coords2d`.

`add_coords` is the computation of `add_coords2d`; `kcl.AddCoords2D` and
`kcl.CoordConv2D` call it too, so the op and the layers are one
implementation.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops._operation import Operation, register_op, run, static_shape
from keras_cv_layers.utils import argument_validation as av

__all__ = ["add_coords2d"]

_NAME = "add_coords2d"


def _axis_coords(length, dtype):
    """`[-1, 1]` over `length` positions (0 for length 1); works for tensors."""
    idx = ops.cast(ops.arange(0, length), "float32")
    length = ops.cast(length, "float32")
    return ops.cast((2.0 * idx - (length - 1.0)) / ops.maximum(length - 1.0, 1.0), dtype)


def coordinate_channels(x, with_r: bool, data_format: str):
    """The coordinate channels (row, column[, radius]) of `x`, broadcast to
    its batch and spatial size, in its dtype and data format."""
    shape = ops.shape(x)
    if data_format == "channels_last":
        batch, height, width = shape[0], shape[1], shape[2]
    else:
        batch, height, width = shape[0], shape[2], shape[3]
    yy = ops.broadcast_to(ops.expand_dims(_axis_coords(height, x.dtype), 1), (height, width))
    xx = ops.broadcast_to(ops.expand_dims(_axis_coords(width, x.dtype), 0), (height, width))
    channels = [yy, xx]
    if with_r:
        channels.append(ops.sqrt(ops.square(yy) + ops.square(xx)))
    coords = ops.stack(channels, axis=-1 if data_format == "channels_last" else 0)
    n = len(channels)
    target = (
        (batch, height, width, n) if data_format == "channels_last" else (batch, n, height, width)
    )
    return ops.broadcast_to(ops.expand_dims(coords, 0), target)


def add_coords(x, with_r: bool, data_format: str):
    """The computation of `add_coords2d` on normalized arguments: `x` with its
    coordinate channels appended."""
    coords = coordinate_channels(x, with_r, data_format)
    return ops.concatenate([x, coords], axis=av.channel_axis(data_format))


@register_op
class AddCoordinates2D(Operation):
    """The operation of `add_coords2d`."""

    def __init__(
        self, with_r: bool = False, data_format: str | None = None, *, name: str | None = None
    ):
        super().__init__(name=name)
        self.arguments = {
            "with_r": bool(with_r),
            "data_format": av.normalize_data_format(data_format, _NAME),
        }

    def _check(self, x_shape) -> None:
        if len(x_shape) != 4:
            raise ValueError(
                f"{_NAME}: `x` must have rank 4, i.e. shape "
                f"{av.spatial_description(2, self.arguments['data_format'])}; received shape "
                f"{tuple(x_shape)}."
            )

    def call(self, x):
        self._check(static_shape(x))
        return add_coords(x, **self.arguments)

    def compute_output_spec(self, x):
        shape = list(static_shape(x))
        self._check(shape)
        axis = av.channel_axis(self.arguments["data_format"])
        if shape[axis] is not None:
            shape[axis] += 3 if self.arguments["with_r"] else 2
        return keras.KerasTensor(tuple(shape), dtype=x.dtype)


def add_coords2d(x, with_r: bool = False, data_format: str | None = None):
    """Appends coordinate channels to a 2D feature map (CoordConv).

    The row coordinate, then the column coordinate, are appended after the
    channels of `x`: `yy[i, j] = (2i - (H - 1)) / (H - 1)` and
    `xx[i, j] = (2j - (W - 1)) / (W - 1)`, each spanning `[-1, 1]` over its
    axis (a size-1 axis gives 0); with `with_r` also the distance from the
    centre, `sqrt(yy**2 + xx**2)`.  The computation of `kcl.AddCoords2D` (and
    of the coordinates of `kcl.CoordConv2D`); works for unknown spatial sizes.

    Args:
        x: 4-D tensor, `(batch, height, width, channels)` or channels_first.
        with_r: bool, also append the radius channel. Default False.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Returns:
        `x` with 2 (3 with `with_r`) more channels, in its dtype.

    Raises:
        ValueError: for an input that is not 4-D.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> y = kcl.ops.add_coords2d(np.zeros((1, 3, 2, 1), "float32"), data_format="channels_last")
    >>> np.asarray(y)[0, :, 0, 1].tolist(), np.asarray(y)[0, 0, :, 2].tolist()
    ([-1.0, 0.0, 1.0], [-1.0, 1.0])

    Reference: Liu et al., "An intriguing failing of convolutional neural
    networks and the CoordConv solution" (2018), arXiv:1807.03247.
    """
    return run(AddCoordinates2D(with_r, data_format), x)
