"""All public layers, grouped by family."""

from keras_cv_layers.layers import (
    blocks,
    deformable,
    equivariant,
    masked,
    pooling,
    regularization,
    wrappers,
)
from keras_cv_layers.layers.activations import *  # noqa: F403
from keras_cv_layers.layers.blocks import *  # noqa: F403
from keras_cv_layers.layers.convolutional import *  # noqa: F403
from keras_cv_layers.layers.core import *  # noqa: F403
from keras_cv_layers.layers.deformable import *  # noqa: F403
from keras_cv_layers.layers.equivariant import *  # noqa: F403
from keras_cv_layers.layers.masked import *  # noqa: F403
from keras_cv_layers.layers.normalization import *  # noqa: F403
from keras_cv_layers.layers.pooling import *  # noqa: F403
from keras_cv_layers.layers.regularization import *  # noqa: F403
from keras_cv_layers.layers.wrappers import *  # noqa: F403

#: Public names of the families whose `__init__` lists them in `__all__`.
FAMILY_EXPORTS: list[str] = [
    *blocks.__all__,
    *deformable.__all__,
    *equivariant.__all__,
    *masked.__all__,
    *pooling.__all__,
    *regularization.__all__,
    *wrappers.__all__,
]
