"""Functional forms of the package's operations (`kcl.ops.*`).

Every op is a Keras operation, as `keras.ops.*` are: it works on symbolic
`keras.Input` tensors (returning a `KerasTensor`, so it can be used in a
functional model, saved and reloaded), eagerly and under `jit_compile=True`.
Its numbers are defined by its `keras.ops` math; where a backend has a
faster native route the op takes it (`keras_cv_layers.backend_kernels`).
"""

from keras_cv_layers.ops import attention, conv, coords, deformable, equivariant, masked, pooling
from keras_cv_layers.ops.attention import *  # noqa: F403
from keras_cv_layers.ops.conv import *  # noqa: F403
from keras_cv_layers.ops.coords import *  # noqa: F403
from keras_cv_layers.ops.deformable import *  # noqa: F403
from keras_cv_layers.ops.equivariant import *  # noqa: F403
from keras_cv_layers.ops.masked import *  # noqa: F403
from keras_cv_layers.ops.pooling import *  # noqa: F403

__all__ = [
    *attention.__all__,
    *conv.__all__,
    *coords.__all__,
    *deformable.__all__,
    *equivariant.__all__,
    *masked.__all__,
    *pooling.__all__,
]
