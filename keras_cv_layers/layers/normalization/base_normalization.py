"""Shared machinery of the package's normalization layers."""

from __future__ import annotations

import keras
from keras import constraints, initializers, ops, regularizers

from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils import numerics


class BaseNormalization(keras.layers.Layer):
    """`gamma * (x - mean) / (std + eps) + beta` with biased std in float32.

    Subclasses choose the reduction axes (`reduction_axes`), the minimum
    input rank and whether the per-channel affine weights exist.
    """

    affine = True
    min_rank = 2
    shape_description = "(batch, ..., channels)"

    def __init__(
        self,
        eps: float = 1e-6,
        data_format: str | None = None,
        gamma_initializer="ones",
        beta_initializer="zeros",
        gamma_regularizer=None,
        beta_regularizer=None,
        gamma_constraint=None,
        beta_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        self.eps = av.check_float(eps, "eps", cls)
        self.data_format = av.normalize_data_format(data_format, cls)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.beta_constraint = constraints.get(beta_constraint)
        self.supports_masking = True

    def _channel_axis(self, ndim: int) -> int:
        return ndim - 1 if self.data_format == "channels_last" else 1

    def reduction_axes(self, ndim: int) -> tuple:
        """Axes of the statistics; the default is the channel axis."""
        return (self._channel_axis(ndim),)

    def build(self, input_shape):
        ndim = len(input_shape)
        if ndim < self.min_rank:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') expects input "
                f"of rank >= {self.min_rank}, i.e. shape "
                f"{self.shape_description}; received {tuple(input_shape)}."
            )
        self._ndim = ndim
        self.input_spec = keras.layers.InputSpec(min_ndim=self.min_rank)
        if not self.affine:
            return
        channels = input_shape[self._channel_axis(ndim)]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known "
                f"channel dimension; received input of shape {tuple(input_shape)}."
            )
        self.gamma = self.add_weight(
            name="gamma",
            shape=(channels,),
            initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer,
            constraint=self.gamma_constraint,
            autocast=False,
        )
        self.beta = self.add_weight(
            name="beta",
            shape=(channels,),
            initializer=self.beta_initializer,
            regularizer=self.beta_regularizer,
            constraint=self.beta_constraint,
            autocast=False,
        )
        axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = keras.layers.InputSpec(min_ndim=self.min_rank, axes={axis: int(channels)})

    def call(self, inputs):
        ndim = len(inputs.shape)
        outputs = numerics.standardize(inputs, self.reduction_axes(ndim), self.eps)
        if self.affine:
            shape = [1] * ndim
            shape[self._channel_axis(ndim)] = -1
            gamma = ops.reshape(ops.cast(self.gamma, "float32"), shape)
            beta = ops.reshape(ops.cast(self.beta, "float32"), shape)
            outputs = outputs * gamma + beta
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"eps": self.eps, "data_format": self.data_format})
        if self.affine:
            config.update(
                {
                    "gamma_initializer": initializers.serialize(self.gamma_initializer),
                    "beta_initializer": initializers.serialize(self.beta_initializer),
                    "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                    "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                    "gamma_constraint": constraints.serialize(self.gamma_constraint),
                    "beta_constraint": constraints.serialize(self.beta_constraint),
                }
            )
        return config
