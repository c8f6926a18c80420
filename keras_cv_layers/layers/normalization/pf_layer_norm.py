"""PFLayerNorm: parameter-free normalization over all non-batch axes."""

from keras_cv_layers.layers.normalization.base_normalization import BaseNormalization
from keras_cv_layers.utils.serialization import register


@register
class PFLayerNorm(BaseNormalization):
    """Parameter-free layer normalization over all non-batch axes (Ba et al.,
    2016, arXiv:1607.06450, without the affine part).

    `y = (x - mean) / (std + eps)`, biased std over every axis but the batch
    axis, computed in float32. No weights.

    Args:
        eps: float added to the std. Default 1e-6.
        data_format: accepted for uniformity (the statistics do not depend on
            it).

    Call arguments:
        inputs: tensor of rank >= 2.

    Returns:
        Tensor of the same shape, in the compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> y = kcl.PFLayerNorm()(np.array([[1.0, 3.0]], "float32"))
    >>> np.round(np.asarray(y), 4).tolist()
    [[-1.0, 1.0]]
    """

    affine = False

    def __init__(self, eps: float = 1e-6, data_format=None, **kwargs):
        super().__init__(eps=eps, data_format=data_format, **kwargs)

    def reduction_axes(self, ndim):
        return tuple(range(1, ndim))
