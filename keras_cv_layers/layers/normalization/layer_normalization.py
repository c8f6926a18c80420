"""Per-position layer normalization over the channel axis."""

from keras_cv_layers.layers.normalization.base_normalization import BaseNormalization
from keras_cv_layers.utils.serialization import register


@register
class LayerNormalization(BaseNormalization):
    """Layer normalization over the channel axis at every position (Ba et
    al., 2016, "Layer Normalization", arXiv:1607.06450).

    `y = gamma * (x - mean) / (std + eps) + beta` with mean and biased std
    over the channels, computed in float32; gradients flow through both.

    Args:
        eps: float added to the std. Default 1e-6.
        data_format: `"channels_last"`, `"channels_first"` or None; picks the
            channel axis (last or 1).
        gamma_initializer, beta_initializer, gamma_regularizer,
        beta_regularizer, gamma_constraint, beta_constraint: for the
            weights `gamma`, `beta` of shape (C,).

    Call arguments:
        inputs: tensor of rank >= 2.

    Returns:
        Tensor of the same shape, in the compute dtype.

    Example:

    >>> import keras, numpy as np, keras_cv_layers as kcl
    >>> y = kcl.LayerNormalization(data_format="channels_last")(
    ...     np.array([[[1.0, 3.0]]], "float32"))
    >>> np.round(keras.ops.convert_to_numpy(y), 4).tolist()
    [[[-1.0, 1.0]]]
    """
