"""Split: serializable split of a tensor along one axis."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.utils.serialization import register


@register
class Split(keras.layers.Layer):
    """Splits a tensor into several along `axis` (a serializable replacement
    for a `Lambda` around `tf.split`).

    Args:
        num_or_size_splits: int (number of equal parts) or list of part sizes
            that add up to the axis length.
        axis: int, the axis to split (not the batch axis). Default -1.

    Call arguments:
        inputs: a tensor whose `axis` length is known.

    Returns:
        A list of tensors.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> a, b = kcl.Split([1, 2])(np.zeros((2, 3), "float32"))
    >>> tuple(a.shape), tuple(b.shape)
    ((2, 1), (2, 2))
    """

    def __init__(self, num_or_size_splits, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_or_size_splits, int) and not isinstance(num_or_size_splits, bool):
            if num_or_size_splits <= 0:
                raise ValueError(
                    "Split: `num_or_size_splits` must be a positive int or a list "
                    f"of positive ints; received {num_or_size_splits!r}."
                )
        else:
            try:
                sizes = [int(s) for s in num_or_size_splits]
            except (TypeError, ValueError):
                sizes = []
            if not sizes or any(s <= 0 for s in sizes):
                raise ValueError(
                    "Split: `num_or_size_splits` must be a positive int or a list "
                    f"of positive ints; received {num_or_size_splits!r}."
                )
            num_or_size_splits = sizes
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Split: `axis` must be an int; received {axis!r}.")
        self.num_or_size_splits = num_or_size_splits
        self.axis = axis

    def _sizes(self, input_shape):
        ndim = len(input_shape)
        axis = self.axis % ndim if -ndim <= self.axis < ndim else None
        if axis is None or axis == 0:
            raise ValueError(
                f"Layer Split ('{self.name}'): `axis`={self.axis} is not a "
                f"non-batch axis of an input of shape {tuple(input_shape)}."
            )
        length = input_shape[axis]
        if length is None:
            raise ValueError(
                f"Layer Split ('{self.name}') needs a known length on axis "
                f"{self.axis}; received shape {tuple(input_shape)}."
            )
        if isinstance(self.num_or_size_splits, int):
            if length % self.num_or_size_splits:
                raise ValueError(
                    f"Layer Split ('{self.name}'): axis {self.axis} of length "
                    f"{length} cannot be split into {self.num_or_size_splits} "
                    "equal parts."
                )
            sizes = [length // self.num_or_size_splits] * self.num_or_size_splits
        else:
            sizes = list(self.num_or_size_splits)
            if sum(sizes) != length:
                raise ValueError(
                    f"Layer Split ('{self.name}'): sizes {sizes} add up to "
                    f"{sum(sizes)}, not to the axis length {length} of input "
                    f"shape {tuple(input_shape)}."
                )
        return axis, sizes

    def build(self, input_shape):
        self._sizes(input_shape)

    def call(self, inputs):
        axis, sizes = self._sizes(inputs.shape)
        if len(sizes) == 1:
            # ops.split rejects an empty index list on TF and torch.
            return [inputs]
        indices = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]
        return ops.split(inputs, indices, axis=axis)

    def compute_output_shape(self, input_shape):
        axis, sizes = self._sizes(input_shape)
        shapes = []
        for size in sizes:
            shape = list(input_shape)
            shape[axis] = size
            shapes.append(tuple(shape))
        return shapes

    def get_config(self):
        config = super().get_config()
        config.update({"num_or_size_splits": self.num_or_size_splits, "axis": self.axis})
        return config
