"""Benchmarks of the second release's additions (see run.py).

- ``DropBlock2D`` / ``ECA`` / ``CBAM``: ``Conv2D(32, 3, "same")`` followed by
  the layer against the same ``Conv2D`` alone, on (8, 64, 64, 32): the cost
  of adding the layer to a convolution (training step: forward, backward,
  SGD update; and a forward pass).
- ``MaxUnpooling1D`` / ``MaxUnpooling3D``: unpooling precomputed
  ``(pooled, indices)`` of a size-2 argmax pooling against
  ``keras.layers.UpSampling1D(2)`` / ``UpSampling3D(2)`` on the same pooled
  tensor (the same output size), forward pass.

float32, channels_last, ours and the reference timed alternately in one loop.
"""

from __future__ import annotations

import keras
import numpy as np
from bench_utils import (
    Benchmark,
    Measurement,
    device_forward,
    layer_pair_benchmarks,
    time_interleaved,
)

import keras_cv_layers as kcl

_CL = "channels_last"
CONV_INPUT = (8, 64, 64, 32)
_CONV_REFERENCE = 'keras.layers.Conv2D(32, 3, padding="same")'


def _conv() -> keras.layers.Layer:
    return keras.layers.Conv2D(32, 3, padding="same", data_format=_CL)


def _conv_then(make_layer):
    """`Conv2D` followed by `make_layer()` as one layer (training=True is
    passed on by the model, so DropBlock2D drops in the training step)."""

    def make() -> keras.layers.Layer:
        return keras.Sequential([_conv(), make_layer()])

    return make


def _unpool_benchmark(rank: int, shape: tuple[int, ...], target: float | None) -> Benchmark:
    pool_op = {1: kcl.ops.max_pool_with_argmax1d, 3: kcl.ops.max_pool_with_argmax3d}[rank]
    unpool = {1: kcl.MaxUnpooling1D, 3: kcl.MaxUnpooling3D}[rank]
    upsampling = {1: keras.layers.UpSampling1D, 3: keras.layers.UpSampling3D}[rank]
    cache: dict[str, object] = {}

    def run(repeats: int) -> Measurement:
        if not cache:
            x = np.random.default_rng(0).standard_normal(shape).astype("float32")
            pooled, indices = pool_op(x, 2, data_format=_CL)
            pooled = keras.ops.convert_to_numpy(pooled)
            indices = keras.ops.convert_to_numpy(indices)
            v_in = keras.Input(pooled.shape[1:], batch_size=pooled.shape[0])
            i_in = keras.Input(indices.shape[1:], batch_size=indices.shape[0], dtype="int32")
            model = keras.Model([v_in, i_in], unpool(2, data_format=_CL)([v_in, i_in]))
            r_in = keras.Input(pooled.shape[1:], batch_size=pooled.shape[0])
            ref = keras.Model(
                r_in, upsampling(2, **({"data_format": _CL} if rank == 3 else {}))(r_in)
            )
            cache.update(
                ours=device_forward(model),
                ref=device_forward(ref),
                inputs=[keras.ops.convert_to_tensor(pooled), keras.ops.convert_to_tensor(indices)],
                ref_inputs=keras.ops.convert_to_tensor(pooled),
            )
        ours, ref = cache["ours"], cache["ref"]
        return time_interleaved(
            lambda: ours(cache["inputs"]), lambda: ref(cache["ref_inputs"]), repeats
        )

    name = f"MaxUnpooling{rank}D fwd"
    return Benchmark(name, run, target, f"keras.layers.UpSampling{rank}D(2), same output size")


BENCHMARKS: list[Benchmark] = [
    *layer_pair_benchmarks(
        "Conv2D+DropBlock2D(0.1, 5)",
        _conv_then(lambda: kcl.DropBlock2D(0.1, 5, data_format=_CL)),
        _conv,
        CONV_INPUT,
        train_target=None,
        reference=_CONV_REFERENCE,
    ),
    *layer_pair_benchmarks(
        "Conv2D+ECA",
        _conv_then(lambda: kcl.ECA(data_format=_CL)),
        _conv,
        CONV_INPUT,
        train_target=None,
        reference=_CONV_REFERENCE,
    ),
    *layer_pair_benchmarks(
        "Conv2D+CBAM",
        _conv_then(lambda: kcl.CBAM(data_format=_CL)),
        _conv,
        CONV_INPUT,
        train_target=None,
        reference=_CONV_REFERENCE,
    ),
    _unpool_benchmark(1, (16, 4096, 32), None),
    _unpool_benchmark(3, (4, 16, 32, 32, 16), None),
]
