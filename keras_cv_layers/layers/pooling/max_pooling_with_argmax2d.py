"""MaxPoolingWithArgmax2D: max pooling that also returns the argmax indices."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers import backend_kernels
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


def pooled_shape(input_shape, pool_size, strides, padding: str, data_format: str) -> tuple:
    """Output shape of a 2D pooling (Keras arithmetic: ceil for "same")."""
    shape = list(input_shape)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    for axis, k, s in zip(axes, pool_size, strides):
        shape[axis] = av.conv_output_length(shape[axis], k, s, padding)
    return tuple(shape)


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

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        if self.padding == "valid":
            for size, k in zip(spatial, self.pool_size):
                if size is not None and size < k:
                    raise ValueError(
                        f"Layer {self.__class__.__name__} ('{self.name}') with "
                        f'padding="valid" and pool_size={self.pool_size} expects '
                        f"spatial sizes >= the pool size; received input of shape "
                        f"{tuple(input_shape)}."
                    )

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        pooled, indices = backend_kernels.dispatch(
            "max_pool_with_argmax2d",
            inputs,
            self.pool_size,
            self.strides,
            self.padding,
            self.data_format,
        )
        return [pooled, ops.cast(indices, "int32")]

    def compute_output_shape(self, input_shape):
        shape = pooled_shape(
            input_shape, self.pool_size, self.strides, self.padding, self.data_format
        )
        return [shape, shape]

    def compute_output_spec(self, inputs):
        shape = pooled_shape(
            inputs.shape, self.pool_size, self.strides, self.padding, self.data_format
        )
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
