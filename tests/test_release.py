"""Release check: ``python -m build`` makes a wheel and an sdist whose
metadata passes ``twine check``; the wheel installs into a fresh virtual
environment (no system site-packages, only the ``jax`` and ``demo`` extras,
so no multi-GB torch download; pip's cache is reused) and its
``keras-cv-layers demo --epochs 1 --small`` runs every example there, away
from the source tree.

Slow (about 2-3 minutes, needs the package registries for keras/jax): it
runs only when selected with ``-m release`` (``nox -s release`` in CI).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.release


def _run(command: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, (
        f"{' '.join(command)} exited with {proc.returncode}:\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def dist(request, tmp_path_factory):
    markexpr = request.config.option.markexpr or ""
    if "release" not in markexpr or "not release" in markexpr:
        pytest.skip("slow release check: run it with -m release (nox -s release)")
    pytest.importorskip("build", reason="needs the 'build' package (pip install build)")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), ROOT])
    return out


def _only(pattern: str, folder) -> str:
    found = glob.glob(os.path.join(str(folder), pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {found}"
    return found[0]


def test_build_makes_wheel_and_sdist(dist):
    wheel = _only("keras_cv_layers-*-py3-none-any.whl", dist)
    _only("keras_cv_layers-*.tar.gz", dist)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "keras-cv-layers = keras_cv_layers.cli:main" in archive.read(entry_points).decode()
    for required in (
        "keras_cv_layers/__init__.py",
        "keras_cv_layers/py.typed",
        "keras_cv_layers/demo.py",
        "keras_cv_layers/examples/classification.py",
        "keras_cv_layers/backend_kernels/deformable/jax.py",
        "keras_cv_layers/ops/_deformable_kernels.py",
    ):
        assert required in names, f"{required} missing from the wheel"
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/"))]


def test_twine_check(dist):
    pytest.importorskip("twine", reason="needs the 'twine' package (pip install twine)")
    files = sorted(glob.glob(os.path.join(str(dist), "*")))
    proc = _run([sys.executable, "-m", "twine", "check", "--strict", *files])
    assert proc.stdout.count("PASSED") == len(files), proc.stdout


def test_wheel_installs_in_fresh_venv_and_demo_runs(dist, tmp_path):
    wheel = _only("keras_cv_layers-*-py3-none-any.whl", dist)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = str(bindir / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        KERAS_BACKEND="jax",
        KERAS_HOME=str(tmp_path / "keras_home"),
        TF_CPP_MIN_LOG_LEVEL="3",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    _run([python, "-m", "pip", "install", "--quiet", f"{wheel}[jax,demo]"], env=env, timeout=900)
    work = tmp_path / "work"  # away from the source tree: the installed copy is imported
    work.mkdir()
    proc = _run(
        [
            python,
            "-c",
            "import keras_cv_layers as k, keras; print(k.__file__, keras.backend.backend())",
        ],
        env=env,
        cwd=work,
    )
    assert str(venv) in proc.stdout and "jax" in proc.stdout, proc.stdout

    out = work / "demo_out"
    proc = _run(
        [str(bindir / "keras-cv-layers"), "demo", "--epochs", "1", "--small", "--out", str(out)],
        env=env,
        cwd=work,
        timeout=900,
    )
    assert "demo summary" in proc.stdout
    with open(out / "summary.json") as f:
        summary = json.load(f)
    assert summary["backend"] == "jax"
    examples = summary["examples"]
    assert examples and all(r["ok"] for r in examples), examples
    for report in examples:
        assert os.path.isfile(report["model_path"]), report
        assert report["figure_path"] and os.path.isfile(report["figure_path"]), report
