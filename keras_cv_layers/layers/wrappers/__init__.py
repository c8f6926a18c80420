"""Layer wrappers (weight normalization of any Keras layer with a kernel)."""

from keras_cv_layers.layers.wrappers.weight_normalization import WeightNormalization

__all__: list[str] = [
    "WeightNormalization",
]
