"""Sparsity-invariant convolutions (SparseConv1D/2D/3D)."""

from __future__ import annotations

from keras_cv_layers.layers.masked.base_masked_conv import BaseMaskedConv
from keras_cv_layers.layers.masked.masked_docs import MASK_SHAPES, MASKED_ARGS, SHAPES
from keras_cv_layers.ops import masked as masked_ops
from keras_cv_layers.utils.serialization import register

_DOC = """Sparsity-invariant {n}D convolution with mask propagation.

    Uhrig et al., 2017, "Sparsity Invariant CNNs" (arXiv:1708.06500).  The
    mask has one channel (a pixel is valid or not, for all its channels):

        norm = conv(mask, ones / window_size)   # valid fraction of the window
        y = activation(conv(x * mask, kernel) / norm + bias)  where norm > eps
        y = 0                                                 where norm <= eps
        mask_out = float(norm > eps) if binary else norm

    Zero padding counts as invalid.  Values of `x` where the mask is 0 never
    change `y`.  Padding arithmetic and output shapes are those of
    `keras.layers.Conv{n}D`.
    The functional form (without activation and kernel transforms) is
    `kcl.ops.sparse_conv`.

    Args:{args}
    Call arguments:
        inputs: `x`, or `[x, mask]`. `x`: a rank-{r} tensor
            `(batch, *spatial, channels)` (channels_last) or
            `(batch, channels, *spatial)`; `mask`: same batch and spatial
            shape, 1 channel, values in [0, 1]. Without a mask, a position is
            valid where any channel of `x` is non-zero.

    Returns:
        `[y, mask_out]`: `y` with `filters` channels and `mask_out` with 1
        channel, both in the compute dtype, so that layers chain:
        `y, m = layer2(layer1([x, m]))`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.SparseConv{n}D(4, 3, padding="same", data_format="channels_last")
    >>> y, m = layer([np.ones({shape}, "float32"), np.ones({mask_shape}, "float32")])
    >>> tuple(y.shape)[-1], tuple(m.shape)[-1]
    (4, 1)
    """


def _doc(n: int) -> str:
    return _DOC.format(n=n, r=n + 2, args=MASKED_ARGS, shape=SHAPES[n], mask_shape=MASK_SHAPES[n])


class BaseSparseConv(BaseMaskedConv):
    """Masked convolution with a one-channel mask (see `SparseConv2D`);
    the math of `kcl.ops.sparse_conv`."""

    per_channel_mask = False

    def normalizer(self, mask):
        return masked_ops.sparse_normalizer(mask, self.kernel_size, self.convolve)

    def default_mask(self, x):
        """Valid where any channel of `x` is non-zero, float32."""
        return masked_ops.any_nonzero_mask(x, self._channel_axis)

    def mask_output_channels(self, output_channels):
        return 1


@register
class SparseConv1D(BaseSparseConv):
    __doc__ = _doc(1)

    def __init__(self, filters, kernel_size, *args, binary=True, **kwargs):
        super().__init__(1, filters, kernel_size, *args, binary=binary, **kwargs)


@register
class SparseConv2D(BaseSparseConv):
    __doc__ = _doc(2)

    def __init__(self, filters, kernel_size, *args, binary=True, **kwargs):
        super().__init__(2, filters, kernel_size, *args, binary=binary, **kwargs)


@register
class SparseConv3D(BaseSparseConv):
    __doc__ = _doc(3)

    def __init__(self, filters, kernel_size, *args, binary=True, **kwargs):
        super().__init__(3, filters, kernel_size, *args, binary=binary, **kwargs)
