"""Mish activation layer."""

import keras
from keras import ops

from keras_cv_layers.utils.serialization import register


@register
class Mish(keras.layers.Layer):
    """Mish activation `x * tanh(softplus(x))` (Misra, 2019, "Mish: A Self
    Regularized Non-Monotonic Activation Function", arXiv:1908.08681).

    Call arguments:
        inputs: any tensor.

    Returns:
        Tensor of the same shape.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> round(float(np.asarray(kcl.Mish()(np.array([1.0], "float32")))[0]), 4)
    0.8651
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs * ops.tanh(ops.softplus(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
