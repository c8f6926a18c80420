"""Peak memory of one training step, ours against ``keras.layers.Conv2D``.

    python benchmarks/memory.py [--backend jax|tensorflow|torch|all]
                                [--json FILE] [--check] [--repeats N]

One model per row, ``Input -> layer`` compiled with SGD and MSE
(``bench_utils.single_layer_model``, ``jit_compile="auto"``), input
(8, 128, 128, 64) float32, channels_last:

- reference: ``keras.layers.Conv2D(64, 3, padding="same")``;
- ``kcl.DeformableConv2D(64, 3, padding="same")``, its offset kernel set to
  N(0, (2 / sqrt(3*3*64))^2) so that the offsets are ~ N(0, 2) (the
  sampling pattern of a trained layer; zeros would sample the grid);
- ``kcl.MultiHeadedSpatialAttention(64, 7, heads=8)``.

What is measured (the same on every backend): the **peak resident-set
growth of one training step** (``train_on_batch``: forward, backward and
the SGD update) over the resident set just before it.  Each (backend,
layer) runs in a fresh child process (Linux only) with
``MALLOC_MMAP_THRESHOLD_=65536``: every buffer of 64 KiB or more is then its
own mapping, which glibc returns to the system as soon as it is freed, so
the resident set follows the live buffers instead of the high-water mark of
malloc's heap.  The step is warmed up twice (compilation, first-call
allocations), then measured ``--repeats`` times (default 3), each time: the
kernel's high-water mark is reset (``/proc/self/clear_refs``), ``VmRSS`` is
read, the step runs (it returns numpy values: it has finished), ``VmHWM`` is
read; the row reports the median of ``VmHWM - VmRSS``.  So it counts
everything the step allocates on top of the model's persistent state
(weights, optimizer slots, the batch, compiled programs): the activations
kept for the backward pass, gradients, temporaries, and the outputs.

Why this works on all three backends: on the CPU, XLA (JAX, and
TensorFlow's ``jit_compile`` functions), TensorFlow and PyTorch take each
step's large buffers from malloc and free them when they die; none keeps a
pool of large blocks across steps (the measured steps repeat to the page;
checked against XLA's buffer assignment of the former TensorFlow
deformable backward, whose temporaries and outputs, 470.8 MB, were its
measured growth to 0.1 MB).  Neither XLA's ``memory_analysis()``
(a compile-time plan of one program, JAX only; the Keras step is several
programs on TensorFlow) nor ``tf.config.experimental.get_memory_info``
(GPU only) covers all three.  Page-granular, and it includes whatever a
framework maps during the step (thread stacks, small-object arenas: a few
MB at most, alike for every row of a backend), so ratios are meaningful to
~5 %; TensorFlow's graph executor runs independent ops concurrently, so
its peaks may differ by ~10 % between processes (rerun a close call).  (This replaces ``deformable_memory.py``, which read XLA's plan of
the op alone on JAX and skipped TensorFlow.)

Targets: DeformableConv2D <= 2.0x and MultiHeadedSpatialAttention <= 3.0x the
Conv2D step, on every backend.  ``--check`` exits with status 1 when a
target is missed.  For scale: the batch is 33.6 MB; so is one
(8, 128, 128, 64) float32 activation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("jax", "tensorflow", "torch")
INPUT_SHAPE = (8, 128, 128, 64)
REFERENCE = "Conv2D"
#: Row name -> (constructor source, target ratio to the Conv2D step or None).
CASES = {
    "Conv2D": ('keras.layers.Conv2D(64, 3, padding="same")', None),
    "DeformableConv2D": ('kcl.DeformableConv2D(64, 3, padding="same")', 2.0),
    "MultiHeadedSpatialAttention": ("kcl.MultiHeadedSpatialAttention(64, 7, heads=8)", 3.0),
}
OFFSET_STD = 2.0
_MMAP_THRESHOLD = "65536"


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def _make_layer(case: str):
    import keras
    import numpy as np

    import keras_cv_layers as kcl

    if case == "Conv2D":
        return keras.layers.Conv2D(64, 3, padding="same", data_format="channels_last")
    if case == "MultiHeadedSpatialAttention":
        return kcl.MultiHeadedSpatialAttention(64, 7, heads=8, data_format="channels_last")
    layer = kcl.DeformableConv2D(64, 3, padding="same", data_format="channels_last")
    layer.build(INPUT_SHAPE)
    std = OFFSET_STD / np.sqrt(3 * 3 * INPUT_SHAPE[-1])
    rng = np.random.default_rng(1)
    layer.offset_kernel.assign(
        rng.normal(scale=std, size=layer.offset_kernel.shape).astype("float32")
    )
    return layer


def _child(case: str, repeats: int) -> dict:
    """Measures one layer's step in this process (the backend already set)."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401  (before tensorflow: the other order can crash)
    import gc

    sys.path.insert(0, str(HERE))
    import keras
    import numpy as np
    from bench_utils import single_layer_model

    model = single_layer_model(_make_layer(case), INPUT_SHAPE)
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.standard_normal(INPUT_SHAPE).astype("float32"))
    y = rng.standard_normal(tuple(model.output.shape)).astype("float32")
    y = keras.ops.convert_to_tensor(y)
    for _ in range(2):
        model.train_on_batch(x, y)
    peaks = []
    for _ in range(repeats):
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kb("VmRSS")
        model.train_on_batch(x, y)
        peaks.append((_status_kb("VmHWM") - before) * 1024 / 1e6)
    return {"case": case, "peak_mb": statistics.median(peaks), "all_mb": peaks}


def _run_child(backend: str, case: str, repeats: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, MALLOC_MMAP_THRESHOLD_=_MMAP_THRESHOLD)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    command = [sys.executable, __file__, "--child", case, "--repeats", str(repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{backend} {case}: child failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(backend: str, repeats: int) -> list[dict]:
    """The rows of one backend (each layer in its own process), printed."""
    peaks = {case: _run_child(backend, case, repeats) for case in CASES}
    reference = peaks[REFERENCE]["peak_mb"]
    print(f"\n== {backend}: peak RSS growth of one train step, input {INPUT_SHAPE} float32")
    header = f"{'layer':<46} {'peak MB':>9} {'/ Conv2D':>9} {'target':>8}  ok"
    print(header)
    print("-" * len(header))
    rows = []
    for case, (source, target) in CASES.items():
        peak = peaks[case]["peak_mb"]
        ratio = peak / max(reference, 1e-9)
        ok = None if target is None else ratio <= target
        shown = "-" if target is None else f"<={target:.1f}"
        verdict = "" if ok is None else ("yes" if ok else "NO")
        print(f"{source:<46} {peak:>9.1f} {ratio:>9.2f} {shown:>8}  {verdict}", flush=True)
        rows.append(
            {
                "backend": backend,
                "layer": case,
                "source": source,
                "peak_mb": peak,
                "repeats_mb": peaks[case]["all_mb"],
                "ratio": ratio,
                "target": target,
                "ok": ok,
            }
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "all"), default="all")
    parser.add_argument("--repeats", type=int, default=3, help="measured steps (median)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a target is missed"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.repeats)))
        return 0
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    rows = []
    for backend in backends:
        rows.extend(measure(backend, args.repeats))
    print(
        "\npeak MB: median over the measured steps of the peak resident-set growth during "
        "the step (VmHWM after it - VmRSS before it), fresh process per row, "
        f"MALLOC_MMAP_THRESHOLD_={_MMAP_THRESHOLD}."
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
        print(f"rows: {args.json}")
    missed = [r for r in rows if r["ok"] is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
