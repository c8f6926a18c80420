"""MaxPoolingWithRelativePosition2D: max pooling plus where the max was."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops import pooling as pooling_ops
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class MaxPoolingWithRelativePosition2D(keras.layers.Layer):
    """Stride-1 "same" max pooling that also returns the position of each
    maximum relative to the window centre, so that later layers know where
    in the neighbourhood the strongest response was (the position-aware
    pooling of "CoordConv"-style and keypoint networks; Liu et al., 2018,
    arXiv:1807.03247 motivates giving convolutions coordinates).

    For every output position and channel, `(dy, dx)` is the offset of the
    window's argmax (ties: the first in row-major order) from the window
    centre, each multiplied by `2 / pool_size`; with an odd pool size the
    centre is the output position itself and the values lie in
    `[-(k - 1) / k, (k - 1) / k]`.  The padding is -inf (never selected).

    Args:
        pool_size: int or tuple of 2 ints. Default 5.
        data_format: `"channels_last"`, `"channels_first"` or None.

    Call arguments:
        inputs: `(batch, height, width, channels)` (or channels_first).

    Returns:
        `[pooled, positions]`: `pooled` shaped like the input; `positions`
        with `2 * channels` channels: the `dy` of every channel, then the
        `dx` of every channel (`positions[..., :C]` rows, `positions[..., C:]`
        columns for channels_last), in the layer's compute dtype.  No
        gradient flows through `positions` (they are integer offsets).

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.zeros((1, 3, 3, 1), "float32"); x[0, 0, 2, 0] = 1.0
    >>> pooled, pos = kcl.MaxPoolingWithRelativePosition2D(3, data_format="channels_last")(x)
    >>> [round(float(v), 4) for v in np.asarray(pos)[0, 1, 1]]
    [-0.6667, 0.6667]
    """

    def __init__(self, pool_size=5, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        name = self.__class__.__name__
        self.pool_size = av.normalize_tuple(pool_size, 2, "pool_size", layer_name=name)
        self.data_format = av.normalize_data_format(data_format, name)

    def _check_input(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        pooling_ops.pooled_shape(
            input_shape, self.pool_size, (1, 1), "same", self.data_format, av.layer_owner(self)
        )

    def build(self, input_shape):
        self._check_input(input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        self._check_input(inputs.shape)
        x = ops.cast(inputs, self.compute_dtype)
        pooled, indices = pooling_ops.pool_with_argmax(
            x, self.pool_size, (1, 1), "same", self.data_format
        )
        shape = ops.shape(x)
        if self.data_format == "channels_last":
            height, width, channels = shape[1], shape[2], shape[3]
        else:
            channels, height, width = shape[1], shape[2], shape[3]
        indices = ops.cast(indices, "int32")
        width = ops.cast(width, "int32")
        if self.data_format == "channels_last":
            position = indices // ops.cast(channels, "int32")
        else:
            position = indices % (ops.cast(height, "int32") * width)
        rows = position // width
        cols = position - rows * width
        h_axis, w_axis = (1, 2) if self.data_format == "channels_last" else (2, 3)
        out_rows = ops.arange(0, ops.shape(indices)[h_axis], dtype="int32")
        out_cols = ops.arange(0, ops.shape(indices)[w_axis], dtype="int32")
        if self.data_format == "channels_last":
            out_rows = out_rows[None, :, None, None]
            out_cols = out_cols[None, None, :, None]
        else:
            out_rows = out_rows[None, None, :, None]
            out_cols = out_cols[None, None, None, :]
        kh, kw = self.pool_size
        # Window centre: output position - pad_before + (k - 1) / 2.
        centre_h = ((kh - 1) // 2) - (kh - 1) / 2.0
        centre_w = ((kw - 1) // 2) - (kw - 1) / 2.0
        dy = (ops.cast(rows - out_rows, "float32") + centre_h) * (2.0 / kh)
        dx = (ops.cast(cols - out_cols, "float32") + centre_w) * (2.0 / kw)
        positions = ops.concatenate([dy, dx], axis=av.channel_axis(self.data_format))
        return [pooled, ops.cast(positions, self.compute_dtype)]

    def compute_output_shape(self, input_shape):
        self._check_input(input_shape)
        shape = list(input_shape)
        axis = av.channel_axis(self.data_format)
        positions = list(shape)
        positions[axis] = None if shape[axis] is None else 2 * shape[axis]
        return [tuple(shape), tuple(positions)]

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "data_format": self.data_format})
        return config
