"""MaxUnpooling1D: put 1D pooled values back at their argmax positions."""

from __future__ import annotations

from keras_cv_layers.layers.pooling._argmax_pooling import MaxUnpoolingBase
from keras_cv_layers.utils.serialization import register


@register
class MaxUnpooling1D(MaxUnpoolingBase):
    """1D max unpooling: the 1D form of `MaxUnpooling2D` (the decoder half
    of SegNet: Badrinarayanan et al., 2017, "SegNet: A Deep Convolutional
    Encoder-Decoder Architecture for Image Segmentation", arXiv:1511.00561).

    Writes each value of `x` at the position `indices` names (per-example
    flat indices, as returned by `MaxPoolingWithArgmax1D` in the same data
    format) of a zero tensor.  Where several values carry the same index
    (overlapping pooling windows) the output holds the value once (their
    maximum), not their sum; out-of-range indices are ignored.  The gradient
    w.r.t. `x` is the gather of the output gradient at `indices`.  When
    every index lies in the `size` block of its pooled position the values
    are placed densely (no scatter), else a scatter path is used; both give
    the same numbers.

    Args:
        size: int or tuple of 1 int, the upsampling factor. Default 2.
        data_format: `"channels_last"`, `"channels_first"` or None.

    Call arguments:
        inputs: `[x, indices]`: the output has `size` times the steps of
            `x`; or `[x, indices, reference]`: the output has the steps of
            `reference` (pass the tensor that was pooled when its length was
            odd: the indices are positions in that shape).

    Returns:
        Tensor in the layer's compute dtype, zeros except at `indices`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.array([[[1.0], [3.0], [2.0], [0.0], [5.0]]], "float32")
    >>> pooled, idx = kcl.MaxPoolingWithArgmax1D(2, data_format="channels_last")(x)
    >>> y = kcl.MaxUnpooling1D(2, data_format="channels_last")([pooled, idx, x])
    >>> np.asarray(y).reshape(-1).tolist()
    [0.0, 3.0, 2.0, 0.0, 5.0]
    """

    rank = 1
