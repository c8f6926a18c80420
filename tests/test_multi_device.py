"""Data-parallel training of a model made of the package's layers, through
the frameworks' own engines, on simulated CPU devices:

- JAX: `keras.distribution.DataParallel` over 4 XLA host devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=4``);
- TensorFlow: `tf.distribute.MirroredStrategy` over 2 logical CPU devices.

Each runs in a subprocess (`tests/multi_device_worker.py`: the device setup
must precede the framework's initialisation) and must give the same loss
trajectory and trained weights as a one-device run from the same weights.
A test skips when its framework is not installed.  CI runs them once, in the
``cross_backend`` nox session (marker ``multi_device``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.multi_device

# Reduction order differs between one device and several: float32 rounding.
RTOL = 1e-4


def _run_worker(backend: str) -> dict:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.multi_device_worker", backend],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{backend} worker failed:\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("KCL_RESULT ")]
    assert lines, f"no result from the {backend} worker:\n{proc.stdout[-2000:]}"
    return json.loads(lines[-1][len("KCL_RESULT ") :])


def _check_trajectories(result: dict) -> None:
    single, parallel = np.array(result["single"]), np.array(result["parallel"])
    assert single.shape == parallel.shape == (4,)
    assert np.all(np.isfinite(single)) and np.all(np.isfinite(parallel))
    np.testing.assert_allclose(parallel, single, rtol=RTOL, atol=1e-6)
    # Training happened (every weight tensor moved) and both runs end equal.
    assert result["min_weight_change"] > 1e-6
    assert result["weight_diff"] <= 1e-4


def test_jax_data_parallel_matches_one_device():
    result = _run_worker("jax")
    assert result["devices"] == 4
    assert result["replicated_on"] == 4, "variables are not replicated over the 4 devices"
    assert result["batch_devices"] == 4, "batches are not split over the 4 devices"
    _check_trajectories(result)


def test_tensorflow_mirrored_strategy_matches_one_device():
    result = _run_worker("tensorflow")
    assert result["devices"] == 2 and result["replicas"] == 2
    assert result["replicated_on"] == 2, "variables are not mirrored on the 2 devices"
    _check_trajectories(result)
