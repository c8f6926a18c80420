"""Convolution benchmarks: the kernel transforms' cost over a plain conv.

Each entry times a compiled training step (``model.train_on_batch``: forward,
backward and an SGD update, what users pay per batch) and a forward pass
(``model.predict_on_batch``) of a one-layer model, against
``keras.layers.Conv2D(32, 3, padding="same")`` timed in the same loop.
Input: batch 8, 64x64, 32 -> 32 channels, float32, channels_last.
"""

from __future__ import annotations

import keras
from bench_utils import Benchmark, layer_pair_benchmarks

import keras_cv_layers as kcl

INPUT_SHAPE = (8, 64, 64, 32)
_CL = "channels_last"
_REFERENCE = 'keras.layers.Conv2D(32, 3, padding="same")'


def _reference() -> keras.layers.Layer:
    return keras.layers.Conv2D(32, 3, padding="same", data_format=_CL)


BENCHMARKS: list[Benchmark] = [
    *layer_pair_benchmarks(
        "Conv2D(weightnorm=True)",
        lambda: kcl.Conv2D(32, 3, padding="same", weightnorm=True, data_format=_CL),
        _reference,
        INPUT_SHAPE,
        reference=_REFERENCE,
    ),
    # Same as above with a bias, like the reference (kcl.Conv2D defaults to use_bias=False).
    *layer_pair_benchmarks(
        "Conv2D(weightnorm=True, use_bias=True)",
        lambda: kcl.Conv2D(32, 3, padding="same", weightnorm=True, use_bias=True, data_format=_CL),
        _reference,
        INPUT_SHAPE,
        reference=_REFERENCE,
    ),
    *layer_pair_benchmarks(
        "WSConv2D",
        lambda: kcl.WSConv2D(32, 3, padding="same", data_format=_CL),
        _reference,
        INPUT_SHAPE,
        reference=_REFERENCE,
    ),
]
