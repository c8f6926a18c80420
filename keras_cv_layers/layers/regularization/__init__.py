"""Structured dropout: DropBlock and stochastic depth."""

from keras_cv_layers.layers.regularization.drop_block2d import DropBlock2D
from keras_cv_layers.layers.regularization.stochastic_depth import StochasticDepth

__all__: list[str] = [
    "DropBlock2D",
    "StochasticDepth",
]
