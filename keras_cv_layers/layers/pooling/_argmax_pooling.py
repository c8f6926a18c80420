"""The shared implementation of `MaxPoolingWithArgmax1D/2D/3D` and
`MaxUnpooling1D/2D/3D`: one base class per layer kind, parametrised by the
number of spatial axes (`rank`); the public classes only set it (and their
documentation)."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops import pooling as pooling_ops
from keras_cv_layers.ops.pooling import SPATIAL_NAMES, check_unpool_inputs
from keras_cv_layers.utils import argument_validation as av


def _spatial_axes(rank: int, data_format: str) -> tuple:
    first = 1 if data_format == "channels_last" else 2
    return tuple(range(first, first + rank))


class MaxPoolingWithArgmaxBase(keras.layers.Layer):
    """Max pooling over `rank` spatial axes that also returns the argmax
    (see `MaxPoolingWithArgmax2D`); subclasses set `rank`."""

    rank: int

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
        self.pool_size = av.normalize_tuple(pool_size, self.rank, "pool_size", layer_name=name)
        self.strides = (
            self.pool_size
            if strides is None
            else av.normalize_tuple(strides, self.rank, "strides", layer_name=name)
        )
        self.padding = av.normalize_padding(padding, layer_name=name)
        self.data_format = av.normalize_data_format(data_format, name)

    def _check_input(self, input_shape) -> tuple:
        """Checks rank and window fit; returns the output shape."""
        av.check_input_rank(
            self, input_shape, self.rank + 2, av.spatial_description(self.rank, self.data_format)
        )
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
        self.input_spec = keras.layers.InputSpec(ndim=self.rank + 2)

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


class MaxUnpoolingBase(keras.layers.Layer):
    """Max unpooling over `rank` spatial axes (see `MaxUnpooling2D`);
    subclasses set `rank`."""

    rank: int

    def __init__(self, size=2, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        name = self.__class__.__name__
        self.size = av.normalize_tuple(size, self.rank, "size", layer_name=name)
        self.data_format = av.normalize_data_format(data_format, name)

    def _where(self) -> str:
        return f"Layer {self.__class__.__name__} ('{self.name}')"

    def _split_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3):
            raise ValueError(
                f"{self._where()} expects inputs [x, indices] or [x, indices, reference]; "
                f"received input shape {input_shape}."
            )
        shapes = [tuple(s) for s in input_shape]
        if not all(isinstance(s, tuple) for s in shapes):
            raise ValueError(
                f"{self._where()} expects inputs [x, indices] or [x, indices, reference]; "
                f"received input shape {input_shape}."
            )
        return shapes

    def _spatial(self, shape):
        return av.spatial_dims(shape, self.data_format)

    def _output_spatial(self, shapes):
        if len(shapes) == 3:
            return tuple(self._spatial(shapes[2]))
        return tuple(
            None if n is None else n * s for n, s in zip(self._spatial(shapes[0]), self.size)
        )

    def _check_shapes(self, shapes, indices_dtype=None):
        description = av.spatial_description(self.rank, self.data_format)
        av.check_input_rank(self, shapes[0], self.rank + 2, description)
        check_unpool_inputs(shapes[0], shapes[1], indices_dtype, self._where(), self.rank)
        if len(shapes) == 3:
            reference = shapes[2]
            av.check_input_rank(self, reference, self.rank + 2, description)
            for n, ref, s, axis in zip(
                self._spatial(shapes[0]),
                self._spatial(reference),
                self.size,
                SPATIAL_NAMES[self.rank],
            ):
                if n is not None and ref is not None and ref <= (n - 1) * s:
                    raise ValueError(
                        f"{self._where()}: the reference {axis} {ref} is too small for "
                        f"x of shape {shapes[0]} with size={self.size}: unpooling "
                        f"{n} positions by {s} needs a {axis} of at least {(n - 1) * s + 1}."
                    )

    def build(self, input_shape):
        self._check_shapes(self._split_shapes(input_shape))

    def call(self, inputs):
        x, indices = inputs[0], inputs[1]
        reference = inputs[2] if len(inputs) == 3 else None
        shapes = [tuple(t.shape) for t in inputs]
        self._check_shapes(shapes, indices.dtype)
        x = ops.cast(x, self.compute_dtype)
        indices = ops.cast(indices, "int32")
        axes = _spatial_axes(self.rank, self.data_format)
        if reference is None:
            shape = ops.shape(x)
            output_size = tuple(shape[a] * s for a, s in zip(axes, self.size))
        else:
            ref_shape = ops.shape(reference)
            output_size = tuple(ref_shape[a] for a in axes)
        return pooling_ops.unpool(x, indices, output_size, self.data_format, block_size=self.size)

    def compute_output_shape(self, input_shape):
        shapes = self._split_shapes(input_shape)
        out = self._output_spatial(shapes)
        x = shapes[0]
        if self.data_format == "channels_last":
            return (x[0], *out, x[-1])
        return (x[0], x[1], *out)

    def compute_output_spec(self, inputs):
        shapes = [tuple(t.shape) for t in inputs]
        self._check_shapes(self._split_shapes(shapes), inputs[1].dtype)
        return keras.KerasTensor(self.compute_output_shape(shapes), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format})
        return config
