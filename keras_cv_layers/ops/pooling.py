"""Max pooling with argmax and max unpooling as Keras operations.

`max_pool_with_argmax1d/2d/3d` return the pooled values and, for each, the
position of the maximum in its own example flattened in its own data format
(the convention of `tf.nn.max_pool_with_argmax(include_batch_in_index=False)`
for channels_last).  `max_unpool1d/2d/3d` put values back at such positions.
One implementation serves the three ranks (the number of spatial axes); the
math is `_pooling_kernels`, the backend fast paths are in
`backend_kernels/pooling`.  `blur_pool2d` is the anti-aliased downsampling
of `kcl.Blur2D` (a depthwise binomial filter).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_cv_layers.ops import _pooling_kernels as kernels
from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.ops._operation import (
    Operation,
    is_empty_batch,
    register_op,
    run,
    static_shape,
)
from keras_cv_layers.utils import argument_validation as av

__all__ = [
    "blur_pool2d",
    "max_pool_with_argmax1d",
    "max_pool_with_argmax2d",
    "max_pool_with_argmax3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]

#: The names of the spatial axes, by rank (as `av.spatial_description`).
SPATIAL_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _is_integer_dtype(dtype) -> bool:
    name = keras.backend.standardize_dtype(dtype)
    return name.startswith("int") or name.startswith("uint")


def _spatial_axes(rank: int, data_format: str) -> tuple:
    first = 1 if data_format == "channels_last" else 2
    return tuple(range(first, first + rank))


def pooled_shape(
    input_shape,
    pool_size,
    strides,
    padding: str,
    data_format: str,
    owner: str = "Pooling",
    window_arg: str = "pool_size",
) -> tuple:
    """Output shape of a pooling over `len(pool_size)` spatial axes (Keras
    arithmetic: ceil for "same"); `ValueError` naming `owner` (and the
    window as `window_arg`) when a spatial size would be zero or negative."""
    shape = list(input_shape)
    axes = _spatial_axes(len(pool_size), data_format)
    for axis, k, s in zip(axes, pool_size, strides):
        shape[axis] = av.conv_output_length(shape[axis], k, s, padding)
    window = pool_size[0] if window_arg == "filter_size" else tuple(pool_size)
    av.check_output_size(
        owner,
        input_shape,
        [shape[a] for a in axes],
        **{window_arg: window, "strides": tuple(strides), "padding": padding},
    )
    return tuple(shape)


def check_pool_input(
    x_shape, pool_size, padding: str, data_format: str, where: str, strides=None
) -> None:
    """ValueError unless `x` has `len(pool_size) + 2` axes and the window
    fits it (a positive output size)."""
    rank = len(pool_size)
    if len(x_shape) != rank + 2:
        raise ValueError(
            f"{where}: expected a {rank + 2}-D input "
            f"{av.spatial_description(rank, data_format)}; received shape {tuple(x_shape)}."
        )
    pooled_shape(x_shape, pool_size, strides or pool_size, padding, data_format, where)


def pool_with_argmax(x, pool_size, strides, padding: str, data_format: str):
    """The computation of `max_pool_with_argmax1d/2d/3d` on normalized
    arguments (the layers call it too; the rank is `len(pool_size)`):
    `(pooled, int32 indices)`."""
    pooled, indices = kernels.max_pool_with_argmax(x, pool_size, strides, padding, data_format)
    return pooled, ops.cast(indices, "int32")


class _MaxPoolWithArgmax(Operation):
    """The operation of `max_pool_with_argmax{rank}d` (subclasses set
    `rank` and `_where`)."""

    rank: int
    _where: str

    def __init__(
        self,
        pool_size=2,
        strides=None,
        padding: str = "same",
        data_format: str | None = None,
        *,
        name: str | None = None,
    ):
        super().__init__(name=name)
        where, rank = self._where, self.rank
        pool_size = av.normalize_tuple(pool_size, rank, "pool_size", layer_name=where)
        strides = (
            pool_size
            if strides is None
            else av.normalize_tuple(strides, rank, "strides", layer_name=where)
        )
        self.arguments = {
            "pool_size": pool_size,
            "strides": strides,
            "padding": av.normalize_padding(padding, layer_name=where),
            "data_format": av.normalize_data_format(data_format, where),
        }

    def _check(self, x_shape) -> None:
        a = self.arguments
        check_pool_input(
            x_shape, a["pool_size"], a["padding"], a["data_format"], self._where, a["strides"]
        )

    def call(self, x):
        self._check(static_shape(x))
        return pool_with_argmax(x, **self.arguments)

    def compute_output_spec(self, x):
        self._check(static_shape(x))
        a = self.arguments
        shape = pooled_shape(x.shape, a["pool_size"], a["strides"], a["padding"], a["data_format"])
        return keras.KerasTensor(shape, dtype=x.dtype), keras.KerasTensor(shape, dtype="int32")


@register_op
class MaxPoolWithArgmax1D(_MaxPoolWithArgmax):
    """The operation of `max_pool_with_argmax1d`."""

    rank = 1
    _where = "max_pool_with_argmax1d"


@register_op
class MaxPoolWithArgmax2D(_MaxPoolWithArgmax):
    """The operation of `max_pool_with_argmax2d`."""

    rank = 2
    _where = "max_pool_with_argmax2d"


@register_op
class MaxPoolWithArgmax3D(_MaxPoolWithArgmax):
    """The operation of `max_pool_with_argmax3d`."""

    rank = 3
    _where = "max_pool_with_argmax3d"


def max_pool_with_argmax1d(
    x,
    pool_size=2,
    strides=None,
    padding: str = "same",
    data_format: str | None = None,
):
    """1D max pooling that also returns the position of each maximum.

    As `max_pool_with_argmax2d`, over one spatial axis.

    Args:
        x: 3-D float tensor, `(batch, steps, channels)` or channels_first
            `(batch, channels, steps)`.
        pool_size: int or tuple of 1 int.
        strides: int, tuple of 1 int or None (then `pool_size`).
        padding: `"same"` (default; output size `ceil(n / stride)`, the
            padding is -inf and never selected) or `"valid"`.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Returns:
        `(pooled, indices)`: `pooled` in the dtype of `x`; `indices` int32,
        the position of each maximum in `reshape(x[b], (-1,))`, i.e.
        `s * C + c` for channels_last and `c * S + s` for channels_first.
        Ties go to the lowest index; the gradient flows to the argmax
        positions as in `keras.layers.MaxPooling1D`.

    Raises:
        ValueError: for a non-3-D input, or a "valid" window larger than it.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.array([[[1.0], [3.0], [2.0], [0.0], [5.0]]], "float32")
    >>> pooled, idx = kcl.ops.max_pool_with_argmax1d(x, 2, data_format="channels_last")
    >>> np.asarray(pooled).reshape(-1).tolist(), np.asarray(idx).reshape(-1).tolist()
    ([3.0, 2.0, 5.0], [1, 2, 4])

    Reference: Badrinarayanan et al., "SegNet: A Deep Convolutional
    Encoder-Decoder Architecture for Image Segmentation" (2017),
    arXiv:1511.00561.
    """
    return run(MaxPoolWithArgmax1D(pool_size, strides, padding, data_format), x)


def max_pool_with_argmax2d(
    x,
    pool_size=2,
    strides=None,
    padding: str = "same",
    data_format: str | None = None,
):
    """2D max pooling that also returns the position of each maximum.

    Args:
        x: 4-D float tensor, `(batch, height, width, channels)` or
            channels_first.
        pool_size: int or tuple of 2 ints.
        strides: int, tuple of 2 ints or None (then `pool_size`).
        padding: `"same"` (default; output size `ceil(n / stride)`, the
            padding is -inf and never selected) or `"valid"`.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Returns:
        `(pooled, indices)`: `pooled` in the dtype of `x`; `indices` int32,
        the position of each maximum in `reshape(x[b], (-1,))`, i.e.
        `(h * W + w) * C + c` for channels_last and `(c * H + h) * W + w` for
        channels_first.  Ties go to the lowest index; the gradient flows to
        the argmax positions as in `keras.layers.MaxPooling2D`.

    Raises:
        ValueError: for a non-4-D input, or a "valid" window larger than it.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, data_format="channels_last")
    >>> np.asarray(idx).reshape(-1).tolist()
    [5, 7, 13, 15]

    Reference: Badrinarayanan et al., "SegNet: A Deep Convolutional
    Encoder-Decoder Architecture for Image Segmentation" (2017),
    arXiv:1511.00561.
    """
    return run(MaxPoolWithArgmax2D(pool_size, strides, padding, data_format), x)


def max_pool_with_argmax3d(
    x,
    pool_size=2,
    strides=None,
    padding: str = "same",
    data_format: str | None = None,
):
    """3D max pooling that also returns the position of each maximum.

    As `max_pool_with_argmax2d`, over three spatial axes.

    Args:
        x: 5-D float tensor, `(batch, depth, height, width, channels)` or
            channels_first `(batch, channels, depth, height, width)`.
        pool_size: int or tuple of 3 ints.
        strides: int, tuple of 3 ints or None (then `pool_size`).
        padding: `"same"` (default; output size `ceil(n / stride)`, the
            padding is -inf and never selected) or `"valid"`.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Returns:
        `(pooled, indices)`: `pooled` in the dtype of `x`; `indices` int32,
        the position of each maximum in `reshape(x[b], (-1,))`, i.e.
        `((d * H + h) * W + w) * C + c` for channels_last and
        `((c * D + d) * H + h) * W + w` for channels_first.  Ties go to the
        lowest index; the gradient flows to the argmax positions as in
        `keras.layers.MaxPooling3D`.

    Raises:
        ValueError: for a non-5-D input, or a "valid" window larger than it.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.arange(8, dtype="float32").reshape(1, 2, 2, 2, 1)
    >>> pooled, idx = kcl.ops.max_pool_with_argmax3d(x, 2, data_format="channels_last")
    >>> np.asarray(pooled).reshape(-1).tolist(), np.asarray(idx).reshape(-1).tolist()
    ([7.0], [7])

    Reference: Badrinarayanan et al., "SegNet: A Deep Convolutional
    Encoder-Decoder Architecture for Image Segmentation" (2017),
    arXiv:1511.00561.
    """
    return run(MaxPoolWithArgmax3D(pool_size, strides, padding, data_format), x)


def _input_description(rank: int) -> str:
    return "(batch, " + ", ".join(SPATIAL_NAMES[rank]) + ", channels)"


def check_unpool_inputs(x_shape, indices_shape, indices_dtype, where: str, rank: int = 2) -> None:
    """ValueError unless `x` has `rank` spatial axes and `indices` is an
    integer tensor shaped like `x`."""
    if len(x_shape) != rank + 2:
        raise ValueError(
            f"{where}: `x` must be {rank + 2}-D {_input_description(rank)} or "
            f"channels_first; received shape {tuple(x_shape)}."
        )
    if len(indices_shape) != len(x_shape) or any(
        a is not None and b is not None and a != b for a, b in zip(x_shape, indices_shape)
    ):
        raise ValueError(
            f"{where}: `indices` must have the shape of `x`, {tuple(x_shape)}; "
            f"received shape {tuple(indices_shape)}."
        )
    if indices_dtype is not None and not _is_integer_dtype(indices_dtype):
        raise ValueError(
            f"{where}: `indices` must be an integer tensor (as returned by "
            f"max_pool_with_argmax{rank}d); received dtype "
            f"{keras.backend.standardize_dtype(indices_dtype)}."
        )


def _static_block_size(pooled_sizes, output_sizes):
    """Block size of the dense unpooling path, when the sizes are static."""
    if not all(isinstance(v, int) and v > 0 for v in (*pooled_sizes, *output_sizes)):
        return None
    return tuple(max(1, math.ceil(o / p)) for p, o in zip(pooled_sizes, output_sizes))


def unpool(x, indices, output_size, data_format: str, block_size=None):
    """The unpooling of `max_unpool1d/2d/3d` and `kcl.MaxUnpooling1D/2D/3D`
    (the rank is `len(output_size)`), where its route is chosen: with a
    `block_size` (the layer's `size`) or one that the static sizes give,
    the dense path when every index lies in its block (checked at run time),
    else the scatter path."""
    output_size = tuple(output_size)
    spatial = av.spatial_dims(x.shape, data_format)
    if is_empty_batch(x) and all(isinstance(v, int) for v in output_size):
        # The kernels' reductions have no identity for 0 examples.
        if data_format == "channels_last":
            return ops.zeros((0, *output_size, x.shape[-1]), x.dtype)
        return ops.zeros((0, x.shape[1], *output_size), x.dtype)
    if block_size is None:
        block_size = _static_block_size(tuple(spatial), output_size)
    return kernels.max_unpool(x, ops.cast(indices, "int32"), output_size, block_size, data_format)


_SIZE_COUNTS = {1: "one positive int", 2: "two positive ints", 3: "three positive ints"}


def _size_error(where: str, output_shape, why: str, rank: int = 2) -> ValueError:
    return ValueError(
        f"{where}: `output_shape` must be the spatial ({', '.join(SPATIAL_NAMES[rank])}) of "
        f"the result, {_SIZE_COUNTS[rank]} (or scalar integer tensors, outside a functional "
        f"model); received {output_shape!r}: {why}."
    )


def _output_size(output_shape, where: str, rank: int = 2) -> tuple:
    """The spatial output size: `rank` positive ints, or integer scalar
    tensors for sizes known only at run time (for 1D a bare int is taken as
    `(n,)`); `ValueError` naming `output_shape` otherwise."""
    if isinstance(output_shape, (str, bytes)):
        raise _size_error(where, output_shape, "a string", rank)
    if rank == 1 and isinstance(output_shape, (int, np.integer)):
        output_shape = (output_shape,)
    try:
        values = tuple(output_shape)
    except TypeError:
        why = "not a pair" if rank == 2 else f"not a sequence of {rank}"
        raise _size_error(where, output_shape, why, rank) from None
    if len(values) != rank:
        raise _size_error(where, output_shape, f"{len(values)} entries", rank)
    sizes = []
    for v in values:
        if isinstance(v, (bool, np.bool_)):
            raise _size_error(where, output_shape, "a bool", rank)
        if isinstance(v, (int, np.integer)):
            if v <= 0:
                raise _size_error(where, output_shape, "sizes must be positive", rank)
            sizes.append(int(v))
        elif (
            ops.is_tensor(v)
            and len(v.shape) == 0
            and _is_integer_dtype(keras.backend.standardize_dtype(v.dtype))
        ):
            sizes.append(v)
        else:
            raise _size_error(where, output_shape, f"{v!r} is not an integer", rank)
    return tuple(sizes)


def check_unpool_output_size(x_shape, output_size, data_format: str, where: str) -> None:
    """ValueError when a static output size is smaller than `x` along an
    axis: pooling never enlarges, so such indices cannot all fit.  (Indices
    beyond a large-enough output are data: they are ignored at run time.)"""
    spatial = av.spatial_dims(x_shape, data_format)
    for n, out, axis in zip(spatial, output_size, SPATIAL_NAMES[len(output_size)]):
        if isinstance(out, int) and n is not None and out < n:
            raise ValueError(
                f"{where}: `output_shape` {tuple(output_size)} is smaller than the pooled "
                f"input along the {axis} ({n}; x of shape {tuple(x_shape)}): the output "
                f"of an unpooling is at least as large as its input."
            )


class _MaxUnpool(Operation):
    """The operation of `max_unpool{rank}d` (static `output_shape`;
    subclasses set `rank` and `_where`)."""

    rank: int
    _where: str

    def __init__(self, output_shape, data_format: str | None = None, *, name: str | None = None):
        super().__init__(name=name)
        self.arguments = {
            "output_shape": _output_size(output_shape, self._where, self.rank),
            "data_format": av.normalize_data_format(data_format, self._where),
        }

    def _check(self, x, indices) -> None:
        a = self.arguments
        check_unpool_inputs(
            static_shape(x), static_shape(indices), indices.dtype, self._where, self.rank
        )
        check_unpool_output_size(static_shape(x), a["output_shape"], a["data_format"], self._where)

    def call(self, x, indices):
        self._check(x, indices)
        a = self.arguments
        return unpool(x, indices, a["output_shape"], a["data_format"])

    def compute_output_spec(self, x, indices):
        self._check(x, indices)
        a = self.arguments
        out, shape = tuple(a["output_shape"]), tuple(x.shape)
        if a["data_format"] == "channels_last":
            return keras.KerasTensor((shape[0], *out, shape[-1]), dtype=x.dtype)
        return keras.KerasTensor((shape[0], shape[1], *out), dtype=x.dtype)


@register_op
class MaxUnpool1D(_MaxUnpool):
    """The operation of `max_unpool1d` (static `output_shape`)."""

    rank = 1
    _where = "max_unpool1d"


@register_op
class MaxUnpool2D(_MaxUnpool):
    """The operation of `max_unpool2d` (static `output_shape`)."""

    rank = 2
    _where = "max_unpool2d"


@register_op
class MaxUnpool3D(_MaxUnpool):
    """The operation of `max_unpool3d` (static `output_shape`)."""

    rank = 3
    _where = "max_unpool3d"


_UNPOOL_OPS = {1: MaxUnpool1D, 2: MaxUnpool2D, 3: MaxUnpool3D}


def _max_unpool(rank: int, x, indices, output_shape, data_format: str | None):
    """`max_unpool{rank}d`: an op node for a static `output_shape`, else the
    computation itself (a run-time size cannot be a static argument)."""
    operation = _UNPOOL_OPS[rank]
    where = operation._where
    output_size = _output_size(output_shape, where, rank)
    if all(isinstance(v, int) for v in output_size):
        return run(operation(output_size, data_format), x, indices)
    data_format = av.normalize_data_format(data_format, where)
    x = ops.convert_to_tensor(x)
    indices = ops.convert_to_tensor(indices)
    check_unpool_inputs(static_shape(x), static_shape(indices), indices.dtype, where, rank)
    check_unpool_output_size(static_shape(x), output_size, data_format, where)
    return unpool(x, indices, output_size, data_format)


def max_unpool1d(x, indices, output_shape, data_format: str | None = None):
    """1D max unpooling: the inverse placement of `max_pool_with_argmax1d`.

    As `max_unpool2d`, over one spatial axis.

    Args:
        x: 3-D float tensor of pooled values, `(batch, steps, channels)` or
            channels_first.
        indices: integer tensor shaped like `x`: per-example flat positions
            in the output (as returned by `max_pool_with_argmax1d` on an
            input of `output_shape` steps).
        output_shape: `(steps,)` (or a bare int) of the result: a positive
            int, at least the steps of `x` (a scalar integer tensor is
            accepted for a size known only at run time, outside a functional
            model).
        data_format: `"channels_last"`, `"channels_first"` or None.

    Raises:
        ValueError: `output_shape` is not one positive integer, or is
            smaller than `x`; `indices` is not an integer tensor of the shape
            of `x`.

    Returns:
        A tensor of `output_shape` steps (same batch and channels as `x`)
        holding zeros except at `indices`, where the values of `x` go (once,
        their maximum, where several carry the same index); out-of-range
        indices are ignored.  The gradient w.r.t. `x` is the gather of the
        output gradient at `indices`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.array([[[1.0], [3.0], [2.0], [0.0], [5.0]]], "float32")
    >>> pooled, idx = kcl.ops.max_pool_with_argmax1d(x, 2, data_format="channels_last")
    >>> y = kcl.ops.max_unpool1d(pooled, idx, (5,), data_format="channels_last")
    >>> np.asarray(y).reshape(-1).tolist()
    [0.0, 3.0, 2.0, 0.0, 5.0]
    """
    return _max_unpool(1, x, indices, output_shape, data_format)


def max_unpool2d(x, indices, output_shape, data_format: str | None = None):
    """Max unpooling: the inverse placement of `max_pool_with_argmax2d`.

    Args:
        x: 4-D float tensor of pooled values.
        indices: integer tensor shaped like `x`: per-example flat positions in
            the output (as returned by `max_pool_with_argmax2d` on an input
            of spatial size `output_shape`).
        output_shape: `(height, width)` of the result: positive ints, at
            least the spatial size of `x` (scalar integer tensors are
            accepted for sizes known only at run time, outside a functional
            model).  Pass the size of the tensor that was pooled: indices
            from a larger input cannot be told from the shapes, and those
            beyond `output_shape` are dropped (see Returns).
        data_format: `"channels_last"`, `"channels_first"` or None.

    Raises:
        ValueError: `output_shape` is not two positive integers, or is
            smaller than `x` along an axis; `indices` is not an integer
            tensor of the shape of `x`.

    Returns:
        A tensor of spatial size `output_shape` (same batch and channels as
        `x`) holding zeros except at `indices`, where the values of `x` go.
        Where several values carry the same index (overlapping pooling
        windows) the output holds the value once (their maximum), not a sum;
        out-of-range indices are ignored.  The gradient w.r.t. `x` is the
        gather of the output gradient at `indices`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, data_format="channels_last")
    >>> y = kcl.ops.max_unpool2d(pooled, idx, (4, 4), data_format="channels_last")
    >>> np.asarray(y)[0, :, :, 0].tolist()[1]
    [0.0, 5.0, 0.0, 7.0]
    """
    return _max_unpool(2, x, indices, output_shape, data_format)


def max_unpool3d(x, indices, output_shape, data_format: str | None = None):
    """3D max unpooling: the inverse placement of `max_pool_with_argmax3d`.

    As `max_unpool2d`, over three spatial axes.

    Args:
        x: 5-D float tensor of pooled values, `(batch, depth, height, width,
            channels)` or channels_first.
        indices: integer tensor shaped like `x`: per-example flat positions
            in the output (as returned by `max_pool_with_argmax3d` on an
            input of spatial size `output_shape`).
        output_shape: `(depth, height, width)` of the result: positive ints,
            at least the spatial size of `x` (scalar integer tensors are
            accepted for sizes known only at run time, outside a functional
            model).
        data_format: `"channels_last"`, `"channels_first"` or None.

    Raises:
        ValueError: `output_shape` is not three positive integers, or is
            smaller than `x` along an axis; `indices` is not an integer
            tensor of the shape of `x`.

    Returns:
        A tensor of spatial size `output_shape` (same batch and channels as
        `x`) holding zeros except at `indices`, where the values of `x` go
        (once, their maximum, where several carry the same index);
        out-of-range indices are ignored.  The gradient w.r.t. `x` is the
        gather of the output gradient at `indices`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.arange(8, dtype="float32").reshape(1, 2, 2, 2, 1)
    >>> pooled, idx = kcl.ops.max_pool_with_argmax3d(x, 2, data_format="channels_last")
    >>> y = kcl.ops.max_unpool3d(pooled, idx, (2, 2, 2), data_format="channels_last")
    >>> np.asarray(y).reshape(-1).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]
    """
    return _max_unpool(3, x, indices, output_shape, data_format)


# ------------------------------------------------------------------ blur pool
BLUR_BOUNDARIES = ("normalize", "reflect", "zero")


def binomial_filter(filter_size: int) -> np.ndarray:
    """The normalized 2D binomial filter: outer product of a row of Pascal's
    triangle with itself, summing to 1 (float64 numpy)."""
    row = np.array([math.comb(filter_size - 1, k) for k in range(filter_size)], "float64")
    kernel = np.outer(row, row)
    return kernel / kernel.sum()


def normalize_boundary(boundary, where: str) -> str:
    """The lower-cased `boundary` of a blur; ValueError naming it otherwise."""
    if not isinstance(boundary, str) or boundary.lower() not in BLUR_BOUNDARIES:
        raise ValueError(
            f"{where}: invalid `boundary`={boundary!r}; expected one of {BLUR_BOUNDARIES}."
        )
    return boundary.lower()


def check_blur_input(
    x_shape, filter_size: int, padding: str, boundary: str, data_format: str, where: str
) -> None:
    """ValueError (starting with `where`) unless `x` is 4-D with a known
    channel count and, for a "same" reflect blur, spatial sizes
    `> filter_size // 2` (the window fit of "valid" is `pooled_shape`'s)."""
    expected = av.spatial_description(2, data_format)
    if len(x_shape) != 4:
        raise ValueError(
            f"{where}: expects an input of rank 4, i.e. shape {expected}; received input "
            f"of shape {tuple(x_shape)}."
        )
    if x_shape[av.channel_axis(data_format)] is None:
        raise ValueError(
            f"{where}: needs a known channel count, i.e. input shape {expected}; received "
            f"input of shape {tuple(x_shape)}."
        )
    f = filter_size
    spatial = x_shape[1:3] if data_format == "channels_last" else x_shape[2:4]
    for size in spatial:
        if size is None:
            continue
        if padding == "same" and boundary == "reflect" and size <= f // 2:
            raise ValueError(
                f'{where}: with boundary="reflect" pads {[(f - 1) // 2, f // 2]} and so '
                f"expects spatial sizes > {f // 2}; received input of shape {tuple(x_shape)}."
            )


def _blur_conv(x, kernel, strides, padding: str, data_format: str):
    return conv_ops.depthwise_conv(
        x, kernel, strides=strides, padding=padding, data_format=data_format
    )


def blur_pool(x, filter_size: int, strides, padding: str, boundary: str, data_format: str):
    """The computation of `blur_pool2d` on normalized arguments (`kcl.Blur2D`
    calls it too), in the dtype of `x` (a known channel count)."""
    channels = int(x.shape[av.channel_axis(data_format)])
    f = filter_size
    kernel = np.tile(binomial_filter(f)[:, :, None, None], (1, 1, channels, 1))
    kernel = ops.cast(ops.convert_to_tensor(kernel.astype("float32")), x.dtype)
    if padding == "valid" or f == 1:
        return _blur_conv(x, kernel, strides, padding, data_format)
    if boundary == "reflect":
        if is_empty_batch(x):  # TF and torch reject reflect padding of it
            shape = pooled_shape(static_shape(x), (f, f), strides, "same", data_format)
            return ops.zeros(shape, x.dtype)
        pads = [[0, 0], [(f - 1) // 2, f // 2], [(f - 1) // 2, f // 2], [0, 0]]
        if data_format == "channels_first":
            pads = [pads[0], pads[3], pads[1], pads[2]]
        return _blur_conv(ops.pad(x, pads, mode="reflect"), kernel, strides, "valid", data_format)
    y = _blur_conv(x, kernel, strides, "same", data_format)
    if boundary == "zero":
        return y
    # Filter mass inside the image: the same conv of a one-channel ones
    # image (float32 so that the division is exact where the mass is 1).
    shape = ops.shape(x)
    if data_format == "channels_last":
        ones = ops.ones((1, shape[1], shape[2], 1), "float32")
    else:
        ones = ops.ones((1, 1, shape[2], shape[3]), "float32")
    single = ops.convert_to_tensor(binomial_filter(f)[:, :, None, None].astype("float32"))
    mass = _blur_conv(ones, single, strides, "same", data_format)
    return ops.cast(ops.cast(y, "float32") / mass, x.dtype)


@register_op
class BlurPool2D(Operation):
    """The operation of `blur_pool2d` (its defaults are the function's)."""

    _where = "blur_pool2d"

    def __init__(self, filter_size, strides, padding, boundary, data_format, *, name=None):
        super().__init__(name=name)
        where = self._where
        self.arguments = {
            "filter_size": av.positive_int(filter_size, "filter_size", where),
            "strides": av.normalize_tuple(strides, 2, "strides", layer_name=where),
            "padding": av.normalize_padding(padding, layer_name=where),
            "boundary": normalize_boundary(boundary, where),
            "data_format": av.normalize_data_format(data_format, where),
        }

    def _output_shape(self, x) -> tuple:
        """Checks the shape of `x`; returns the output's."""
        a, shape = self.arguments, static_shape(x)
        f, padding, data_format = a["filter_size"], a["padding"], a["data_format"]
        check_blur_input(shape, f, padding, a["boundary"], data_format, self._where)
        return pooled_shape(
            shape, (f, f), a["strides"], padding, data_format, self._where, "filter_size"
        )

    def call(self, x):
        self._output_shape(x)
        return blur_pool(x, **self.arguments)

    def compute_output_spec(self, x):
        return keras.KerasTensor(self._output_shape(x), dtype=x.dtype)


def blur_pool2d(
    x,
    filter_size: int = 3,
    strides=2,
    padding: str = "valid",
    boundary: str = "normalize",
    data_format: str | None = None,
):
    """Anti-aliased downsampling (BlurPool): a depthwise binomial blur, then
    subsampling by `strides`.

    The filter is the outer product of row `filter_size - 1` of Pascal's
    triangle with itself, normalized to sum 1 (`filter_size=3`: `[1, 2, 1] / 4`
    in each direction), applied to every channel.  Output sizes follow Keras
    pooling arithmetic (`ceil(n / strides)` for "same",
    `floor((n - filter_size) / strides) + 1` for "valid").  With
    `padding="same"`, `boundary` decides what lies outside the image:
    `"normalize"` divides by the filter mass inside it (as
    `AveragePooling2D`: a constant image stays constant), `"reflect"`
    reflect-pads `[(f - 1) // 2, f // 2]` (antialiased-cnns) and `"zero"`
    zero-pads.  The computation of `kcl.Blur2D`.

    Args:
        x: 4-D float tensor, `(batch, height, width, channels)` or
            channels_first, with a known channel count.
        filter_size: int >= 1. Default 3.
        strides: int or tuple of 2 ints. Default 2.
        padding: `"valid"` (default) or `"same"`.
        boundary: `"normalize"` (default), `"reflect"` or `"zero"`.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Returns:
        The blurred, subsampled tensor (same channels and dtype).

    Raises:
        ValueError: for a non-4-D input, an unknown channel count, a "valid"
            window larger than the input, or a reflect padding as large as it.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.zeros((1, 5, 5, 1), "float32")
    >>> x[0, 2, 2, 0] = 16.0
    >>> y = kcl.ops.blur_pool2d(x, 3, strides=1, padding="same", data_format="channels_last")
    >>> np.asarray(y)[0, 1:4, 1:4, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]

    Reference: Zhang, "Making Convolutional Networks Shift-Invariant Again"
    (2019), arXiv:1904.11486.
    """
    return run(BlurPool2D(filter_size, strides, padding, boundary, data_format), x)
