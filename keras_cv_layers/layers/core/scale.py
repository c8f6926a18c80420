"""Scale: learned per-channel affine transform."""

from __future__ import annotations

import keras
from keras import constraints, initializers, ops, regularizers

from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class Scale(keras.layers.Layer):
    """Per-channel `x * scale + shift` (the affine half of a normalization
    layer, as in Caffe's `Scale` layer used by ResNet ports).

    Args:
        use_shift: bool, learn `shift` (C,). Default True.
        use_scale: bool, learn `scale` (C,). Default True.
        shift_initializer: default `"zeros"`.
        scale_initializer: default `"ones"`.
        shift_regularizer, scale_regularizer, shift_constraint,
        scale_constraint: as Keras.
        data_format: `"channels_last"`, `"channels_first"` or None; the channel
            axis is last or 1.

    Call arguments:
        inputs: tensor of rank >= 2.

    Returns:
        Tensor of the same shape.

    Example:

    >>> import keras, numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.Scale(shift_initializer="ones",
    ...                   data_format="channels_last")
    >>> keras.ops.convert_to_numpy(layer(np.ones((1, 2, 3), "float32"))).tolist()
    [[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]]
    """

    def __init__(
        self,
        use_shift: bool = True,
        use_scale: bool = True,
        shift_initializer="zeros",
        scale_initializer="ones",
        shift_regularizer=None,
        scale_regularizer=None,
        shift_constraint=None,
        scale_constraint=None,
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.use_shift = av.check_bool(use_shift, "use_shift", "Scale")
        self.use_scale = av.check_bool(use_scale, "use_scale", "Scale")
        self.shift_initializer = initializers.get(shift_initializer)
        self.scale_initializer = initializers.get(scale_initializer)
        self.shift_regularizer = regularizers.get(shift_regularizer)
        self.scale_regularizer = regularizers.get(scale_regularizer)
        self.shift_constraint = constraints.get(shift_constraint)
        self.scale_constraint = constraints.get(scale_constraint)
        self.data_format = av.normalize_data_format(data_format, self.__class__.__name__)
        self.supports_masking = True

    def _axis(self, ndim):
        return ndim - 1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"Layer Scale ('{self.name}') expects input of rank >= 2, i.e. "
                f"(batch, ..., channels); received {tuple(input_shape)}."
            )
        channels = input_shape[self._axis(len(input_shape))]
        if channels is None:
            raise ValueError(
                f"Layer Scale ('{self.name}') needs a known channel dimension; "
                f"received {tuple(input_shape)}."
            )
        self.scale = (
            self.add_weight(
                name="scale",
                shape=(channels,),
                initializer=self.scale_initializer,
                regularizer=self.scale_regularizer,
                constraint=self.scale_constraint,
            )
            if self.use_scale
            else None
        )
        self.shift = (
            self.add_weight(
                name="shift",
                shape=(channels,),
                initializer=self.shift_initializer,
                regularizer=self.shift_regularizer,
                constraint=self.shift_constraint,
            )
            if self.use_shift
            else None
        )
        axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={axis: int(channels)})

    def call(self, inputs):
        ndim = len(inputs.shape)
        shape = [1] * ndim
        shape[self._axis(ndim)] = -1
        outputs = inputs
        if self.scale is not None:
            outputs = outputs * ops.reshape(self.scale, shape)
        if self.shift is not None:
            outputs = outputs + ops.reshape(self.shift, shape)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "use_shift": self.use_shift,
                "use_scale": self.use_scale,
                "shift_initializer": initializers.serialize(self.shift_initializer),
                "scale_initializer": initializers.serialize(self.scale_initializer),
                "shift_regularizer": regularizers.serialize(self.shift_regularizer),
                "scale_regularizer": regularizers.serialize(self.scale_regularizer),
                "shift_constraint": constraints.serialize(self.shift_constraint),
                "scale_constraint": constraints.serialize(self.scale_constraint),
                "data_format": self.data_format,
            }
        )
        return config
