"""Pooling, unpooling and anti-aliasing layers."""

from keras_cv_layers.layers.pooling.blur2d import Blur2D
from keras_cv_layers.layers.pooling.max_pooling_with_argmax1d import MaxPoolingWithArgmax1D
from keras_cv_layers.layers.pooling.max_pooling_with_argmax2d import MaxPoolingWithArgmax2D
from keras_cv_layers.layers.pooling.max_pooling_with_argmax3d import MaxPoolingWithArgmax3D
from keras_cv_layers.layers.pooling.max_pooling_with_relative_position2d import (
    MaxPoolingWithRelativePosition2D,
)
from keras_cv_layers.layers.pooling.max_unpooling1d import MaxUnpooling1D
from keras_cv_layers.layers.pooling.max_unpooling2d import MaxUnpooling2D
from keras_cv_layers.layers.pooling.max_unpooling3d import MaxUnpooling3D

__all__: list[str] = [
    "Blur2D",
    "MaxPoolingWithArgmax1D",
    "MaxPoolingWithArgmax2D",
    "MaxPoolingWithArgmax3D",
    "MaxPoolingWithRelativePosition2D",
    "MaxUnpooling1D",
    "MaxUnpooling2D",
    "MaxUnpooling3D",
]
