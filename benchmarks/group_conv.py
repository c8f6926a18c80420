"""Benchmarks of GroupConv2D: the kernel-expansion cost over a plain conv.

GroupConv2D(8, 3, group="C4", padding="same") on a C4 group feature map
(8, 64, 64, 4, 8) (8 channels per group element) against the plain
``keras.layers.Conv2D(32, 3, padding="same")`` that it equals on the
flattened (8, 64, 64, 32) tensor (32 = 4 x 8 channels in and out).  Both are
timed as compiled one-layer models: ``train_on_batch`` (forward, backward,
SGD update; target 1.10) and ``predict_on_batch`` (forward, informational).
The GroupConv2D entry includes the per-step kernel gather and the 5-D
reshapes; the reference has a bias (Keras' default) and GroupConv2D does not
(the package default), as in ``conv.py``; the ``use_bias=True`` rows compare
like with like.
"""

from __future__ import annotations

import keras
import numpy as np
from bench_utils import Benchmark, Measurement, single_layer_model, time_interleaved

import keras_cv_layers as kcl

GROUP_INPUT_SHAPE = (8, 64, 64, 4, 8)
FLAT_INPUT_SHAPE = (8, 64, 64, 32)
_CL = "channels_last"
_REFERENCE = 'keras.layers.Conv2D(32, 3, padding="same") on (8, 64, 64, 32)'


def _pair(name: str, make_layer, train_target: float | None = 1.10) -> list[Benchmark]:
    cache: dict[str, object] = {}

    def setup() -> dict[str, object]:
        if not cache:
            rng = np.random.default_rng(0)
            x = rng.standard_normal(GROUP_INPUT_SHAPE).astype("float32")
            model = single_layer_model(make_layer(), GROUP_INPUT_SHAPE)
            ref = single_layer_model(
                keras.layers.Conv2D(32, 3, padding="same", data_format=_CL), FLAT_INPUT_SHAPE
            )
            y = rng.standard_normal(tuple(model.output.shape)).astype("float32")
            cache.update(
                model=model,
                ref=ref,
                x=keras.ops.convert_to_tensor(x),
                y=keras.ops.convert_to_tensor(y),
                x_flat=keras.ops.convert_to_tensor(x.reshape(FLAT_INPUT_SHAPE)),
                y_flat=keras.ops.convert_to_tensor(y.reshape(FLAT_INPUT_SHAPE)),
            )
        return cache

    def run_train(repeats: int) -> Measurement:
        c = setup()
        return time_interleaved(
            lambda: c["model"].train_on_batch(c["x"], c["y"]),
            lambda: c["ref"].train_on_batch(c["x_flat"], c["y_flat"]),
            repeats,
        )

    def run_predict(repeats: int) -> Measurement:
        c = setup()
        return time_interleaved(
            lambda: c["model"].predict_on_batch(c["x"]),
            lambda: c["ref"].predict_on_batch(c["x_flat"]),
            repeats,
        )

    return [
        Benchmark(f"{name} fwd+bwd", run_train, train_target, _REFERENCE),
        Benchmark(f"{name} fwd", run_predict, None, _REFERENCE),
    ]


BENCHMARKS: list[Benchmark] = [
    *_pair(
        'GroupConv2D(8, 3, group="C4")',
        lambda: kcl.GroupConv2D(8, 3, group="C4", padding="same", data_format=_CL),
    ),
    *_pair(
        'GroupConv2D(8, 3, group="C4", use_bias=True)',
        lambda: kcl.GroupConv2D(8, 3, group="C4", padding="same", use_bias=True, data_format=_CL),
    ),
]
