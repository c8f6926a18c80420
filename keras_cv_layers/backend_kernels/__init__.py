"""Dispatch point between the generic `keras.ops` kernels and backend fast paths.

Every kernel has a generic implementation in `generic.py` written with
`keras.ops`; it defines the numbers.  A backend module
(`jax_kernels.py`, `tensorflow_kernels.py`, `torch_kernels.py`) may define a
function of the same name and signature.  `dispatch(name, ...)` calls the
backend function when there is one; the backend function may *decline* a
case by returning `NotImplemented` (an unsupported dtype or data format, say),
and the generic kernel then runs — the pattern of Keras' cuDNN LSTM fast path.

Fast paths are tested equal to the generic kernels
(`tests/backend_kernels/test_dispatch.py`).  Set the environment variable
`KCL_DISABLE_FAST_PATHS=1`, or call `set_fast_paths_enabled(False)`, to force
the generic kernels.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import keras

from keras_cv_layers.backend_kernels import generic

_BACKEND_MODULES = {
    "jax": "keras_cv_layers.backend_kernels.jax_kernels",
    "tensorflow": "keras_cv_layers.backend_kernels.tensorflow_kernels",
    "torch": "keras_cv_layers.backend_kernels.torch_kernels",
}

_enabled = os.environ.get("KCL_DISABLE_FAST_PATHS", "") not in ("1", "true", "True")


def set_fast_paths_enabled(enabled: bool) -> None:
    """Globally enables or disables the backend fast paths."""
    global _enabled
    _enabled = bool(enabled)


def fast_paths_enabled() -> bool:
    return _enabled


def kernel_names() -> tuple[str, ...]:
    """Names of all kernels (each has a generic implementation)."""
    return tuple(generic.KERNELS)


def backend_module(backend: str | None = None) -> ModuleType | None:
    """The fast-path module of `backend` (default: the current one)."""
    backend = backend or keras.backend.backend()
    name = _BACKEND_MODULES.get(backend)
    return importlib.import_module(name) if name else None


def fast_path(name: str, backend: str | None = None) -> Callable | None:
    """The backend's fast path for kernel `name`, or None."""
    if name not in generic.KERNELS:
        raise ValueError(f"Unknown kernel {name!r}; known: {kernel_names()}.")
    module = backend_module(backend)
    return getattr(module, name, None) if module is not None else None


def generic_kernel(name: str) -> Callable:
    if name not in generic.KERNELS:
        raise ValueError(f"Unknown kernel {name!r}; known: {kernel_names()}.")
    return getattr(generic, name)


def dispatch(name: str, *args: Any, **kwargs: Any) -> Any:
    """Runs kernel `name`: the backend fast path if it accepts, else generic."""
    if _enabled:
        fn = fast_path(name)
        if fn is not None:
            result = fn(*args, **kwargs)
            if result is not NotImplemented:
                return result
    return generic_kernel(name)(*args, **kwargs)


def active_fast_paths(backend: str | None = None) -> dict[str, bool]:
    """`{kernel name: whether the backend has a fast path}`."""
    return {name: fast_path(name, backend) is not None for name in kernel_names()}
