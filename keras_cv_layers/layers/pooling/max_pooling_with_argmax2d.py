"""MaxPoolingWithArgmax2D: max pooling that also returns the argmax indices."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops import pooling as pooling_ops
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class MaxPoolingWithArgmax2D(keras.layers.Layer):
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

    def __init__(
        self,
        pool_size=2,
        strides=None,
        padding: str = "same",
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = self.__class__.__name__
        self.pool_size = av.normalize_tuple(pool_size, 2, "pool_size", layer_name=name)
        self.strides = (
            self.pool_size
            if strides is None
            else av.normalize_tuple(strides, 2, "strides", layer_name=name)
        )
        self.padding = av.normalize_padding(padding, layer_name=name)
        self.data_format = av.normalize_data_format(data_format, name)

    def _check_input(self, input_shape) -> tuple:
        """Checks rank and window fit; returns the output shape."""
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        return pooling_ops.pooled_shape(
            tuple(input_shape),
            self.pool_size,
            self.strides,
            self.padding,
            self.data_format,
            av.layer_owner(self),
        )

    def build(self, input_shape):
        self._check_input(input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        self._check_input(inputs.shape)
        inputs = ops.cast(inputs, self.compute_dtype)
        pooled, indices = pooling_ops.pool_with_argmax(
            inputs, self.pool_size, self.strides, self.padding, self.data_format
        )
        return [pooled, indices]

    def compute_output_shape(self, input_shape):
        shape = self._check_input(input_shape)
        return [shape, shape]

    def compute_output_spec(self, inputs):
        shape = self._check_input(inputs.shape)
        return [
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape, dtype="int32"),
        ]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
            }
        )
        return config
