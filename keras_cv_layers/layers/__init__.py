"""All public layers, grouped by family."""

from keras_cv_layers.layers.activations import *  # noqa: F403
from keras_cv_layers.layers.convolutional import *  # noqa: F403
from keras_cv_layers.layers.core import *  # noqa: F403
from keras_cv_layers.layers.normalization import *  # noqa: F403
