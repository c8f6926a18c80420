"""Pooling, unpooling and anti-aliasing layers."""

from keras_cv_layers.layers.pooling.blur2d import Blur2D
from keras_cv_layers.layers.pooling.max_pooling_with_argmax2d import MaxPoolingWithArgmax2D
from keras_cv_layers.layers.pooling.max_pooling_with_relative_position2d import (
    MaxPoolingWithRelativePosition2D,
)
from keras_cv_layers.layers.pooling.max_unpooling2d import MaxUnpooling2D

__all__: list[str] = [
    "Blur2D",
    "MaxPoolingWithArgmax2D",
    "MaxPoolingWithRelativePosition2D",
    "MaxUnpooling2D",
]
