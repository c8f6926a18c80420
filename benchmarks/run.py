"""Benchmark runner: ``python benchmarks/run.py [--backend B|all] [--repeats N]``.

Runs every entry of the registry (``BENCHMARKS`` of each module in
``MODULES``) on the current Keras backend (``KERAS_BACKEND`` / keras.json),
or on the one given with ``--backend``; ``--backend all`` runs itself once
per backend in child processes.  Prints one table per backend: the median
time of the measured step, of the reference timed in the same loop, their
ratio and the target ratio; with ``--backend all`` also one table of the
ratios of all backends side by side with the targets.  ``--json PATH``
writes the rows, ``--png PATH`` a bar chart of ratio vs target per benchmark
and backend (needs matplotlib; see ``report.py``).  A benchmark that raises is
reported as an error row and makes the exit status 1.

To add benchmarks: write a module here exposing ``BENCHMARKS`` (a list of
``bench_utils.Benchmark``) and add its name to ``MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("jax", "tensorflow", "torch")
MODULES = (
    "conv",
    "masked",
    "pooling",
    "group_conv",
    "deformable",
    "blocks",
    "additions",
    "inference",
)
_CHILD_MARKER = "KCL_BENCH_CHILD"


def _prepare_backend(backend: str | None, threads: int | None = None) -> None:
    """Sets KERAS_BACKEND (before keras is imported), the thread count if
    given, and imports torch before tensorflow when both are installed (the
    other order can segfault)."""
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
            os.environ[name] = str(threads)
        if threads == 1:
            flags = os.environ.get("XLA_FLAGS", "")
            os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    if "keras" in sys.modules and backend:
        import keras

        if keras.backend.backend() != backend:
            raise RuntimeError(f"keras already imported with backend {keras.backend.backend()}")
    if importlib.util.find_spec("torch") is not None:
        import torch

        if threads:
            torch.set_num_threads(threads)


def _framework_version(backend: str) -> str:
    if backend == "jax":
        import jax

        return jax.__version__
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.__version__
    if backend == "torch":
        import torch

        return torch.__version__
    return "?"


def collect(modules: Sequence[str] = MODULES, pattern: str | None = None) -> list:
    """The registry: all ``BENCHMARKS`` entries, optionally filtered by name."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    entries = []
    for name in modules:
        entries.extend(importlib.import_module(name).BENCHMARKS)
    if pattern:
        entries = [e for e in entries if pattern.lower() in e.name.lower()]
    return entries


def run_current_backend(
    repeats: int, pattern: str | None = None, threads: int | None = None
) -> list[dict]:
    """Runs the registry on the current backend, prints a table, returns rows."""
    import keras

    backend = keras.backend.backend()
    print(
        f"\n== backend {backend} ({_framework_version(backend)}), keras {keras.__version__}, "
        f"median of {repeats} interleaved repeats, jit_compile='auto', "
        f"threads={threads or 'default'}",
        flush=True,
    )
    header = (
        f"{'name':<46} {'time ms':>9} {'ref ms':>9} {'ratio':>7} {'target':>7}  {'ok':<3}"
        f" {'paired':>7} {'min':>6}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for entry in collect(pattern=pattern):
        target = "-" if entry.target is None else f"<={entry.target:.2f}"
        try:
            result = entry.run(repeats)
        except Exception as error:  # one broken entry must not hide the others
            message = f"{type(error).__name__}: {error}"
            print(
                f"{entry.name:<46} {'ERROR':>9} {'':>9} {'':>7} {target:>7}  {message}", flush=True
            )
            rows.append(
                {
                    "backend": backend,
                    "name": entry.name,
                    "ratio": None,
                    "target": entry.target,
                    "reference": entry.reference,
                    "repeats": repeats,
                    "error": message,
                }
            )
            continue
        ok = "" if entry.target is None else ("yes" if result.ratio <= entry.target else "NO")
        print(
            f"{entry.name:<46} {result.time_ms:>9.2f} {result.reference_ms:>9.2f} "
            f"{result.ratio:>7.3f} {target:>7}  {ok:<3} {result.paired_ratio:>7.3f} {result.min_ratio:>6.3f}",
            flush=True,
        )
        rows.append(
            {
                "backend": backend,
                "name": entry.name,
                "time_ms": result.time_ms,
                "reference_ms": result.reference_ms,
                "ratio": result.ratio,
                "min_ms": result.min_ms,
                "reference_min_ms": result.reference_min_ms,
                "min_ratio": result.min_ratio,
                "paired_ratio": result.paired_ratio,
                "target": entry.target,
                "reference": entry.reference,
                "repeats": repeats,
            }
        )
    references = sorted({e["reference"] for e in rows if e["reference"]})
    for reference in references:
        print(f"reference: {reference}")
    print(
        "ratio = median / reference median (checked against the target); paired = median of "
        "the per-repeat ratios; min = best / best reference."
    )
    return rows


def _finish(rows: list[dict], args: argparse.Namespace, side_by_side: bool) -> None:
    """Writes the JSON rows and the PNG chart; prints the side-by-side table."""
    import report

    if side_by_side and rows:
        print("\n== ratios side by side (targets from the benchmark registry)")
        print(report.side_by_side_table(rows), flush=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
        if not os.environ.get(_CHILD_MARKER):  # a child's rows go to its parent
            print(f"rows: {args.json}")
    if args.png:
        written = report.write_bar_chart(rows, args.png)
        if written:
            print(f"bar chart: {written}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (1 if a benchmark raised, or with
    --check if a target is missed)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "all"), default=None)
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats (default 30)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (OMP/MKL/TF intra-op, torch; 1 also single-threads XLA). "
        "Default: the frameworks' own choice. 1 gives steadier numbers on a busy machine.",
    )
    parser.add_argument("-k", "--filter", default=None, help="only entries whose name has this")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument(
        "--png",
        default=None,
        help="also write a bar chart of ratio vs target per benchmark and backend (matplotlib)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a ratio misses its target"
    )
    args = parser.parse_args(argv)

    if args.backend == "all":
        status = 0
        rows: list[dict] = []
        for backend in BACKENDS:
            command = [sys.executable, str(Path(__file__).resolve()), "--backend", backend]
            command += ["--repeats", str(args.repeats)]
            if args.filter:
                command += ["--filter", args.filter]
            if args.threads:
                command += ["--threads", str(args.threads)]
            if args.check:
                command.append("--check")
            # Each child writes its rows to a temporary file, merged here.
            fd, json_path = tempfile.mkstemp(prefix=f"kcl_bench_{backend}_", suffix=".json")
            os.close(fd)
            os.remove(json_path)
            command += ["--json", json_path]
            env = dict(os.environ, KERAS_BACKEND=backend, **{_CHILD_MARKER: "1"})
            code = subprocess.call(command, env=env)
            if code:
                print(f"[{backend}] exited with status {code}", flush=True)
                status = status or code
            if os.path.exists(json_path):
                with open(json_path) as f:
                    rows.extend(json.load(f))
                os.remove(json_path)
        _finish(rows, args, side_by_side=True)
        return status

    _prepare_backend(args.backend, args.threads)
    rows = run_current_backend(args.repeats, args.filter, args.threads)
    _finish(rows, args, side_by_side=False)
    errors = [r for r in rows if r.get("error")]
    missed = [
        r
        for r in rows
        if r["target"] is not None and r["ratio"] is not None and r["ratio"] > r["target"]
    ]
    return 1 if errors or (args.check and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
