"""MaxPoolingWithArgmax3D: 3D max pooling that also returns the argmax indices."""

from __future__ import annotations

from keras_cv_layers.layers.pooling._argmax_pooling import MaxPoolingWithArgmaxBase
from keras_cv_layers.utils.serialization import register


@register
class MaxPoolingWithArgmax3D(MaxPoolingWithArgmaxBase):
    """3D max pooling that also returns where each maximum was: the 3D form
    of `MaxPoolingWithArgmax2D` (SegNet: Badrinarayanan et al., 2017,
    "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image
    Segmentation", arXiv:1511.00561).

    `indices` are int32 positions of each maximum in its own example,
    flattened in its own data format: `((d * H + h) * W + w) * C + c` for
    channels_last and `((c * D + d) * H + h) * W + w` for channels_first.
    Ties go to the lowest index.  "same" padding is -inf, so it is never
    selected.  The gradient flows to the argmax positions, as in
    `keras.layers.MaxPooling3D`.  Feed both outputs to `MaxUnpooling3D` to
    put the values back.

    Args:
        pool_size: int or tuple of 3 ints. Default 2.
        strides: int, tuple of 3 ints or None (then `pool_size`).
        padding: `"same"` (default) or `"valid"`; output sizes as
            `keras.layers.MaxPooling3D`.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Call arguments:
        inputs: `(batch, depth, height, width, channels)` (or channels_first).

    Returns:
        `[pooled, indices]`: `pooled` in the layer's compute dtype, `indices`
        int32 of the same shape.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.arange(8, dtype="float32").reshape(1, 2, 2, 2, 1)
    >>> pooled, idx = kcl.MaxPoolingWithArgmax3D(2, data_format="channels_last")(x)
    >>> tuple(pooled.shape), np.asarray(idx).reshape(-1).tolist()
    ((1, 1, 1, 1, 1), [7])
    """

    rank = 3
