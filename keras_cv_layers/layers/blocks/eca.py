"""Efficient channel attention (ECA)."""

from __future__ import annotations

import math

import keras
from keras import constraints, initializers, ops, regularizers

from keras_cv_layers.ops import conv as conv_ops
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


def eca_kernel_size(channels: int) -> int:
    """ECA's adaptive kernel size for `channels` (γ = 2, b = 1 in the paper):
    `t = int(log2(C) / 2 + 1/2)`, `k = t` if t is odd else `t + 1`."""
    channels = av.positive_int(channels, "channels", "eca_kernel_size")
    t = int(math.log2(channels) / 2 + 0.5)
    return t if t % 2 else t + 1


@register
class ECA(keras.layers.Layer):
    """Efficient channel attention (Wang et al., 2020, ECA-Net,
    arXiv:1910.03151).

    Global average pool over the spatial axes → 1D convolution of the
    pooled channel vector with a `kernel_size` kernel (across channels, no
    bias, zero padding "same": `(k - 1) // 2` zeros before the first
    channel, `k // 2` after the last, as `keras.layers.Conv1D`) → sigmoid →
    `inputs * a` (the gate broadcast over the spatial axes). The gate lies in
    (0, 1), so `|outputs| <= |inputs|`. The pool and the gate are computed
    in float32.

    Args:
        kernel_size: positive int, or None (default) for the paper's
            adaptive size from the channel count `C`:
            `t = int(log2(C) / 2 + 1/2)`, `k = t` if t is odd else `t + 1`
            (`kcl.ECA.adaptive_kernel_size(C)`).
        data_format: `"channels_last"`, `"channels_first"` or None
            (→ `keras.config.image_data_format()`).
        kernel_initializer: initializer of `kernel`. Default
            `"glorot_uniform"` (`keras.layers.Conv1D`'s).
        kernel_regularizer, kernel_constraint: as Keras.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Weights: `kernel` of shape `(k, 1, 1)`, the kernel of a
    `keras.layers.Conv1D(1, k, padding="same", use_bias=False)` run over the
    channel axis as the sequence axis (a PyTorch `Conv1d(1, 1, k)` weight
    `(1, 1, k)` reshaped to `(k, 1, 1)`). The resolved size is
    `layer.resolved_kernel_size` once built.

    Call arguments:
        inputs: `(batch, height, width, channels)` (channels_last) or
            `(batch, channels, height, width)` (channels_first).

    Returns:
        A tensor of the input's shape, in the compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> eca = kcl.ECA(data_format="channels_last")
    >>> tuple(eca(np.ones((2, 5, 5, 64), "float32")).shape)
    (2, 5, 5, 64)
    >>> tuple(eca.kernel.shape)
    (3, 1, 1)
    >>> kcl.ECA.adaptive_kernel_size(256)
    5
    """

    #: The paper's adaptive kernel size for a channel count (`eca_kernel_size`).
    adaptive_kernel_size = staticmethod(eca_kernel_size)

    def __init__(
        self,
        kernel_size: int | None = None,
        data_format: str | None = None,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        if kernel_size is not None:
            kernel_size = av.normalize_tuple(kernel_size, 1, "kernel_size", layer_name=cls)[0]
        self.kernel_size = kernel_size
        self.data_format = av.normalize_data_format(data_format, cls)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self._channel_axis = av.channel_axis(self.data_format)
        self._spatial_axes = (1, 2) if self.data_format == "channels_last" else (2, 3)

    def build(self, input_shape):
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(
                f"Layer {self.__class__.__name__} ('{self.name}') needs a known channel "
                f"dimension; received input of shape {tuple(input_shape)}."
            )
        channels = int(channels)
        k = self.kernel_size if self.kernel_size is not None else eca_kernel_size(channels)
        self.resolved_kernel_size = k
        self.kernel = self.add_weight(
            name="kernel",
            shape=(k, 1, 1),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={self._channel_axis: channels})

    def call(self, inputs):
        pooled = ops.mean(ops.cast(inputs, "float32"), axis=self._spatial_axes)  # (B, C)
        kernel = ops.cast(self.kernel, "float32")
        logits = conv_ops.conv(
            ops.expand_dims(pooled, -1), kernel, padding="same", data_format="channels_last"
        )  # (B, C, 1): the channels as a sequence of one feature
        gate = ops.sigmoid(logits)
        if self.data_format == "channels_last":
            gate = ops.expand_dims(ops.transpose(gate, (0, 2, 1)), 1)  # (B, 1, 1, C)
        else:
            gate = ops.expand_dims(gate, -1)  # (B, C, 1, 1)
        return inputs * ops.cast(gate, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "data_format": self.data_format,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
            }
        )
        return config
