"""MaxPoolingWithArgmax1D: 1D max pooling that also returns the argmax indices."""

from __future__ import annotations

from keras_cv_layers.layers.pooling._argmax_pooling import MaxPoolingWithArgmaxBase
from keras_cv_layers.utils.serialization import register


@register
class MaxPoolingWithArgmax1D(MaxPoolingWithArgmaxBase):
    """1D max pooling that also returns where each maximum was: the 1D form
    of `MaxPoolingWithArgmax2D` (SegNet: Badrinarayanan et al., 2017,
    "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image
    Segmentation", arXiv:1511.00561).

    `indices` are int32 positions of each maximum in its own example,
    flattened in its own data format: `s * C + c` for channels_last and
    `c * S + s` for channels_first.  Ties go to the lowest index.  "same"
    padding is -inf, so it is never selected.  The gradient flows to the
    argmax positions, as in `keras.layers.MaxPooling1D`.  Feed both outputs
    to `MaxUnpooling1D` to put the values back.

    Args:
        pool_size: int or tuple of 1 int. Default 2.
        strides: int, tuple of 1 int or None (then `pool_size`).
        padding: `"same"` (default) or `"valid"`; output sizes as
            `keras.layers.MaxPooling1D`.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Call arguments:
        inputs: `(batch, steps, channels)` (or `(batch, channels, steps)`).

    Returns:
        `[pooled, indices]`: `pooled` in the layer's compute dtype, `indices`
        int32 of the same shape.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.array([[[1.0], [3.0], [2.0], [0.0], [5.0]]], "float32")
    >>> pooled, idx = kcl.MaxPoolingWithArgmax1D(2, data_format="channels_last")(x)
    >>> tuple(pooled.shape), np.asarray(idx).reshape(-1).tolist()
    ((1, 3, 1), [1, 2, 4])
    """

    rank = 1
