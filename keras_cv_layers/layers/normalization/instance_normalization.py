"""Instance normalization: statistics over the spatial axes."""

from keras_cv_layers.layers.normalization.base_normalization import BaseNormalization
from keras_cv_layers.utils.serialization import register


@register
class InstanceNormalization(BaseNormalization):
    """Instance normalization (Ulyanov et al., 2016, "Instance
    Normalization: The Missing Ingredient for Fast Stylization",
    arXiv:1607.08022).

    `y = gamma * (x - mean) / (std + eps) + beta`, mean and biased std over
    the spatial axes per example and channel, computed in float32.

    Args:
        eps: float added to the std. Default 1e-6.
        data_format: `"channels_last"`, `"channels_first"` or None.
        gamma_initializer, beta_initializer, gamma_regularizer,
        beta_regularizer, gamma_constraint, beta_constraint: for `gamma`,
            `beta` (C,).

    Call arguments:
        inputs: `(batch, *spatial, channels)` (or channels_first), rank >= 3.

    Returns:
        Tensor of the same shape, in the compute dtype.

    Example:

    >>> import keras, numpy as np, keras_cv_layers as kcl
    >>> y = kcl.InstanceNormalization(data_format="channels_last")(
    ...     np.array([[[1.0], [3.0]]], "float32"))
    >>> np.round(keras.ops.convert_to_numpy(y), 4)[0, :, 0].tolist()
    [-1.0, 1.0]
    """

    min_rank = 3
    shape_description = "(batch, *spatial, channels) or (batch, channels, *spatial)"

    def reduction_axes(self, ndim):
        channel = self._channel_axis(ndim)
        return tuple(a for a in range(1, ndim) if a != channel)
