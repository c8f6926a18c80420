"""Subprocess of `tests/test_multi_device.py`: trains a small model made of
the package's layers on one device and data-parallel on several simulated
CPU devices, and prints the two loss trajectories as JSON.

    python -m tests.multi_device_worker jax         # 4 XLA host devices, DataParallel
    python -m tests.multi_device_worker tensorflow  # 2 logical CPUs, MirroredStrategy

The device setup has to happen before the framework initialises (XLA_FLAGS
before jax is imported, logical devices before TensorFlow runs an op), hence
the subprocess.  Both runs start from the same weights and see the same
batches in the same order; the model has no batch-dependent layer, so data
parallelism changes only the order of floating-point reductions.
"""

from __future__ import annotations

import json
import os
import sys

JAX_DEVICES = 4
TF_DEVICES = 2
STEPS = 4
BATCH = 8
_CL = "channels_last"


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((STEPS * BATCH, 8, 8, 3)).astype("float32")
    y = rng.standard_normal((STEPS * BATCH, 4)).astype("float32")
    return x, y


def build_model():
    """kcl.Conv2D(weightnorm) -> kcl.WSConv2D -> kcl.LayerNormalization -> Dense."""
    import keras

    import keras_cv_layers as kcl

    inputs = keras.Input((8, 8, 3))
    x = kcl.Conv2D(8, 3, padding="same", weightnorm=True, use_bias=True, data_format=_CL)(inputs)
    x = kcl.WSConv2D(8, 3, padding="same", activation="relu", data_format=_CL)(x)
    x = kcl.LayerNormalization(data_format=_CL)(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=_CL)(x)
    outputs = keras.layers.Dense(4)(x)
    return keras.Model(inputs, outputs)


def _initial_weights():
    import keras

    keras.utils.set_random_seed(0)
    return [w.copy() for w in build_model().get_weights()]


def _train(model, x, y):
    """Compiles with SGD and returns the loss of each step (one step per epoch,
    so that each value is that step's own loss, not a running mean)."""
    import keras

    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    losses = []
    for step in range(STEPS):
        batch = slice(step * BATCH, (step + 1) * BATCH)
        history = model.fit(
            x[batch], y[batch], batch_size=BATCH, epochs=1, verbose=0, shuffle=False
        )
        losses.append(float(history.history["loss"][0]))
    return losses


def _compare_weights(initial, single, parallel) -> dict:
    """Largest difference of the trained weights between the two runs, and the
    smallest change of any weight tensor from its initial value."""
    import numpy as np

    single_w = single.get_weights()
    parallel_w = [np.asarray(w) for w in parallel.get_weights()]
    return {
        "weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(single_w, parallel_w)),
        "min_weight_change": min(float(np.max(np.abs(a - b))) for a, b in zip(single_w, initial)),
    }


def run_jax() -> dict:
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={JAX_DEVICES}"
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras

    devices = jax.devices("cpu")
    assert len(devices) == JAX_DEVICES, devices
    x, y = _data()
    weights = _initial_weights()

    single = build_model()
    single.set_weights(weights)
    single_losses = _train(single, x, y)

    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices("cpu"))
    keras.distribution.set_distribution(distribution)
    try:
        parallel = build_model()
        parallel.set_weights(weights)
        # The variables are replicated over all devices...
        kernel = parallel.layers[1].kernel.value
        replicated_on = len(kernel.sharding.device_set)
        parallel_losses = _train(parallel, x, y)
        # ...and each batch is split over them.
        batch_layout = distribution.get_data_layout((BATCH, 8, 8, 3))
        sharded = keras.distribution.distribute_tensor(x[:BATCH], batch_layout)
        batch_devices = len(sharded.sharding.device_set)
    finally:
        keras.distribution.set_distribution(None)
    return {
        "devices": len(devices),
        "replicated_on": replicated_on,
        "batch_devices": batch_devices,
        "single": single_losses,
        "parallel": parallel_losses,
        **_compare_weights(weights, single, parallel),
    }


def run_tensorflow() -> dict:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(TF_DEVICES)]
    )
    logical = tf.config.list_logical_devices("CPU")
    assert len(logical) == TF_DEVICES, logical
    x, y = _data()
    weights = _initial_weights()

    single = build_model()
    single.set_weights(weights)
    single_losses = _train(single, x, y)

    strategy = tf.distribute.MirroredStrategy([d.name for d in logical])
    with strategy.scope():
        parallel = build_model()
        parallel.set_weights(weights)
        kernel = parallel.layers[1].kernel.value
        replicated_on = len(getattr(kernel, "values", [kernel]))
        parallel_losses = _train(parallel, x, y)
    return {
        "devices": len(logical),
        "replicas": strategy.num_replicas_in_sync,
        "replicated_on": replicated_on,
        "single": single_losses,
        "parallel": parallel_losses,
        **_compare_weights(weights, single, parallel),
    }


def main(argv: list[str]) -> int:
    backend = argv[0]
    result = {"jax": run_jax, "tensorflow": run_tensorflow}[backend]()
    print("KCL_RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
