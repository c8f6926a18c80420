"""Peak memory of a DeformableConv2D step against a Conv2D step.

    python benchmarks/deformable_memory.py [--backend jax|torch|all]

Shapes and layers of `deformable.py` (batch 8, 64x64, 32 -> 32, k=3,
offsets ~ N(0, 2)).  For scale: the deformed im2col tensor of this shape
(B*H'*W'*kh*kw*C float32) is 37.7 MB, the layer's input 4.2 MB.

- torch: each row runs in a fresh child process (Linux only).  With
  ``MALLOC_MMAP_THRESHOLD_=65536`` every buffer of 64 KiB or more is its own
  mapping, returned to the system when freed (torch's CPU allocator does not
  cache), so the resident set follows the live buffers.  The step
  (``predict_on_batch``: forward; ``train_on_batch``: forward, backward and
  an SGD update) is warmed up twice, the kernel's high-water mark is reset
  (``/proc/self/clear_refs``), the step runs once, and the row reports the
  peak resident growth during it (``VmHWM`` minus the ``VmRSS`` before it).
- jax: XLA's own accounting of the compiled op (``memory_analysis()``: the
  temporary buffers plus the outputs) for `kcl.ops.deform_conv2d` (forward;
  value and gradients w.r.t. input, offsets and kernel) against
  ``lax.conv_general_dilated``; the XLA CPU runtime reuses its buffers, so
  the resident set cannot show them.
- tensorflow: not measured (its CPU allocator caches, and its XLA fast path
  compiles the same per-tap program).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BACKENDS = ("jax", "torch")
CASES = ("DeformableConv2D", "Conv2D")
STEPS = ("fwd", "fwd+bwd")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


def _child(case: str, step: str) -> dict:
    """Measures one (case, step) in this process (the backend is already set)."""
    import torch  # noqa: F401  (the RSS rows are torch's; before tensorflow, if installed)

    sys.path.insert(0, str(HERE))
    import deformable
    import keras
    import numpy as np
    from bench_utils import single_layer_model

    make = deformable._deformable_layer() if case == "DeformableConv2D" else deformable._reference
    model = single_layer_model(make(), deformable.INPUT_SHAPE)
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.standard_normal(deformable.INPUT_SHAPE).astype("float32"))
    y = keras.ops.convert_to_tensor(
        rng.standard_normal(tuple(model.output.shape)).astype("float32")
    )
    run = (
        (lambda: model.predict_on_batch(x))
        if step == "fwd"
        else (lambda: model.train_on_batch(x, y))
    )
    run()
    run()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kb("VmRSS")
    run()
    peak = _status_kb("VmHWM")
    return {"case": case, "step": step, "peak_mb": (peak - before) * 1024 / 1e6}


def _jax_op_memory() -> dict:
    """MB of temporaries + outputs of the compiled deform op and conv (jax)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import keras_cv_layers as kcl

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((8, 64, 64, 32)).astype("float32"))
    off = jnp.asarray(2.0 * rng.standard_normal((8, 64, 64, 18)).astype("float32"))
    kernel = jnp.asarray(0.05 * rng.standard_normal((3, 3, 32, 32)).astype("float32"))

    def deform(x, off, kernel):
        return kcl.ops.deform_conv2d(x, off, kernel, padding="same")

    def conv(x, off, kernel):
        dims = ("NHWC", "HWIO", "NHWC")
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=dims)

    def megabytes(fn):
        stats = jax.jit(fn).lower(x, off, kernel).compile().memory_analysis()
        return (stats.temp_size_in_bytes + stats.output_size_in_bytes) / 1e6

    rows = {}
    for name, fn in (("DeformableConv2D", deform), ("Conv2D", conv)):
        grad = jax.grad(lambda x, o, k, fn=fn: jnp.sum(fn(x, o, k)), argnums=(0, 1, 2))
        rows[(name, "fwd")] = megabytes(fn)
        rows[(name, "fwd+bwd")] = megabytes(grad)
    return rows


def _run_child(backend: str, *args: str, **env_extra: str):
    """The JSON that `--child *args` prints, run in a fresh process on `backend`."""
    env = dict(os.environ, KERAS_BACKEND=backend, **env_extra)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=(*BACKENDS, "all"), default="all")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "STEP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child[0] == "jax-op":
            rows = _jax_op_memory()
            print(json.dumps({f"{c}|{s}": v for (c, s), v in rows.items()}))
        else:
            print(json.dumps(_child(*args.child)))
        return 0
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    print(f"{'backend':<11} {'step':<8} {'DeformableConv2D MB':>20} {'Conv2D MB':>10} {'ratio':>7}")
    for backend in backends:
        if backend == "jax":
            op_rows = _run_child("jax", "jax-op", "-")
        for step in STEPS:
            if backend == "jax":
                peaks = {case: op_rows[f"{case}|{step}"] for case in CASES}
            else:
                peaks = {
                    case: _run_child(backend, case, step, MALLOC_MMAP_THRESHOLD_="65536")["peak_mb"]
                    for case in CASES
                }
            ratio = peaks["DeformableConv2D"] / max(peaks["Conv2D"], 1e-9)
            print(
                f"{backend:<11} {step:<8} {peaks['DeformableConv2D']:>20.1f} "
                f"{peaks['Conv2D']:>10.1f} {ratio:>7.2f}",
                flush=True,
            )
    print(
        "jax: the op alone (XLA temporaries + outputs); torch: the layer's step (peak RSS "
        "growth). im2col tensor of this shape: 37.7 MB; input: 4.2 MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
