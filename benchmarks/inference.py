"""Benchmarks of `kcl.utils.fuse_for_inference` (see run.py).

The forward pass of a model fused for inference against the same model
unfused (the ratio is fused / unfused: below 1 when the per-call weight
arithmetic the fusion removes costs time):

- ``conv stack``: ``WSConv2D`` → ``SWSConv2D`` → ``Conv2D(weightnorm=True)``
  → ``DepthwiseConv2D(equalize=True)``, 32 channels, 3×3, "same", on
  (8, 32, 32, 32);
- ``GroupConv2D stack``: a C4 lifting ``GroupConv2D(8)`` and a C4
  group-to-group ``GroupConv2D(8, weightnorm=True)``, 3×3, "same", on
  (8, 32, 32, 32) (fused: Reshape / Conv2D / Reshape, the kernel expanded once).

Each twice: fused to stock Keras layers (the default) and to the package's
plain convolutions (``keras_layers=False``).  float32, channels_last,
compiled as ``predict`` compiles (``device_forward``), fused and unfused
timed alternately in one loop.
"""

from __future__ import annotations

import keras
import numpy as np
from bench_utils import Benchmark, Measurement, device_forward, time_interleaved

import keras_cv_layers as kcl

_CL = "channels_last"
INPUT = (8, 32, 32, 32)


def _conv_stack() -> list[keras.layers.Layer]:
    kw = {"padding": "same", "data_format": _CL}
    return [
        kcl.WSConv2D(32, 3, **kw),
        kcl.SWSConv2D(32, 3, **kw),
        kcl.Conv2D(32, 3, weightnorm=True, **kw),
        kcl.DepthwiseConv2D(3, equalize=True, **kw),
    ]


def _group_stack() -> list[keras.layers.Layer]:
    kw = {"group": "C4", "padding": "same", "data_format": _CL}
    return [kcl.GroupConv2D(8, 3, **kw), kcl.GroupConv2D(8, 3, weightnorm=True, **kw)]


def _fuse_benchmark(
    name: str, make_layers, target: float | None, keras_layers: bool = True
) -> Benchmark:
    cache: dict[str, object] = {}

    def run(repeats: int) -> Measurement:
        if not cache:
            inputs = keras.Input(INPUT[1:], batch_size=INPUT[0])
            x = inputs
            for layer in make_layers():
                x = layer(x)
            model = keras.Model(inputs, x)
            fused = kcl.utils.fuse_for_inference(model, keras_layers=keras_layers)
            data = np.random.default_rng(0).standard_normal(INPUT).astype("float32")
            cache.update(
                fused=device_forward(fused),
                unfused=device_forward(model),
                x=keras.ops.convert_to_tensor(data),
            )
        fused, unfused, x = cache["fused"], cache["unfused"], cache["x"]
        return time_interleaved(lambda: fused(x), lambda: unfused(x), repeats)

    form = "" if keras_layers else "(keras_layers=False) "
    return Benchmark(f"fuse_for_inference {form}{name} fwd", run, target, "the same model unfused")


#: 1.10: the fused forward must not be slower than the unfused one, with a
#: margin for timing noise.  Under jit (JAX, TensorFlow) the removed kernel
#: arithmetic is tiny next to the convolutions (a 3x3x32x32 kernel against
#: 75M multiply-adds), so the ratio is ~1 there; eager torch gains most
#: (the GroupConv2D kernel expansion is a gather per call).
#: On torch the stock `keras.layers.Conv2D` of the default form copies a
#: channels_last input to channels_first and back on every call, which the
#: unfused package layers do not (their torch fast path): there the default
#: form is slower than the unfused model, and `keras_layers=False` (the
#: package's plain convolutions) is the fast one.
#: The default form is checked against it on JAX and TensorFlow only: on
#: torch its ratio measures Keras' own Conv2D against the package's (the
#: copies above, ~1.3-1.4 here), not the fusion, so it is informational
#: there and the `keras_layers=False` rows carry the target.
_STOCK_TARGET = None if keras.backend.backend() == "torch" else 1.10

BENCHMARKS = [
    _fuse_benchmark("conv stack", _conv_stack, _STOCK_TARGET),
    _fuse_benchmark("GroupConv2D stack", _group_stack, _STOCK_TARGET),
    _fuse_benchmark("conv stack", _conv_stack, 1.10, keras_layers=False),
    _fuse_benchmark("GroupConv2D stack", _group_stack, 1.10, keras_layers=False),
]
