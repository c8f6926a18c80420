"""torchvision's CPU `deform_conv2d` against this package's torch kernel.

Not part of the registry (torchvision rarely imports beside the main
environment's torch): run it with an interpreter that has torch and
torchvision (keras is needed only for the package rows):

    KERAS_BACKEND=torch PYTHONPATH=. python benchmarks/deformable_torchvision.py

Shapes of `deformable.py`: batch 8, 64x64, 32 -> 32 channels, k=3, padding 1,
offsets ~ N(0, 2) (std 2), float32.  Rows (median ms of interleaved
repeats, and the ratio to `torch.nn.functional.conv2d` on the same NCHW
tensors, timed in the same loop):

- torchvision.ops.deform_conv2d, forward and forward+backward (gradients of
  input, offsets and weight);
- kcl.ops.deform_conv2d (channels_first, the torch fast path), the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def _time(fns: dict, repeats: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict = {name: [] for name in fns}
    names = list(fns)
    for i in range(repeats):
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    b, c, h, w, f = 8, 32, 64, 64, 32
    x = torch.randn(b, c, h, w, requires_grad=True)
    weight = (torch.randn(f, c, 3, 3) * 0.05).requires_grad_(True)
    offsets = (torch.randn(b, 18, h, w) * 2.0).requires_grad_(True)
    kernel_keras = weight.detach().permute(2, 3, 1, 0).contiguous().requires_grad_(True)

    def conv_fwd():
        with torch.no_grad():
            return F.conv2d(x, weight, padding=1)

    def conv_train():
        F.conv2d(x, weight, padding=1).square().mean().backward()

    fns_fwd = {"conv2d": conv_fwd}
    fns_train = {"conv2d": conv_train}
    try:
        import torchvision

        def tv_fwd():
            with torch.no_grad():
                return torchvision.ops.deform_conv2d(x, offsets, weight, padding=1)

        def tv_train():
            torchvision.ops.deform_conv2d(x, offsets, weight, padding=1).square().mean().backward()

        fns_fwd["torchvision"] = tv_fwd
        fns_train["torchvision"] = tv_train
    except ImportError:
        print("torchvision not importable: no torchvision rows")
    try:
        sys.path.insert(0, os.getcwd())
        import keras_cv_layers as kcl

        def kcl_call():
            return kcl.ops.deform_conv2d(
                x, offsets, kernel_keras, padding="same", data_format="channels_first"
            )

        def kcl_fwd():
            with torch.no_grad():
                return kcl_call()

        def kcl_train():
            kcl_call().square().mean().backward()

        fns_fwd["keras_cv_layers"] = kcl_fwd
        fns_train["keras_cv_layers"] = kcl_train
    except ImportError as error:
        print(f"keras_cv_layers not importable ({error}): no package rows")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.repeats} repeats")
    for label, fns in (("fwd", fns_fwd), ("fwd+bwd", fns_train)):
        result = _time(fns, args.repeats)
        ref = result["conv2d"]
        for name, ms in result.items():
            print(f"{name:<18} {label:<8} {ms:9.2f} ms  {ms / ref:7.2f} x conv2d")
        if "torchvision" in result and "keras_cv_layers" in result:
            ratio = result["keras_cv_layers"] / result["torchvision"]
            print(f"keras_cv_layers / torchvision {label}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
