"""Partial convolutions (PartialConv1D/2D/3D)."""

from __future__ import annotations

from keras_cv_layers.layers.masked.base_masked_conv import BaseMaskedConv
from keras_cv_layers.layers.masked.masked_docs import MASK_SHAPES, MASKED_ARGS, SHAPES
from keras_cv_layers.ops import masked as masked_ops
from keras_cv_layers.utils.serialization import register

_DOC = """Partial {n}D convolution with mask propagation.

    Liu et al., 2018, "Image Inpainting for Irregular Holes Using Partial
    Convolutions" (arXiv:1804.07723).  The mask has one value per input
    channel, or one channel broadcast over all of them:

        norm = conv(mask, ones / (window_size * C_in))  # valid fraction of
                                                       # window x channels
        y = activation(conv(x * mask, kernel) / norm + bias)  where norm > eps
        y = 0                                                 where norm <= eps
        mask_out = float(norm > eps) if binary else norm

    The normaliser is computed as a one-channel convolution of the
    channel-summed mask.  With `groups` > 1 each output filter is normalised
    by the valid fraction of its own group's window x channels.  Zero padding
    counts as invalid.  Values of `x` where the mask is 0 never change `y`.
    Padding arithmetic and output shapes are those of `keras.layers.Conv{n}D`.
    The functional form (without activation and kernel transforms) is
    `kcl.ops.partial_conv`.

    Args:{args}
    Call arguments:
        inputs: `x`, or `[x, mask]`. `x`: a rank-{r} tensor
            `(batch, *spatial, channels)` (channels_last) or
            `(batch, channels, *spatial)`; `mask`: same batch and spatial
            shape, `channels` or 1 channels, values in [0, 1]. Without a
            mask, an input value is valid where it is non-zero.

    Returns:
        `[y, mask_out]`, both with `filters` channels and in the compute
        dtype (`mask_out` is the same for every filter of a group), so that
        layers chain: `y, m = layer2(layer1([x, m]))`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.PartialConv{n}D(4, 3, padding="same", data_format="channels_last")
    >>> y, m = layer([np.ones({shape}, "float32"), np.ones({mask_shape}, "float32")])
    >>> tuple(y.shape) == tuple(m.shape), tuple(y.shape)[-1]
    (True, 4)
    """


def _doc(n: int) -> str:
    return _DOC.format(n=n, r=n + 2, args=MASKED_ARGS, shape=SHAPES[n], mask_shape=MASK_SHAPES[n])


class BasePartialConv(BaseMaskedConv):
    """Masked convolution with a per-channel mask (see `PartialConv2D`);
    the math of `kcl.ops.partial_conv`."""

    def normalizer(self, mask):
        return masked_ops.partial_normalizer(
            mask, self.kernel_size, self.groups, self.filters, self._channel_axis, self.convolve
        )


@register
class PartialConv1D(BasePartialConv):
    __doc__ = _doc(1)

    def __init__(self, filters, kernel_size, *args, binary=True, **kwargs):
        super().__init__(1, filters, kernel_size, *args, binary=binary, **kwargs)


@register
class PartialConv2D(BasePartialConv):
    __doc__ = _doc(2)

    def __init__(self, filters, kernel_size, *args, binary=True, **kwargs):
        super().__init__(2, filters, kernel_size, *args, binary=binary, **kwargs)


@register
class PartialConv3D(BasePartialConv):
    __doc__ = _doc(3)

    def __init__(self, filters, kernel_size, *args, binary=True, **kwargs):
        super().__init__(3, filters, kernel_size, *args, binary=binary, **kwargs)
