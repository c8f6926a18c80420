"""Benchmarks of the blocks layers (see run.py).

Local self-attention (`kcl.MultiHeadedSpatialAttention`, k=7, 8 heads,
64 -> 64 channels) against global attention over the same tokens
(`keras.layers.MultiHeadAttention(num_heads=8, key_dim=8)` on the 1024
pixels of a 32x32 map, wrapped in a reshape so both models take and return
(4, 32, 32, 64)): a compiled training step (`train_on_batch`: forward,
backward, SGD update) and a forward pass (`predict_on_batch`), float32,
channels_last, timed alternately in the same loop.
"""

from __future__ import annotations

import keras
from bench_utils import Benchmark, layer_pair_benchmarks

import keras_cv_layers as kcl

INPUT_SHAPE = (4, 32, 32, 64)
_REFERENCE = "keras.layers.MultiHeadAttention(num_heads=8, key_dim=8) over 1024 tokens"


class GlobalAttention2D(keras.layers.Layer):
    """`MultiHeadAttention(x, x)` over the flattened pixels of a (B, H, W, C) map."""

    def __init__(self, num_heads: int, key_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim)

    def build(self, input_shape):
        tokens = (input_shape[0], input_shape[1] * input_shape[2], input_shape[3])
        self.attention.build(tokens, tokens)

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        tokens = keras.ops.reshape(inputs, (-1, height * width, channels))
        out = self.attention(tokens, tokens)
        return keras.ops.reshape(out, (-1, height, width, out.shape[-1]))


BENCHMARKS: list[Benchmark] = [
    *layer_pair_benchmarks(
        "MultiHeadedSpatialAttention(64, 7, heads=8)",
        lambda: kcl.MultiHeadedSpatialAttention(64, 7, heads=8, data_format="channels_last"),
        lambda: GlobalAttention2D(num_heads=8, key_dim=8),
        INPUT_SHAPE,
        train_target=0.5,
        reference=_REFERENCE,
    ),
]
