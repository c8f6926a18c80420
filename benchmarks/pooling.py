"""Pooling benchmarks: argmax pooling and unpooling against MaxPooling2D.

Input: batch 8, 128x128, 32 channels, float32, channels_last.  Each entry
times a one-layer model against ``keras.layers.MaxPooling2D(2)`` on the same
input tensor, in the same loop.  The unpooling entries unpool precomputed
`(pooled, indices)` (of a 2x2 pooling of that input: the dense path), against
MaxPooling2D on the full input; ``MaxUnpooling2D fwd vs UpSampling2D`` times
the same unpooling against ``keras.layers.UpSampling2D(2)`` of the pooled
tensor (the same output size).

Forward passes are timed two ways:

- ``fwd`` (the targets): the forward pass compiled as ``predict`` compiles
  it, up to the computed output tensor (`bench_utils.device_forward`);
- ``fwd, predict_on_batch`` (informational): the same plus Keras' copy of the
  output into a new numpy array (JAX, TensorFlow).  The unpooling's output is
  4x the reference's, so that copy alone is a large part of the reference's
  time.  The row ``Unpool-size UpSampling2D fwd, predict_on_batch`` measures
  Keras' own layer with that output size the same way.

The layers have no weights, so the fwd+bwd entries (``train_on_batch``:
forward, backward, SGD update) put a per-channel `kcl.Scale` in front of both
models, to make the step back-propagate through the pooling.

On TensorFlow there are informational rows for the seed's route
(``tf.nn.max_pool_with_argmax`` + ``tf.scatter_nd``), compiled the same way.
"""

from __future__ import annotations

import keras
import numpy as np
from bench_utils import (
    Benchmark,
    Measurement,
    device_forward,
    layer_pair_benchmarks,
    single_layer_model,
    time_interleaved,
)

import keras_cv_layers as kcl

INPUT_SHAPE = (8, 128, 128, 32)
_CL = "channels_last"
_REFERENCE = "keras.layers.MaxPooling2D(2)"


def _reference() -> keras.layers.Layer:
    return keras.layers.MaxPooling2D(2, data_format=_CL)


