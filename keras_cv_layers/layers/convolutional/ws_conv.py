"""Weight-standardized convolutions (WSConv1D/2D/3D)."""

from __future__ import annotations

from keras_cv_layers.layers.convolutional.base_conv import BaseGroupedConv
from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.utils.serialization import register


class BaseWSConv(BaseGroupedConv):
    """Convolution whose kernel is standardized per output filter.

    `k_eff = (kernel - mean) / sqrt(var + eps)`, mean and biased variance over
    all kernel axes but the last, as timm's `StdConv2d` (Qiao et al., 2019,
    "Micro-Batch Training with Batch-Channel Normalization and Weight
    Standardization", arXiv:1903.10520).  It takes neither `weightnorm` nor
    `equalize` (passing them is a TypeError).
    """

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        **kwargs,
    ):
        for name in ("weightnorm", "equalize"):
            if name in kwargs:
                # The kernel transform is the standardization: these are not
                # arguments (a TypeError, as for any unexpected keyword).
                raise TypeError(
                    f"{self.__class__.__name__}.__init__() got an unexpected keyword "
                    f"argument {name!r}"
                )
        super().__init__(
            rank,
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            **kwargs,
        )

    def standardized(self, kernel):
        return conv_ops.standardize_kernel(kernel, self.eps)

    def transform_kernel(self, kernel):
        return self.standardized(kernel)


_WS_DOC = """Weight-standardized {n}D convolution (timm `StdConv2d` semantics).

    `k_eff = (kernel - mean) / sqrt(var + eps)` per output filter (mean and
    biased variance over all axes but the last). Reference: Qiao et al., 2019,
    arXiv:1903.10520.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate,
        groups, activation, use_bias (default True), initializers,
        regularizers, constraints: as `keras_cv_layers.Conv{n}D`.
        eps: float added to the variance. Default 1e-6.

    Call arguments:
        inputs: a rank-{r} tensor (batch, *spatial, channels) or channels_first.

    Returns:
        The convolved tensor with `filters` channels.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.WSConv{n}D(4, 3, data_format="channels_last")
    >>> tuple(layer(np.ones({shape}, "float32")).shape)[-1]
    4
    """

_SHAPES = {1: "(1, 8, 2)", 2: "(1, 8, 8, 2)", 3: "(1, 5, 5, 5, 2)"}


@register
class WSConv1D(BaseWSConv):
    __doc__ = _WS_DOC.format(n=1, r=3, shape=_SHAPES[1])

    def __init__(self, filters, kernel_size, *args, **kwargs):
        super().__init__(1, filters, kernel_size, *args, **kwargs)


@register
class WSConv2D(BaseWSConv):
    __doc__ = _WS_DOC.format(n=2, r=4, shape=_SHAPES[2])

    def __init__(self, filters, kernel_size, *args, **kwargs):
        super().__init__(2, filters, kernel_size, *args, **kwargs)


@register
class WSConv3D(BaseWSConv):
    __doc__ = _WS_DOC.format(n=3, r=5, shape=_SHAPES[3])

    def __init__(self, filters, kernel_size, *args, **kwargs):
        super().__init__(3, filters, kernel_size, *args, **kwargs)
