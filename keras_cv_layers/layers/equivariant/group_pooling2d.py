"""Pooling over the group axis of a group feature map (5-D -> 4-D)."""

from __future__ import annotations

import functools

import keras
from keras import ops

from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

_MODES = ("max", "mean")


@register
class GroupPooling2D(keras.layers.Layer):
    """Reduces the group axis of a group feature map: `max` or `mean` over G.

    Ends an equivariant stack of `GroupConv2D` layers: the result is a plain
    4-D feature map that is *invariant* in the sense
    `pool(y(t(x))) == t(pool(y(x)))` for every group element `t` (the group
    axis is only permuted by `t`, and max / mean do not see the order).

    Reference: Cohen & Welling, "Group Equivariant Convolutional Networks",
    ICML 2016 (arXiv:1602.07576), section 6.

    Args:
        mode: `"max"` or `"mean"`. Default `"max"`.
        data_format: `"channels_last"` (input `(batch, H, W, G, C)`),
            `"channels_first"` (input `(batch, G, C, H, W)`) or None
            (`keras.config.image_data_format()`).

    Call arguments:
        inputs: a 5-D group feature map, e.g. the output of `GroupConv2D`.

    Returns:
        `(batch, H, W, C)` (channels_first `(batch, C, H, W)`) in the compute
        dtype (`"mean"` is accumulated in float32).

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> pool = kcl.GroupPooling2D("max", data_format="channels_last")
    >>> tuple(pool(np.ones((2, 5, 5, 4, 3), "float32")).shape)
    (2, 5, 5, 3)
    """

    def __init__(self, mode: str = "max", data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        if not isinstance(mode, str) or mode.lower() not in _MODES:
            raise ValueError(f"{cls}: invalid `mode`={mode!r}; expected one of {_MODES}.")
        self.mode = mode.lower()
        self.data_format = av.normalize_data_format(data_format, cls)
        self._group_axis = 3 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        if self.data_format == "channels_last":
            description = "(batch, height, width, group, channels)"
        else:
            description = "(batch, group, channels, height, width)"
        av.check_input_rank(self, input_shape, 5, description)
        self.input_spec = keras.layers.InputSpec(ndim=5)
        self.built = True

    def call(self, inputs):
        if self.mode == "max":
            # A chain of maximums over the (small, static) group axis: TF
            # rejects an eager `ops.max` over an empty batch.
            slices = ops.unstack(inputs, axis=self._group_axis)
            return functools.reduce(ops.maximum, slices)
        mean = ops.mean(ops.cast(inputs, "float32"), axis=self._group_axis)
        return ops.cast(mean, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        return input_shape[: self._group_axis] + input_shape[self._group_axis + 1 :]

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "data_format": self.data_format})
        return config