@keras.saving.register_keras_serializable(package="kcl_benchmarks")
class _PooledValues(keras.layers.Layer):
    """MaxPoolingWithArgmax2D's values only (so that MSE applies)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.pool = kcl.MaxPoolingWithArgmax2D(2, data_format=_CL)

    def call(self, x):
        return self.pool(x)[0]


def _scale() -> keras.layers.Layer:
    return kcl.Scale(use_shift=False, data_format=_CL)


def _pooled_inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(INPUT_SHAPE).astype("float32")
    pooled, indices = kcl.ops.max_pool_with_argmax2d(x, 2, data_format=_CL)
    return x, keras.ops.convert_to_numpy(pooled), keras.ops.convert_to_numpy(indices)


def _forward_benchmarks(
    name: str, setup, target: float | None, reference: str = _REFERENCE
) -> list[Benchmark]:
    """A ``fwd`` entry (`device_forward`, checked against `target`) and an
    informational ``fwd, predict_on_batch`` entry.  `setup()` returns
    ``(model, inputs, ref_model, ref_inputs)``."""
    forwards: dict[str, object] = {}

    def run_device(repeats: int) -> Measurement:
        model, inputs, ref, ref_inputs = setup()
        if not forwards:
            forwards.update(ours=device_forward(model), ref=device_forward(ref))
        ours, theirs = forwards["ours"], forwards["ref"]
        return time_interleaved(lambda: ours(inputs), lambda: theirs(ref_inputs), repeats)

    def run_predict(repeats: int) -> Measurement:
        model, inputs, ref, ref_inputs = setup()
        return time_interleaved(
            lambda: model.predict_on_batch(inputs),
            lambda: ref.predict_on_batch(ref_inputs),
            repeats,
        )

    return [
        Benchmark(f"{name} fwd", run_device, target, reference),
        Benchmark(f"{name} fwd, predict_on_batch", run_predict, None, reference),
    ]


def _argmax_forward_benchmarks() -> list[Benchmark]:
    cache: dict[str, object] = {}

    def setup():
        if not cache:
            x = keras.ops.convert_to_tensor(_pooled_inputs()[0])
            cache["models"] = (
                single_layer_model(_PooledValues(), INPUT_SHAPE),
                x,
                single_layer_model(_reference(), INPUT_SHAPE),
                x,
            )
        return cache["models"]

    return _forward_benchmarks("MaxPoolingWithArgmax2D", setup, 2.0)


def _unpool_benchmarks() -> list[Benchmark]:
    cache: dict[str, object] = {}

    def setup():
        if not cache:
            x, pooled, indices = _pooled_inputs()
            v_in = keras.Input(pooled.shape[1:], batch_size=pooled.shape[0])
            i_in = keras.Input(indices.shape[1:], batch_size=indices.shape[0], dtype="int32")
            model = keras.Model([v_in, i_in], kcl.MaxUnpooling2D(2, data_format=_CL)([v_in, i_in]))
            model.compile(optimizer="sgd", loss="mse")
            scaled = _scale()(v_in)
            train_model = keras.Model(
                [v_in, i_in], kcl.MaxUnpooling2D(2, data_format=_CL)([scaled, i_in])
            )
            train_model.compile(optimizer="sgd", loss="mse")
            ref = single_layer_model(_reference(), INPUT_SHAPE)
            upsampling = single_layer_model(
                keras.layers.UpSampling2D(2, data_format=_CL), pooled.shape
            )
            r_in = keras.Input(INPUT_SHAPE[1:], batch_size=INPUT_SHAPE[0])
            ref_train = keras.Model(r_in, _reference()(_scale()(r_in)))
            ref_train.compile(optimizer="sgd", loss="mse")
            cache.update(
                model=model,
                ref=ref,
                upsampling=upsampling,
                train_model=train_model,
                ref_train=ref_train,
                inputs=[keras.ops.convert_to_tensor(pooled), keras.ops.convert_to_tensor(indices)],
                pooled=keras.ops.convert_to_tensor(pooled),
                x=keras.ops.convert_to_tensor(x),
                y=keras.ops.convert_to_tensor(np.zeros(INPUT_SHAPE, "float32")),
                y_ref=keras.ops.convert_to_tensor(np.zeros(pooled.shape, "float32")),
            )
        return cache

    def forward_setup():
        c = setup()
        return c["model"], c["inputs"], c["ref"], c["x"]

    def run_upsampling(repeats: int) -> Measurement:
        # Keras' own layer with the unpooling's output size: what the
        # numpy copy of `predict_on_batch` costs against the reference.
        c = setup()
        return time_interleaved(
            lambda: c["upsampling"].predict_on_batch(c["pooled"]),
            lambda: c["ref"].predict_on_batch(c["x"]),
            repeats,
        )

    def run_vs_upsampling(repeats: int) -> Measurement:
        # The issue's measure: against Keras' UpSampling2D(2) of the same
        # pooled tensor (the same output size), both as `device_forward`.
        c = setup()
        if "forwards" not in c:
            c["forwards"] = (device_forward(c["model"]), device_forward(c["upsampling"]))
        ours, theirs = c["forwards"]
        return time_interleaved(lambda: ours(c["inputs"]), lambda: theirs(c["pooled"]), repeats)

    def run_train(repeats: int) -> Measurement:
        # Both models get a per-channel Scale in front, so that the training
        # step back-propagates through the (weightless) pooling layers.
        c = setup()
        return time_interleaved(
            lambda: c["train_model"].train_on_batch(c["inputs"], c["y"]),
            lambda: c["ref_train"].train_on_batch(c["x"], c["y_ref"]),
            repeats,
        )

    return [
        *_forward_benchmarks("MaxUnpooling2D", forward_setup, 1.5),
        Benchmark(
            "Unpool-size UpSampling2D fwd, predict_on_batch", run_upsampling, None, _REFERENCE
        ),
        Benchmark(
            "MaxUnpooling2D fwd vs UpSampling2D",
            run_vs_upsampling,
            1.5,
            "keras.layers.UpSampling2D(2) on the pooled tensor",
        ),
        Benchmark("Scale+MaxUnpooling2D fwd+bwd", run_train, None, "Scale+" + _REFERENCE),
    ]


def _seed_route_benchmarks() -> list[Benchmark]:
    """TF only: the seed's `tf.nn.max_pool_with_argmax` + `tf.scatter_nd`."""
    if keras.backend.backend() != "tensorflow":
        return []
    import tensorflow as tf

    cache: dict[str, object] = {}

    def setup():
        if not cache:
            x, pooled, indices = _pooled_inputs()
            b, h, w, c = INPUT_SHAPE

            @tf.function
            def seed_pool(x):
                return tf.nn.max_pool_with_argmax(x, 2, 2, "SAME", include_batch_in_index=False)

            @tf.function
            def seed_unpool(v, i):
                i = tf.cast(i, tf.int64) + tf.range(b, dtype=tf.int64)[:, None, None, None] * (
                    h * w * c
                )
                out = tf.scatter_nd(tf.reshape(i, (-1, 1)), tf.reshape(v, (-1,)), (b * h * w * c,))
                return tf.reshape(out, INPUT_SHAPE)

            ours_pool = kcl.MaxPoolingWithArgmax2D(2, data_format=_CL)
            ours_unpool = kcl.MaxUnpooling2D(2, data_format=_CL)
            ref = _reference()
            cache.update(
                x=tf.constant(x),
                v=tf.constant(pooled),
                i=tf.constant(indices),
                seed_pool=seed_pool,
                seed_unpool=seed_unpool,
                ours_pool=tf.function(lambda x: ours_pool(x)),
                ours_unpool=tf.function(lambda v, i: ours_unpool([v, i])),
                ref=tf.function(lambda x: ref(x)),
            )
        return cache

    def run(kind: str):
        def go(repeats: int) -> Measurement:
            c = setup()
            if kind == "seed_pool":
                step = lambda: c["seed_pool"](c["x"])[0].numpy()  # noqa: E731
            elif kind == "seed_unpool":
                step = lambda: c["seed_unpool"](c["v"], c["i"]).numpy()  # noqa: E731
            elif kind == "ours_vs_seed_pool":
                return time_interleaved(
                    lambda: c["ours_pool"](c["x"])[0].numpy(),
                    lambda: c["seed_pool"](c["x"])[0].numpy(),
                    repeats,
                )
            else:
                return time_interleaved(
                    lambda: c["ours_unpool"](c["v"], c["i"]).numpy(),
                    lambda: c["seed_unpool"](c["v"], c["i"]).numpy(),
                    repeats,
                )
            return time_interleaved(step, lambda: c["ref"](c["x"]).numpy(), repeats)

        return go

    return [
        Benchmark("seed tf.nn.max_pool_with_argmax fwd", run("seed_pool"), None, _REFERENCE),
        Benchmark("seed tf.scatter_nd unpool fwd", run("seed_unpool"), None, _REFERENCE),
        Benchmark(
            "MaxPoolingWithArgmax2D vs seed fwd", run("ours_vs_seed_pool"), None, "seed route"
        ),
        Benchmark("MaxUnpooling2D vs seed fwd", run("ours_vs_seed_unpool"), None, "seed route"),
    ]


BENCHMARKS: list[Benchmark] = [
    # Forward of the layer alone.
    *_argmax_forward_benchmarks(),
    # Training step through the pooling: a per-channel Scale in front of both.
    layer_pair_benchmarks(
        "Scale+MaxPoolingWithArgmax2D",
        lambda: keras.Sequential([_scale(), _PooledValues()]),
        lambda: keras.Sequential([_scale(), _reference()]),
        INPUT_SHAPE,
        train_target=None,
        reference="Scale+" + _REFERENCE,
    )[0],
    *_unpool_benchmarks(),
    *_seed_route_benchmarks(),
]
