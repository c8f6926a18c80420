"""Deformable convolution benchmarks against a plain convolution.

Input: batch 8, 64x64, 32 -> 32 channels, k=3, "same", float32,
channels_last.  Reference: ``keras.layers.Conv2D(32, 3, padding="same")``
timed in the same loop (``train_on_batch``: forward, backward and an SGD
update; ``predict_on_batch``: forward).

- ``DeformableConv2D``: the full layer (its offset convolution included).
  Its zero-initialised offsets would sample the regular grid, so the offset
  kernel is set to N(0, (2 / sqrt(3*3*32))^2): with N(0, 1) inputs the
  predicted offsets are ~ N(0, 2) (std 2) inside the image, the
  memory-access pattern of a trained layer.  fwd+bwd includes the gradients
  of the offsets (and so of the offset convolution).
- ``deform_conv2d op``: `kcl.ops.deform_conv2d` with a fixed offset tensor
  drawn from N(0, 2) (std 2) inside a small layer holding the kernel: the
  sampling and matmul alone (fwd+bwd: input and kernel gradients).

``deformable_torchvision.py`` (run in a venv with torchvision) times
``torchvision.ops.deform_conv2d`` on the same shapes.
"""

from __future__ import annotations

import keras
import numpy as np
from bench_utils import Benchmark, layer_pair_benchmarks

import keras_cv_layers as kcl

INPUT_SHAPE = (8, 64, 64, 32)
_CL = "channels_last"
_REFERENCE = 'keras.layers.Conv2D(32, 3, padding="same")'
OFFSET_STD = 2.0


def _reference() -> keras.layers.Layer:
    return keras.layers.Conv2D(32, 3, padding="same", data_format=_CL)


def _deformable_layer(modulated: bool = False):
    def make() -> keras.layers.Layer:
        layer = kcl.DeformableConv2D(
            32, 3, padding="same", use_bias=True, modulated=modulated, data_format=_CL
        )
        layer.build(INPUT_SHAPE)
        rng = np.random.default_rng(1)
        fan_in = 3 * 3 * INPUT_SHAPE[-1]
        std = OFFSET_STD / np.sqrt(fan_in)
        layer.offset_kernel.assign(
            rng.normal(scale=std, size=layer.offset_kernel.shape).astype("float32")
        )
        return layer

    return make


@keras.saving.register_keras_serializable(package="keras_cv_layers_benchmarks")
class FixedOffsetDeformConv(keras.layers.Layer):
    """`kcl.ops.deform_conv2d` with a fixed N(0, OFFSET_STD**2) offset tensor."""

    def __init__(self, filters: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=(3, 3, input_shape[-1], self.filters), initializer="he_normal"
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        rng = np.random.default_rng(2)
        offsets = rng.normal(scale=OFFSET_STD, size=tuple(input_shape[:3]) + (18,))
        self.offsets = keras.ops.convert_to_tensor(offsets.astype("float32"))

    def call(self, inputs):
        return kcl.ops.deform_conv2d(
            inputs, self.offsets, self.kernel, self.bias, padding="same", data_format=_CL
        )


BENCHMARKS: list[Benchmark] = [
    *layer_pair_benchmarks(
        "DeformableConv2D",
        _deformable_layer(),
        _reference,
        INPUT_SHAPE,
        train_target=3.0,
        predict_target=3.0,
        reference=_REFERENCE,
    ),
    *layer_pair_benchmarks(
        "DeformableConv2D(modulated=True)",
        _deformable_layer(modulated=True),
        _reference,
        INPUT_SHAPE,
        train_target=None,
        reference=_REFERENCE,
    ),
    *layer_pair_benchmarks(
        "deform_conv2d op",
        lambda: FixedOffsetDeformConv(32),
        _reference,
        INPUT_SHAPE,
        train_target=None,
        reference=_REFERENCE,
    ),
]
