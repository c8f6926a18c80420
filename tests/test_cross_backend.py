"""A `.keras` file saved under one backend loads under the others (≤ 1e-5).

Needs jax, tensorflow and torch in one environment (`nox -s cross_backend`);
each backend runs in its own subprocess.
"""

import importlib.util
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

BACKENDS = ("jax", "tensorflow", "torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.cross_backend


def _run(backend, *args):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.cross_backend_model", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{backend} {args[0]} failed:\n{proc.stderr[-4000:]}"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    missing = [b for b in BACKENDS if importlib.util.find_spec(b) is None]
    assert not missing, f"cross-backend test needs all backends; missing {missing}"
    directory = str(tmp_path_factory.mktemp("cross_backend"))
    for backend in BACKENDS:
        _run(backend, "save", directory)
    for target in BACKENDS:
        _run(target, "load", directory, *[b for b in BACKENDS if b != target])
    return directory


def test_saving_backends_agree(saved):
    outs = {b: np.load(os.path.join(saved, f"{b}_out.npy")) for b in BACKENDS}
    # Same seeds, same layers: the freshly built models differ (initialisers
    # are backend RNGs), so compare only that each output is finite here.
    for b, y in outs.items():
        assert np.all(np.isfinite(y)), b


@pytest.mark.parametrize("source,target", list(itertools.permutations(BACKENDS, 2)))
def test_load_under_other_backend(saved, source, target):
    expected = np.load(os.path.join(saved, f"{source}_out.npy"))
    actual = np.load(os.path.join(saved, f"{source}_loaded_by_{target}.npy"))
    assert actual.shape == expected.shape
    # 1e-5 relative to the output scale: a deep float32 stack run by three
    # different conv/reduction implementations cannot agree closer than its
    # accumulated rounding (~1e-6 of the largest value).
    scale = max(1.0, float(np.max(np.abs(expected))))
    diff = float(np.max(np.abs(actual - expected)))
    assert diff <= 1e-5 * scale, f"max diff {diff:.3g} at output scale {scale:.3g}"
    print(f"{source} -> {target}: max abs diff {diff:.3g} (output scale {scale:.3g})")
