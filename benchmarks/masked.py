"""Masked-convolution benchmarks: the mask handling's cost over a plain conv.

Each entry times a compiled training step (``model.train_on_batch``: forward,
backward and an SGD update) and a forward pass (``model.predict_on_batch``)
of a one-layer model ``[x, mask] -> y`` against
``keras.layers.Conv2D(32, 3, padding="same")`` on ``x``, timed in the same
loop.  Input: batch 8, 64x64, 32 -> 32 channels, float32, channels_last, a
random pixel mask with half the pixels masked.  The masked layers use a bias,
like the reference.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from bench_utils import Benchmark, Measurement, time_interleaved

import keras_cv_layers as kcl

INPUT_SHAPE = (8, 64, 64, 32)
_CL = "channels_last"
_REFERENCE = 'keras.layers.Conv2D(32, 3, padding="same")'


def _masked_pair(
    name: str,
    make_layer: Callable[[], keras.layers.Layer],
    mask_channels: int | None = 1,
    train_target: float | None = 1.30,
) -> list[Benchmark]:
    """fwd+bwd and fwd entries of ``make_layer()`` (called with ``[x, mask]``,
    or ``x`` alone when `mask_channels` is None) against the reference."""
    cache: dict[str, object] = {}

    def setup() -> dict[str, object]:
        if not cache:
            rng = np.random.default_rng(0)
            x = rng.standard_normal(INPUT_SHAPE).astype("float32")
            x_in = keras.Input(INPUT_SHAPE[1:], batch_size=INPUT_SHAPE[0])
            if mask_channels is None:
                inputs, data = x_in, keras.ops.convert_to_tensor(x)
                y_out = make_layer()(x_in)[0]
            else:
                m_shape = INPUT_SHAPE[:-1] + (mask_channels,)
                mask = (rng.random(m_shape) < 0.5).astype("float32")
                m_in = keras.Input(m_shape[1:], batch_size=INPUT_SHAPE[0])
                inputs = [x_in, m_in]
                data = [keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(mask)]
                y_out = make_layer()([x_in, m_in])[0]
            model = keras.Model(inputs, y_out)
            model.compile(optimizer="sgd", loss="mse")
            r_in = keras.Input(INPUT_SHAPE[1:], batch_size=INPUT_SHAPE[0])
            ref = keras.Model(
                r_in, keras.layers.Conv2D(32, 3, padding="same", data_format=_CL)(r_in)
            )
            ref.compile(optimizer="sgd", loss="mse")
            target = rng.standard_normal((INPUT_SHAPE[0], 64, 64, 32)).astype("float32")
            cache.update(
                model=model,
                ref=ref,
                data=data,
                x=keras.ops.convert_to_tensor(x),
                y=keras.ops.convert_to_tensor(target),
            )
        return cache

    def run_train(repeats: int) -> Measurement:
        c = setup()
        model, ref, data, x, y = c["model"], c["ref"], c["data"], c["x"], c["y"]
        return time_interleaved(
            lambda: model.train_on_batch(data, y), lambda: ref.train_on_batch(x, y), repeats
        )

    def run_predict(repeats: int) -> Measurement:
        c = setup()
        model, ref, data, x = c["model"], c["ref"], c["data"], c["x"]
        return time_interleaved(
            lambda: model.predict_on_batch(data), lambda: ref.predict_on_batch(x), repeats
        )

    return [
        Benchmark(f"{name} fwd+bwd", run_train, train_target, _REFERENCE),
        Benchmark(f"{name} fwd", run_predict, None, _REFERENCE),
    ]


BENCHMARKS: list[Benchmark] = [
    *_masked_pair(
        "PartialConv2D(mask (...,1))",
        lambda: kcl.PartialConv2D(32, 3, padding="same", use_bias=True, data_format=_CL),
    ),
    *_masked_pair(
        "SparseConv2D(mask (...,1))",
        lambda: kcl.SparseConv2D(32, 3, padding="same", use_bias=True, data_format=_CL),
    ),
    # Informational: a per-channel mask, and the mask derived from x.
    *_masked_pair(
        "PartialConv2D(mask (...,C))",
        lambda: kcl.PartialConv2D(32, 3, padding="same", use_bias=True, data_format=_CL),
        mask_channels=32,
        train_target=None,
    ),
    *_masked_pair(
        "PartialConv2D(no mask)",
        lambda: kcl.PartialConv2D(32, 3, padding="same", use_bias=True, data_format=_CL),
        mask_channels=None,
        train_target=None,
    ),
]
