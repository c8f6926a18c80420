"""Test matrix: one session per backend, a channels_first torch session,
the cross-backend session (save/load across backends and multi-device
data-parallel training), the release build and lint.

    nox                      # everything (what CI runs)
    nox -s tests-jax         # one backend
    nox -s release           # wheel + sdist, twine check, fresh-venv install + demo
    nox -s export            # model.export (ONNX, TF SavedModel, LiteRT) on each backend
    nox -s docs              # mkdocs build --strict + the docs' code blocks
    nox -s lint

Each test session installs only keras + its backend + the test and demo extras, and
selects the backend the way Keras' own CI does: a per-session keras.json in
KERAS_HOME (backend and image_data_format).
"""

from __future__ import annotations

import json
import os

import nox

nox.options.sessions = [
    "lint",
    "cross_backend",
    *[f"tests-{config}" for config in ("jax", "tensorflow", "torch", "torch_channels_first")],
    "release",
    "export",
    "docs",
]

#: Tests that run in their own sessions, not in the per-backend suites.
SEPARATE_MARKERS = ("cross_backend", "multi_device", "release", "export")
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

#: session suffix -> (backend, extra, image_data_format)
MATRIX = {
    "jax": ("jax", "jax", "channels_last"),
    "tensorflow": ("tensorflow", "tensorflow", "channels_last"),
    "torch": ("torch", "torch", "channels_last"),
    "torch_channels_first": ("torch", "torch", "channels_first"),
}


def _keras_home(session: nox.Session, backend: str, data_format: str) -> str:
    home = os.path.join(session.create_tmp(), "keras_home")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "keras.json"), "w") as f:
        json.dump(
            {
                "backend": backend,
                "image_data_format": data_format,
                "floatx": "float32",
                "epsilon": 1e-07,
            },
            f,
        )
    return home


def _env(session: nox.Session, backend: str, data_format: str) -> dict:
    return {
        "KERAS_HOME": _keras_home(session, backend, data_format),
        # keras.json decides; an inherited KERAS_BACKEND would override it.
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONHASHSEED": "0",
        # One intra-op thread per pytest-xdist worker on torch: with torch's
        # default (one per core) the workers oversubscribe the cores, and the
        # torch suite took 154 s instead of 54 s on 2 cores.
        **({"OMP_NUM_THREADS": "1"} if backend == "torch" else {}),
    }


def _unit_test_env(session: nox.Session, backend: str, data_format: str) -> dict:
    """`_env` for the unit suites: XLA (JAX, and TensorFlow's jit_compile
    and nested XLA kernels) at backend optimization level 0.  The suites'
    tensors are tiny, so XLA's compile time is most of their time: on 2
    cores the JAX suite took ~15 min instead of ~22.  The other sessions
    (cross-backend, export, release) and the benchmarks keep the default
    level, which users get."""
    env = _env(session, backend, data_format)
    if backend in ("jax", "tensorflow"):
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_backend_optimization_level" not in flags:
            env["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level=0".strip()
    return env


def _pytest_status_ok(session: nox.Session, *args: str, env: dict) -> None:
    """Runs pytest; exit status 5 (no test collected) counts as success."""
    session.run("pytest", *args, env=env, success_codes=[0, 5])


def _tests(session: nox.Session, config: str) -> None:
    """The whole suite on one backend (separately-run tests excluded)."""
    backend, extra, data_format = MATRIX[config]
    # The demo extra (matplotlib) too, so that the examples' figures are drawn
    # and checked on every backend.
    session.install(f".[{extra},test,demo,experiments]")
    env = _unit_test_env(session, backend, data_format)
    session.run(
        "python",
        "-c",
        "import keras; print('backend:', keras.backend.backend(), keras.config.image_data_format())",
        env=env,
    )
    _pytest_status_ok(
        session,
        "-m",
        " and ".join(f"not {marker}" for marker in SEPARATE_MARKERS),
        "-n",
        os.environ.get("KCL_TEST_WORKERS", "2"),
        "-p",
        "no:cacheprovider",
        # The slowest tests in CI's log, to keep the suite lean.
        "--durations=15",
        *session.posargs,
        env=env,
    )


def _define_test_session(config: str) -> None:
    @nox.session(name=f"tests-{config}")
    def session_fn(session: nox.Session) -> None:
        _tests(session, config)

    session_fn.__doc__ = f"The suite on {config} (cross-backend/multi-device/release excluded)."


for _config in MATRIX:
    _define_test_session(_config)


@nox.session
def cross_backend(session: nox.Session) -> None:
    """Save under each backend, load under the two others; data-parallel
    training on 4 simulated JAX devices and 2 logical TensorFlow CPUs
    (all in subprocesses)."""
    session.install(".[all,test]")
    _pytest_status_ok(
        session,
        "-m",
        "cross_backend or multi_device",
        "-p",
        "no:cacheprovider",
        "-s",
        *session.posargs,
        env={"TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@nox.session
def export(session: nox.Session) -> None:
    """`model.export` of one model per layer family on each backend: ONNX run
    with onnxruntime, TF SavedModel reloaded by plain TensorFlow, LiteRT on
    TensorFlow (tests/export, marker `export`)."""
    session.install(".[all,test,export]")
    for backend in ("tensorflow", "jax", "torch"):
        _pytest_status_ok(
            session,
            "tests/export",
            "tests/examples/test_export.py",
            "-m",
            "export",
            "-p",
            "no:cacheprovider",
            "--durations=5",
            *session.posargs,
            env=_env(session, backend, "channels_last"),
        )


@nox.session
def release(session: nox.Session) -> None:
    """`python -m build` (wheel + sdist), `twine check`, then the wheel in a
    fresh venv (jax + demo extras) runs `keras-cv-layers demo --epochs 1 --small`."""
    session.install("build>=1", "twine>=5", "pytest>=8")
    # --noconftest: this session has no keras; the root conftest imports it.
    _pytest_status_ok(
        session,
        "tests/test_release.py",
        "-m",
        "release",
        "--noconftest",
        "-p",
        "no:cacheprovider",
        "-rs",
        *session.posargs,
        env={"TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run(
        "ruff", "check", "keras_cv_layers", "tests", "benchmarks", "conftest.py", "noxfile.py"
    )


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml, docs/): `mkdocs build --strict` (no
    warning, no broken link or anchor, every public name in the API
    reference), then every code block of docs/**/*.md (tests/docs) on JAX."""
    session.install(".[jax,docs,test]")
    env = {**_env(session, "jax", "channels_last"), "NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", env=env)
    session.run("pytest", "tests/docs", "-p", "no:cacheprovider", "-q", *session.posargs, env=env)


@nox.session(name="docs_browser")
def docs_browser(session: nox.Session) -> None:
    """Builds the site and opens every page in headless Chromium (the system's
    browser, CHROMIUM or /usr/bin/chromium, driven by Playwright; nothing is
    downloaded): no console error, no failed request, every image loaded, the
    search finds DeformableConv2D. Not in the default sessions."""
    session.install(".[jax,docs]", "playwright")
    env = {**_env(session, "jax", "channels_last"), "NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", env=env)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    session.run(
        "python", "docs/_check_browser.py", "--chromium", chromium, *session.posargs, env=env
    )
