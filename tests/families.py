"""The test families: each `tests/<family>/` holds that family's harness
cases (`cases.py`: `CASES`), fast-path cases (`kernel_cases.py`:
`KERNEL_CASES`, optional `KERNEL_REFERENCES`), functional-op cases
(`op_cases.py`: `OP_CASES`), numpy references and tests.  The shared
batteries (`test_layer_harness.py`, `backend_kernels/test_dispatch.py`,
`ops/test_functional_ops.py`) collect them all with `collect`."""

from __future__ import annotations

import importlib
import pathlib

FAMILIES = (
    "activations",
    "blocks",
    "convolutional",
    "core",
    "deformable",
    "equivariant",
    "masked",
    "normalization",
    "pooling",
    "regularization",
    "wrappers",
)

_HERE = pathlib.Path(__file__).parent


def collect(module: str, attr: str, default=None):
    """`attr` of every `tests/<family>/<module>.py`: lists concatenated,
    dicts merged (a key defined by two families is an error)."""
    merged = None
    for family in FAMILIES:
        if not (_HERE / family / f"{module}.py").exists():
            continue
        value = getattr(importlib.import_module(f"tests.{family}.{module}"), attr, default)
        if value is None:
            continue
        if merged is None:
            merged = type(value)()
        if isinstance(value, dict):
            assert not set(value) & set(merged), (family, module, set(value) & set(merged))
            merged.update(value)
        else:
            merged += value
    return merged
