"""Max pooling with argmax and max unpooling as functions.

`max_pool_with_argmax2d` returns the pooled values and, for each, the
position of the maximum in its own example flattened in its own data format
(the convention of `tf.nn.max_pool_with_argmax(include_batch_in_index=False)`
for channels_last).  `max_unpool2d` puts values back at such positions.
Both dispatch to the backend fast paths of `keras_cv_layers.backend_kernels`.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_cv_layers import backend_kernels
from keras_cv_layers.utils import argument_validation as av

__all__ = ["max_pool_with_argmax2d", "max_unpool2d"]


def _is_integer_dtype(dtype) -> bool:
    name = keras.backend.standardize_dtype(dtype)
    return name.startswith("int") or name.startswith("uint")


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

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, data_format="channels_last")
    >>> np.asarray(idx).reshape(-1).tolist()
    [5, 7, 13, 15]
    """
    name = "max_pool_with_argmax2d"
    pool_size = av.normalize_tuple(pool_size, 2, "pool_size", layer_name=name)
    strides = (
        pool_size if strides is None else av.normalize_tuple(strides, 2, "strides", layer_name=name)
    )
    padding = av.normalize_padding(padding, layer_name=name)
    data_format = av.normalize_data_format(data_format, name)
    x = ops.convert_to_tensor(x)
    if len(x.shape) != 4:
        raise ValueError(
            f"{name}: expected a 4-D input {av.spatial_description(2, data_format)}; "
            f"received shape {tuple(x.shape)}."
        )
    return backend_kernels.dispatch(
        "max_pool_with_argmax2d", x, pool_size, strides, padding, data_format
    )


def check_unpool_inputs(x_shape, indices_shape, indices_dtype, where: str) -> None:
    """ValueError unless `indices` is an integer tensor shaped like `x`."""
    if len(x_shape) != 4:
        raise ValueError(
            f"{where}: `x` must be 4-D (batch, height, width, channels) or "
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
            f"max_pool_with_argmax2d); received dtype {keras.backend.standardize_dtype(indices_dtype)}."
        )


def _block_size(pooled_hw, output_hw):
    """Block size of the dense unpooling path, when the sizes are static."""
    if not all(isinstance(v, int) and v > 0 for v in (*pooled_hw, *output_hw)):
        return None
    return tuple(max(1, math.ceil(o / p)) for p, o in zip(pooled_hw, output_hw))


def max_unpool2d(x, indices, output_shape, data_format: str | None = None):
    """Max unpooling: the inverse placement of `max_pool_with_argmax2d`.

    Args:
        x: 4-D float tensor of pooled values.
        indices: integer tensor shaped like `x`: per-example flat positions in
            the output (as returned by `max_pool_with_argmax2d` on an input
            of spatial size `output_shape`).
        output_shape: `(height, width)` of the result (ints, or scalar
            tensors when the size is only known at run time).
        data_format: `"channels_last"`, `"channels_first"` or None.

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
    name = "max_unpool2d"
    data_format = av.normalize_data_format(data_format, name)
    x = ops.convert_to_tensor(x)
    indices = ops.convert_to_tensor(indices)
    check_unpool_inputs(x.shape, indices.shape, indices.dtype, name)
    try:
        out_h, out_w = output_shape
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: `output_shape` must be the spatial (height, width) of the "
            f"result; received {output_shape!r}."
        ) from None
    hw = x.shape[1:3] if data_format == "channels_last" else x.shape[2:4]
    block = _block_size(tuple(hw), (out_h, out_w))
    return backend_kernels.dispatch(
        "max_unpool2d", x, ops.cast(indices, "int32"), (out_h, out_w), block, data_format
    )
