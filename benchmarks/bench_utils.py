"""Shared helpers of the benchmarks: the registry entry type and the timers.

A benchmark module (e.g. `conv.py`) exposes ``BENCHMARKS``, a list of
`Benchmark` entries; `run.py` lists the modules in ``MODULES``.  An entry's
``run(repeats)`` returns a `Measurement`: the median time of the measured
step and of a reference step, timed in the same loop, alternating.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np


@dataclass
class Measurement:
    """Median (and best) milliseconds of the measured step and its reference."""

    time_ms: float
    reference_ms: float
    repeats: int
    min_ms: float = float("nan")
    reference_min_ms: float = float("nan")
    paired_ratio: float = float("nan")

    @property
    def ratio(self) -> float:
        """Median time / median reference time (the number checked against targets)."""
        return self.time_ms / self.reference_ms

    @property
    def min_ratio(self) -> float:
        """Best time / best reference time: less sensitive to a busy machine."""
        return self.min_ms / self.reference_min_ms


@dataclass
class Benchmark:
    """One registry entry.

    Attributes:
        name: row label.
        run: ``run(repeats) -> Measurement``.
        target: largest acceptable ratio (time / reference), or None for an
            informational row.
        reference: label of the reference.
    """

    name: str
    run: Callable[[int], Measurement]
    target: float | None = None
    reference: str = ""


def time_interleaved(
    step: Callable[[], object],
    reference: Callable[[], object],
    repeats: int,
    warmup: int = 5,
) -> Measurement:
    """Medians of `step` and `reference`, called alternately (the order
    flips every repeat) so that machine noise hits both alike.  Also the
    median of the per-repeat ratios (each step against the reference timed
    right next to it), which cancels slow drifts of the machine's load.

    Each callable must block until its result is computed (the Keras
    `*_on_batch` methods return numpy values, which does).
    """
    for _ in range(warmup):
        step()
        reference()
    times: dict[int, list[float]] = {0: [], 1: []}
    fns = (step, reference)
    for i in range(repeats):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            start = time.perf_counter()
            fns[which]()
            times[which].append(time.perf_counter() - start)
    return Measurement(
        time_ms=1e3 * statistics.median(times[0]),
        reference_ms=1e3 * statistics.median(times[1]),
        repeats=repeats,
        min_ms=1e3 * min(times[0]),
        reference_min_ms=1e3 * min(times[1]),
        paired_ratio=statistics.median(a / b for a, b in zip(times[0], times[1])),
    )


def device_forward(model: keras.Model) -> Callable[[object], object]:
    """``f(x)``: `model`'s forward pass compiled as Keras' ``predict`` compiles
    it (``jax.jit`` on JAX, ``tf.function`` with the model's ``jit_compile``
    on TensorFlow, ``torch.no_grad`` on torch), returning the backend's own
    output tensor once it is computed.

    ``predict_on_batch`` also copies the output into a new numpy array on
    JAX and TensorFlow (torch hands a view), a cost set by the output's size,
    not by the layer; this timer leaves that copy out.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        call = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])

        def forward(x):
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            return jax.block_until_ready(call(trainable, non_trainable, x))

        return forward
    if backend == "tensorflow":
        import tensorflow as tf

        call = tf.function(lambda x: model(x, training=False), jit_compile=bool(model.jit_compile))

        def forward(x):
            out = call(x)
            tf.test.experimental.sync_devices()
            return out

        return forward
    if backend == "torch":
        import torch

        def forward(x):
            with torch.no_grad():
                out = model(x, training=False)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return out

        return forward
    return lambda x: model(x, training=False)


def single_layer_model(
    layer: keras.layers.Layer, input_shape: tuple[int, ...], jit_compile: str | bool = "auto"
) -> keras.Model:
    """``Input(input_shape) -> layer``, compiled with SGD and MSE."""
    inputs = keras.Input(input_shape[1:], batch_size=input_shape[0])
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    return model


def layer_pair_benchmarks(
    name: str,
    make_layer: Callable[[], keras.layers.Layer],
    make_reference: Callable[[], keras.layers.Layer],
    input_shape: tuple[int, ...],
    train_target: float | None = 1.10,
    predict_target: float | None = None,
    reference: str = "",
    seed: int = 0,
) -> list[Benchmark]:
    """A fwd+bwd (`train_on_batch`) and a forward (`predict_on_batch`) entry
    comparing `make_layer()` with `make_reference()` on one input batch.

    Models are built lazily (on first run) and shared by the two entries.
    """
    cache: dict[str, object] = {}

    def setup() -> dict[str, object]:
        if not cache:
            rng = np.random.default_rng(seed)
            x = rng.standard_normal(input_shape).astype("float32")
            model = single_layer_model(make_layer(), input_shape)
            ref_model = single_layer_model(make_reference(), input_shape)
            y_np = rng.standard_normal(model.output.shape).astype("float32")
            if tuple(model.output.shape) != tuple(ref_model.output.shape):
                raise ValueError(f"{name}: output shapes differ from the reference's.")
            cache.update(
                model=model,
                ref_model=ref_model,
                x=keras.ops.convert_to_tensor(x),
                y=keras.ops.convert_to_tensor(y_np),
            )
        return cache

    def run_train(repeats: int) -> Measurement:
        c = setup()
        model, ref, x, y = c["model"], c["ref_model"], c["x"], c["y"]
        return time_interleaved(
            lambda: model.train_on_batch(x, y), lambda: ref.train_on_batch(x, y), repeats
        )

    def run_predict(repeats: int) -> Measurement:
        c = setup()
        model, ref, x = c["model"], c["ref_model"], c["x"]
        return time_interleaved(
            lambda: model.predict_on_batch(x), lambda: ref.predict_on_batch(x), repeats
        )

    return [
        Benchmark(f"{name} fwd+bwd", run_train, train_target, reference),
        Benchmark(f"{name} fwd", run_predict, predict_target, reference),
    ]
