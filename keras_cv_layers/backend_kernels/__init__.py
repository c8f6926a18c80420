"""Backend fast paths of the package's ops, by family.

Every op of `keras_cv_layers.ops` is defined by its `keras.ops` math, which
lives with the op.  A backend may have a faster native route for some of
its kernels: those live here, one package per family (`conv`, `deformable`,
`pooling`, `attention`), one module per backend (`<family>/jax.py`,
`<family>/tensorflow.py`, `<family>/torch.py`), the shape of Keras'
`keras/src/backend/<name>/nn.py`.

Each family package declares its fast paths as `FastPath` objects
(`conv.conv`, `deformable.deform_conv2d`, ...).  An op names the object it
may use by importing it, and decorates its generic kernel with
`with_fast_path(...)`: a call then runs the current backend's function of
that name when the backend module has one and it accepts the case, and the
generic kernel otherwise.  A fast path *declines* a case by returning
`NotImplemented` (an unsupported dtype or data format, a graph it cannot be
traced into), the pattern of Keras' cuDNN LSTM fast path.

While a model is being exported (`model.export(...)` in any format, or
torch's ONNX/TorchScript/`torch.export` tracers) every fast path declines,
so the exported graph holds only the generic `keras.ops` math: nothing in
it needs this package, and no backend-private construct (an XLA-compiled
inner function, a `torch.autograd.Function`, a size read as a Python int)
reaches the exporter.  See `is_exporting`.

Fast paths are tested equal to their generic kernels
(`tests/backend_kernels/`).  Set the environment variable
`KCL_DISABLE_FAST_PATHS=1`, or call `set_fast_paths_enabled(False)`, to run
the generic kernels only.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import keras

_enabled = os.environ.get("KCL_DISABLE_FAST_PATHS", "") not in ("1", "true", "True")

#: Every declared fast path, in declaration order.
_FAST_PATHS: list[FastPath] = []


def set_fast_paths_enabled(enabled: bool) -> None:
    """Globally enables or disables the backend fast paths."""
    global _enabled
    _enabled = bool(enabled)


def fast_paths_enabled() -> bool:
    """Whether backend fast paths are used (see `set_fast_paths_enabled`)."""
    return _enabled


#: Where Keras' exporters live (`keras/src/export/*.py`): a call made from
#: inside one of them is part of an export trace.
_KERAS_EXPORT_DIR = os.sep + os.path.join("keras", "src", "export") + os.sep


def is_exporting() -> bool:
    """Whether the current call is being traced for export.

    On torch: inside `torch.onnx.export`, `torch.export` or
    `torch.jit.trace`.  On JAX and TensorFlow, whose exporters trace the
    model with the ordinary tracing machinery: when a function of Keras'
    export package (`model.export`, `keras.export.ExportArchive`) is on the
    call stack.  Tracing for export happens once per exported function, so
    the stack walk costs nothing at inference.
    """
    if keras.backend.backend() == "torch":
        import torch

        return bool(
            torch.onnx.is_in_onnx_export()
            or torch.compiler.is_exporting()
            or torch.jit.is_tracing()
        )
    frame = sys._getframe(1)
    while frame is not None:
        if _KERAS_EXPORT_DIR in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


@functools.cache
def _backend_module(package: str, backend: str):
    """`<package>.<backend>` imported, or None where the family has no
    module for that backend."""
    name = f"{package}.{backend}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


class FastPath:
    """The backend fast paths of one kernel: the function `name` of the
    current backend's module in the family package `package`.

    Calling it runs that function, or returns `NotImplemented` when fast
    paths are disabled, the backend has none, or the function declines.
    `generic` is the kernel's reference `keras.ops` math (set by
    `with_fast_path`).
    """

    def __init__(self, package: str, name: str):
        self.package = package
        self.name = name
        self.generic: Callable | None = None
        _FAST_PATHS.append(self)

    def __repr__(self) -> str:
        return f"FastPath({self.package.rsplit('.', 1)[-1]}.{self.name})"

    def implementation(self, backend: str | None = None) -> Callable | None:
        """The backend's function (default: the current backend), or None."""
        module = _backend_module(self.package, backend or keras.backend.backend())
        return None if module is None else getattr(module, self.name, None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not _enabled or is_exporting():
            return NotImplemented
        fn = self.implementation()
        return NotImplemented if fn is None else fn(*args, **kwargs)


def with_fast_path(fast_path: FastPath) -> Callable[[Callable], Callable]:
    """Decorates the generic kernel of `fast_path`: the decorated function
    runs the fast path when it accepts the call, else the generic kernel
    (available as `.generic`; `.fast_path` is the `FastPath`)."""

    def decorate(generic: Callable) -> Callable:
        fast_path.generic = generic

        @functools.wraps(generic)
        def run(*args: Any, **kwargs: Any) -> Any:
            result = fast_path(*args, **kwargs)
            if result is NotImplemented:
                result = generic(*args, **kwargs)
            return result

        run.generic = generic
        run.fast_path = fast_path
        return run

    return decorate


def all_fast_paths() -> tuple[FastPath, ...]:
    """Every declared fast path (the family packages imported)."""
    from keras_cv_layers.backend_kernels import attention, conv, deformable, pooling  # noqa: F401

    return tuple(_FAST_PATHS)


def active_fast_paths(backend: str | None = None) -> dict[str, bool]:
    """`{"family.kernel": whether the backend has a fast path}`."""
    return {
        f"{fp.package.rsplit('.', 1)[-1]}.{fp.name}": fp.implementation(backend) is not None
        for fp in all_fast_paths()
    }
