"""CLayerNorm: normalization over all non-batch axes, per-channel affine."""

from keras_cv_layers.layers.normalization.base_normalization import BaseNormalization
from keras_cv_layers.utils.serialization import register


@register
class CLayerNorm(BaseNormalization):
    """Layer normalization over all non-batch axes with a per-channel affine
    transform (Ba et al., 2016, arXiv:1607.06450; the form used by
    `GroupNormalization(groups=1)`).

    `y = gamma * (x - mean) / (std + eps) + beta`, biased std over every axis
    but the batch axis, in float32; `gamma`, `beta` have shape (C,).

    Args:
        eps: float added to the std. Default 1e-6.
        data_format: `"channels_last"`, `"channels_first"` or None; picks the
            channel axis of `gamma` and `beta`.
        gamma_initializer, beta_initializer, gamma_regularizer,
        beta_regularizer, gamma_constraint, beta_constraint: as Keras.

    Call arguments:
        inputs: tensor of rank >= 2.

    Returns:
        Tensor of the same shape, in the compute dtype.

    Example:

    >>> import keras, numpy as np, keras_cv_layers as kcl
    >>> y = kcl.CLayerNorm(data_format="channels_last")(
    ...     np.array([[[1.0], [3.0]]], "float32"))
    >>> np.round(keras.ops.convert_to_numpy(y), 4)[0, :, 0].tolist()
    [-1.0, 1.0]
    """

    def reduction_axes(self, ndim):
        return tuple(range(1, ndim))
