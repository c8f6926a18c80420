"""MaxPoolingWithArgmax2D: max pooling that also returns the argmax indices."""

from __future__ import annotations

from keras_cv_layers.layers.pooling._argmax_pooling import MaxPoolingWithArgmaxBase
from keras_cv_layers.utils.serialization import register


@register
class MaxPoolingWithArgmax2D(MaxPoolingWithArgmaxBase):
    """2D max pooling that also returns where each maximum was (the encoder
    half of SegNet: Badrinarayanan et al., 2017, "SegNet: A Deep
    Convolutional Encoder-Decoder Architecture for Image Segmentation",
    arXiv:1511.00561).

    `indices` are int32 positions of each maximum in its own example,
    flattened in its own data format: `(h * W + w) * C + c` for channels_last
    (as `tf.nn.max_pool_with_argmax(include_batch_in_index=False)`) and
    `(c * H + h) * W + w` for channels_first.  Ties go to the lowest index.
    "same" padding is -inf, so it is never selected.  The gradient flows to
    the argmax positions, as in `keras.layers.MaxPooling2D`.  Feed both
    outputs to `MaxUnpooling2D` to put the values back.

    Args:
        pool_size: int or tuple of 2 ints. Default 2.
        strides: int, tuple of 2 ints or None (then `pool_size`).
        padding: `"same"` (default) or `"valid"`; output sizes as
            `keras.layers.MaxPooling2D`.
        data_format: `"channels_last"`, `"channels_first"` or None (the Keras
            config).

    Call arguments:
        inputs: `(batch, height, width, channels)` (or channels_first).

    Returns:
        `[pooled, indices]`: `pooled` in the layer's compute dtype, `indices`
        int32 of the same shape.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> pooled, idx = kcl.MaxPoolingWithArgmax2D(2, data_format="channels_last")(x)
    >>> tuple(pooled.shape), np.asarray(idx).reshape(-1).tolist()
    ((1, 2, 2, 1), [5, 7, 13, 15])
    """

    rank = 2
