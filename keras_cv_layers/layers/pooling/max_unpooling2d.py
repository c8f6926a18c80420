"""MaxUnpooling2D: put pooled values back at their argmax positions."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops import pooling as pooling_ops
from keras_cv_layers.ops.pooling import check_unpool_inputs
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


@register
class MaxUnpooling2D(keras.layers.Layer):
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

    def __init__(self, size=2, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        name = self.__class__.__name__
        self.size = av.normalize_tuple(size, 2, "size", layer_name=name)
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
        return shape[1:3] if self.data_format == "channels_last" else shape[2:4]

    def _output_hw(self, shapes):
        if len(shapes) == 3:
            return tuple(self._spatial(shapes[2]))
        return tuple(
            None if n is None else n * s for n, s in zip(self._spatial(shapes[0]), self.size)
        )

    def _check_shapes(self, shapes, indices_dtype=None):
        description = av.spatial_description(2, self.data_format)
        av.check_input_rank(self, shapes[0], 4, description)
        check_unpool_inputs(shapes[0], shapes[1], indices_dtype, self._where())
        if len(shapes) == 3:
            reference = shapes[2]
            av.check_input_rank(self, reference, 4, description)
            for n, ref, s, axis in zip(
                self._spatial(shapes[0]), self._spatial(reference), self.size, ("height", "width")
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
        shape = ops.shape(x)
        h_axis, w_axis = (1, 2) if self.data_format == "channels_last" else (2, 3)
        if reference is None:
            out_hw = (shape[h_axis] * self.size[0], shape[w_axis] * self.size[1])
        else:
            ref_shape = ops.shape(reference)
            out_hw = (ref_shape[h_axis], ref_shape[w_axis])
        return pooling_ops.unpool(x, indices, out_hw, self.data_format, block_size=self.size)

    def compute_output_shape(self, input_shape):
        shapes = self._split_shapes(input_shape)
        out_h, out_w = self._output_hw(shapes)
        x = shapes[0]
        if self.data_format == "channels_last":
            return (x[0], out_h, out_w, x[3])
        return (x[0], x[1], out_h, out_w)

    def compute_output_spec(self, inputs):
        shapes = [tuple(t.shape) for t in inputs]
        self._check_shapes(self._split_shapes(shapes), inputs[1].dtype)
        return keras.KerasTensor(self.compute_output_shape(shapes), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "data_format": self.data_format})
        return config
