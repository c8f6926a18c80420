"""keras_cv_layers: computer-vision layers for Keras 3 on JAX, TensorFlow and PyTorch.

import keras_cv_layers as kcl
layer = kcl.WSConv2D(32, 3, padding="same")
"""

import keras as _keras

from keras_cv_layers import backend_kernels, initializers, ops
from keras_cv_layers.layers import FAMILY_EXPORTS as _FAMILY_EXPORTS
from keras_cv_layers.layers.activations import Mish, Swish
from keras_cv_layers.layers.blocks import *  # noqa: F403
from keras_cv_layers.layers.convolutional import (
    AddCoords2D,
    Conv1D,
    Conv2D,
    Conv3D,
    CoordConv2D,
    DepthwiseConv2D,
    SWSConv1D,
    SWSConv2D,
    SWSConv3D,
    WSConv1D,
    WSConv2D,
    WSConv3D,
)
from keras_cv_layers.layers.core import Resize2D, Scale, Split
from keras_cv_layers.layers.deformable import *  # noqa: F403
from keras_cv_layers.layers.equivariant import *  # noqa: F403
from keras_cv_layers.layers.masked import *  # noqa: F403
from keras_cv_layers.layers.normalization import (
    CLayerNorm,
    InstanceNormalization,
    LayerNormalization,
    PFLayerNorm,
)
from keras_cv_layers.layers.pooling import *  # noqa: F403
from keras_cv_layers.layers.regularization import *  # noqa: F403
from keras_cv_layers.layers.wrappers import *  # noqa: F403
from keras_cv_layers.version import __version__

#: `keras.layers.Flatten` itself (the same class), re-exported for users of
#: the PyTorch seed, which had its own `Flatten`.
Flatten = _keras.layers.Flatten

__all__ = [
    "AddCoords2D",
    "CLayerNorm",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "CoordConv2D",
    "DepthwiseConv2D",
    "Flatten",
    "InstanceNormalization",
    "LayerNormalization",
    "Mish",
    "PFLayerNorm",
    "Resize2D",
    "SWSConv1D",
    "SWSConv2D",
    "SWSConv3D",
    "Scale",
    "Split",
    "Swish",
    "WSConv1D",
    "WSConv2D",
    "WSConv3D",
    "__version__",
    "backend_kernels",
    "initializers",
    "ops",
    *_FAMILY_EXPORTS,
]
