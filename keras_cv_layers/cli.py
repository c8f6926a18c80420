"""Command-line interface: ``keras-cv-layers {info,demo,experiments,bench}``.

Also reachable as ``python -m keras_cv_layers``.

Keras fixes its backend when it is first imported, and importing this
package imports keras.  So ``--backend`` works as follows: if keras has not
been imported yet, ``KERAS_BACKEND`` is set before anything imports it; if it
has (always the case for the console script and ``python -m``, since the
package's ``__init__`` imports keras) and its backend is not the requested
one, the command is re-run in a child process with ``KERAS_BACKEND`` set and
its exit status is returned.  This module itself imports keras lazily.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

BACKENDS = ("jax", "tensorflow", "torch")
_REEXEC_MARKER = "KCL_CLI_REEXEC"

# Distribution names to try for each framework (first installed one wins).
_DISTRIBUTIONS = {
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "tensorflow": (
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-macos",
        "tensorflow-intel",
        "tf-nightly",
        "tf-nightly-cpu",
    ),
    "torch": ("torch",),
    "matplotlib": ("matplotlib",),
}


def installed_version(package: str) -> str:
    """Installed version of `package` (a key of `_DISTRIBUTIONS` or a
    distribution name), or ``"not installed"``; never imports it."""
    for dist in _DISTRIBUTIONS.get(package, (package,)):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        return version if dist == package else f"{version} ({dist})"
    return "not installed"


# ---------------------------------------------------------------- backends
def _select_backend(backend: str | None, argv: Sequence[str]) -> int | None:
    """Makes `backend` the Keras backend of this command.

    Returns None when the command may run in this process, or the exit
    status of a child process that ran it under the requested backend.
    """
    if backend is None:
        return None
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        return None
    import keras

    current = keras.backend.backend()
    if current == backend:
        return None
    if os.environ.get(_REEXEC_MARKER):
        print(
            f"error: asked for backend '{backend}' but keras started with '{current}' "
            "even with KERAS_BACKEND set.",
            file=sys.stderr,
        )
        return 1
    print(
        f"keras is already imported with backend '{current}': re-running under "
        f"KERAS_BACKEND={backend}",
        flush=True,
    )
    env = dict(os.environ, KERAS_BACKEND=backend, **{_REEXEC_MARKER: "1"})
    command = [sys.executable, "-m", "keras_cv_layers", *argv]
    return subprocess.call(command, env=env)


# ---------------------------------------------------------------- commands
def _cmd_info(args: argparse.Namespace) -> int:
    """Prints versions, the backend and the active backend fast paths."""
    import keras

    import keras_cv_layers
    from keras_cv_layers import backend_kernels

    backend = keras.backend.backend()
    rows = [
        ("keras_cv_layers", keras_cv_layers.__version__),
        ("keras", keras.__version__),
        ("backend", backend),
        ("image_data_format", keras.config.image_data_format()),
        ("floatx", keras.config.floatx()),
        ("jax", installed_version("jax")),
        ("tensorflow", installed_version("tensorflow")),
        ("torch", installed_version("torch")),
        ("matplotlib (figures)", installed_version("matplotlib")),
        ("python", sys.version.split()[0]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")

    enabled = backend_kernels.fast_paths_enabled()
    try:
        paths = backend_kernels.active_fast_paths()
    except ImportError as error:  # backend module present but unusable
        print(f"{'fast paths':<{width}}  unavailable ({error})")
        return 0
    state = "enabled" if enabled else "disabled (KCL_DISABLE_FAST_PATHS / set_fast_paths_enabled)"
    print(f"{'fast paths':<{width}}  {state}; {backend} kernels:")
    for name, has_fast_path in paths.items():
        used = "fast path" if has_fast_path and enabled else "generic keras.ops"
        if has_fast_path and not enabled:
            used += " (fast path available)"
        print(f"{'':<{width}}    {name}: {used}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """Runs every example (`keras_cv_layers.demo.run_all`) on the current
    backend; exit status 1 if one fails."""
    from keras_cv_layers.demo import DemoError, discover_examples, run_all

    if args.list:
        modules, errors = discover_examples()
        for name in sorted({*modules, *errors}):
            title = getattr(modules[name], "TITLE", "") if name in modules else "(import error)"
            print(f"{name:<16} {title}")
        return 0
    try:
        reports = run_all(
            epochs=args.epochs,
            out_dir=args.out,
            only=args.only,
            seed=args.seed,
            verbose=1 if args.verbose is None else args.verbose,
            small=args.small,
        )
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = [r.get("example", r.get("name")) for r in reports if not r.get("ok")]
    if failed:
        print(f"demo failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    if not reports:
        print("demo: no example to run", file=sys.stderr)
        return 1
    return 0


def _cmd_experiments(args: argparse.Namespace) -> int:
    """Runs the experiments on real data (`keras_cv_layers.experiments`) on
    the current backend; exit status 2 on bad arguments or a missing extra."""
    from keras_cv_layers.experiments import (
        ExperimentError,
        MissingDependencyError,
        run_experiments,
    )

    try:
        run_experiments(
            only=args.only,
            seeds=args.seeds,
            small=args.small,
            out_dir=args.out,
            verbose=args.verbose,
        )
    except (ExperimentError, MissingDependencyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def find_benchmark_runner() -> Path | None:
    """`benchmarks/run.py` of a source checkout (next to the package, or in
    the working directory), or None when it is not available."""
    candidates = [
        Path(__file__).resolve().parent.parent / "benchmarks" / "run.py",
        Path.cwd() / "benchmarks" / "run.py",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _cmd_bench(args: argparse.Namespace) -> int:
    """Runs the repository's benchmark runner in a child process."""
    runner = find_benchmark_runner()
    if runner is None:
        print(
            "The benchmarks are not available: they live in the 'benchmarks/' folder of a "
            "source checkout of keras-cv-layers and are not installed with the package.",
            file=sys.stderr,
        )
        return 1
    command = [sys.executable, str(runner)]
    if args.backend:
        command += ["--backend", args.backend]
    if args.repeats is not None:
        command += ["--repeats", str(args.repeats)]
    if args.filter:
        command += ["--filter", args.filter]
    results = runner.parent / "results"
    json_path = str(results / "bench.json") if args.json is None else args.json
    png_path = str(results / "bench_ratios.png") if args.png is None else args.png
    if json_path:
        command += ["--json", json_path]
    if png_path:
        command += ["--png", png_path]
    command += list(args.runner_args)
    return subprocess.call(command)


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``keras-cv-layers``."""
    parser = argparse.ArgumentParser(
        prog="keras-cv-layers",
        description="keras_cv_layers: computer-vision layers for Keras 3 "
        "(JAX, TensorFlow, PyTorch).",
    )
    sub = parser.add_subparsers(dest="command", metavar="{info,demo,experiments,bench}")

    info = sub.add_parser("info", help="versions, backend and active fast paths")
    info.add_argument("--backend", choices=BACKENDS, help="Keras backend to report on")
    info.set_defaults(func=_cmd_info)

    demo = sub.add_parser(
        "demo",
        help="train, save, reload and check every worked example; write figures",
        description="Runs the worked examples of keras_cv_layers.examples (synthetic data, "
        "Keras progress bars): each trains a small model built from the layers, saves it as "
        "OUT/<name>.keras, reloads and checks it and writes OUT/<name>.png (with matplotlib), "
        "then prints a summary table. Exit status 1 if an example fails.",
    )
    demo.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: current)")
    demo.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs of every example (default: each example's own)",
    )
    demo.add_argument(
        "--out", default="kcl_demo_output", help="output folder (default kcl_demo_output)"
    )
    demo.add_argument(
        "--only", nargs="+", metavar="NAME", default=None, help="run only these examples"
    )
    demo.add_argument(
        "--small", action="store_true", help="tiny configurations (seconds; for smoke tests)"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="model.fit verbosity (default 1: progress bars)",
    )
    demo.add_argument("--list", action="store_true", help="list the examples and exit")
    demo.set_defaults(func=_cmd_demo)

    from keras_cv_layers.experiments import EXPERIMENTS  # the names for --only

    experiments = sub.add_parser(
        "experiments",
        help="seeded experiments on real data (scikit-learn digits and photographs)",
        description="Runs small, seeded experiments on the real data that ships with "
        "scikit-learn (normalization, rotation, antialias, inpainting, deformable): each "
        "prints a table (mean +- std over the seeds) and writes OUT/<name>.json, "
        "OUT/<name>.md, OUT/<name>.png and OUT/results.json. Needs "
        "pip install 'keras-cv-layers[experiments]'.",
    )
    experiments.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: current)")
    experiments.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        choices=EXPERIMENTS,
        default=None,
        help=f"run only these experiments ({', '.join(EXPERIMENTS)})",
    )
    experiments.add_argument(
        "--seeds", type=int, default=3, help="number of seeds 0..N-1 (default 3)"
    )
    experiments.add_argument(
        "--small", action="store_true", help="tiny configurations (seconds; for smoke tests)"
    )
    experiments.add_argument(
        "--out", default="kcl_experiments", help="output folder (default kcl_experiments)"
    )
    experiments.add_argument(
        "--verbose", type=int, choices=(0, 1), default=1, help="0: silent (default 1)"
    )
    experiments.set_defaults(func=_cmd_experiments)

    bench = sub.add_parser(
        "bench",
        help="run benchmarks/run.py of a source checkout (fwd/bwd timings)",
        description="Runs benchmarks/run.py of a source checkout: prints one table of time "
        "ratios (layer / reference) per backend with their targets (and, with --backend all, "
        "all backends side by side), writes the rows as JSON and a PNG bar chart of ratio vs "
        "target. Other options (--threads, --check) are passed on to it.",
    )
    bench.add_argument(
        "--backend", choices=(*BACKENDS, "all"), help="backend, or 'all' (default: current)"
    )
    bench.add_argument("--repeats", type=int, default=None, help="timed repeats per benchmark")
    bench.add_argument("-k", "--filter", default=None, help="only benchmarks whose name has this")
    bench.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="write the rows here (default benchmarks/results/bench.json; '' for none)",
    )
    bench.add_argument(
        "--png",
        default=None,
        metavar="PATH",
        help="write the bar chart of ratio vs target here (default "
        "benchmarks/results/bench_ratios.png; '' for none; needs matplotlib)",
    )
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``keras-cv-layers``; returns the exit status.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.runner_args = extra
    if args.command is None:
        parser.print_help()
        return 2
    # TensorFlow's C++ start-up chatter (it may be imported lazily, e.g. by
    # Keras' data adapters, even on other backends) would drown the output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.command in ("info", "demo", "experiments"):
        status = _select_backend(args.backend, argv)
        if status is not None:
            return status
    return int(args.func(args) or 0)
