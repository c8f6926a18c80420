"""Functional forms of the package's operations (`kcl.ops.*`).

Each op is written against `keras.ops` and runs on every backend; where a
backend has a faster native route, the op dispatches to it through
`keras_cv_layers.backend_kernels`.
"""

from keras_cv_layers.ops import deformable, pooling
from keras_cv_layers.ops.deformable import *  # noqa: F403
from keras_cv_layers.ops.pooling import *  # noqa: F403

__all__ = [*deformable.__all__, *pooling.__all__]
