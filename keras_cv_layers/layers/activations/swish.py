"""Swish activation layer with optional trainable beta."""

import math

import keras
from keras import ops

from keras_cv_layers.utils.serialization import register


@register
class Swish(keras.layers.Layer):
    """Swish activation `x * sigmoid(beta * x)` (Ramachandran et al., 2017,
    "Searching for Activation Functions", arXiv:1710.05941).

    Args:
        beta: float, initial value of beta. Default 1.0 (SiLU).
        trainable: bool, whether the weight `beta` (a scalar) is learned.
            Default False.

    Call arguments:
        inputs: any tensor.

    Returns:
        Tensor of the same shape.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> round(float(np.asarray(kcl.Swish()(np.array([1.0], "float32")))[0]), 4)
    0.7311
    """

    def __init__(self, beta: float = 1.0, trainable: bool = False, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
            raise ValueError(f"Swish: `beta` must be a finite float; received {beta!r}.")
        self.beta_value = float(beta)
        self.supports_masking = True

    def build(self, input_shape):
        self.beta = self.add_weight(
            name="beta",
            shape=(),
            initializer=keras.initializers.Constant(self.beta_value),
            trainable=self.trainable,
        )

    def call(self, inputs):
        return inputs * ops.sigmoid(ops.cast(self.beta, inputs.dtype) * inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["beta"] = self.beta_value
        return config
