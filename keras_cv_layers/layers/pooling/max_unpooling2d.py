"""MaxUnpooling2D: put pooled values back at their argmax positions."""

from __future__ import annotations

from keras_cv_layers.layers.pooling._argmax_pooling import MaxUnpoolingBase
from keras_cv_layers.utils.serialization import register


@register
class MaxUnpooling2D(MaxUnpoolingBase):
    """Max unpooling, the decoder half of SegNet (Badrinarayanan et al., 2017,
    "SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image
    Segmentation", arXiv:1511.00561; Zeiler & Fergus, 2014).

    Writes each value of `x` at the position `indices` names (per-example
    flat indices, as returned by `MaxPoolingWithArgmax2D` in the same data
    format) of a zero tensor.  Where several values carry the same index
    (overlapping pooling windows) the output holds the value once (their
    maximum), not their sum; out-of-range indices are ignored.  The gradient
    w.r.t. `x` is the gather of the output gradient at `indices`.

    When every index lies in the `size` block of its pooled position (pooling
    with `pool_size <= strides == size`, e.g. the default 2x2 / stride 2),
    the values are placed densely (no scatter); otherwise a scatter path is
    used.  The choice is made per call and gives the same numbers.

    Args:
        size: int or tuple of 2 ints, the upsampling factor. Default 2.
        data_format: `"channels_last"`, `"channels_first"` or None.

    Call arguments:
        inputs: `[x, indices]`: the output is `size` times larger than `x`
            spatially; or `[x, indices, reference]`: the output has the
            spatial size of `reference` (pass the tensor that was pooled when
            its size was odd: the indices are positions in that shape).

    Returns:
        Tensor in the layer's compute dtype, zeros except at `indices`.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> x = np.random.default_rng(0).normal(size=(1, 5, 5, 2)).astype("float32")
    >>> pooled, idx = kcl.MaxPoolingWithArgmax2D(2, data_format="channels_last")(x)
    >>> y = kcl.MaxUnpooling2D(2, data_format="channels_last")([pooled, idx, x])
    >>> tuple(y.shape), bool(np.all((np.asarray(y) == 0) | (np.asarray(y) == x)))
    ((1, 5, 5, 2), True)
    """

    rank = 2
