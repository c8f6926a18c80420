"""The base of the package's ops: Keras operations, as `keras.ops.*` are.

An op's static arguments (window sizes, padding, data format) are its
constructor's, normalized and validated once, and form its config; its
tensors are the arguments of `call`.  `compute_output_spec` gives the
`KerasTensor` of symbolic inputs, after the same shape checks as `call`,
so a bad shape raises `ValueError` when a functional model is built.

The public function of an op (`kcl.ops.max_unpool2d`, ...) builds the
operation and, like Keras' own ops, runs its computation directly on
concrete (or traced) tensors and records a node only for `KerasTensor`
inputs (`run`).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_cv_layers.utils.serialization import PACKAGE

OPS_PACKAGE = f"{PACKAGE}.ops"


def register_op(cls: type) -> type:
    """Registers an op class for `.keras` files (`keras_cv_layers.ops>Name`)."""
    return keras.saving.register_keras_serializable(package=OPS_PACKAGE)(cls)


def any_symbolic(*values: Any) -> bool:
    """Whether any (nested) value is a `keras.KerasTensor`."""
    return any(isinstance(v, keras.KerasTensor) for v in keras.tree.flatten(values))


def static_shape(x) -> tuple:
    """The shape of `x` as a tuple of ints and None."""
    return tuple(None if d is None else int(d) for d in x.shape)


class Operation(keras.Operation):
    """A package op.  Subclasses set `self.arguments` (the normalized static
    arguments, by constructor name) in `__init__` and implement `call` and
    `compute_output_spec`."""

    arguments: dict

    def get_config(self) -> dict:
        return {"name": self.name, **self.arguments}


def run(operation: Operation, *tensors: Any) -> Any:
    """`operation(*tensors)`: a symbolic node for `KerasTensor` inputs, the
    computation itself otherwise."""
    if any_symbolic(tensors):
        return operation.symbolic_call(*tensors)
    return operation.call(*(None if t is None else ops.convert_to_tensor(t) for t in tensors))


def is_empty_batch(x) -> bool:
    """Whether `x` statically holds 0 examples.  Some kernels reject an
    empty batch (TF's and torch's reflect padding, reductions without an
    identity); ops short-circuit it with `ops.zeros` of the output shape."""
    if len(x.shape) == 0:
        return False
    batch = x.shape[0]
    # A symbolic batch (JAX shape polymorphism, as in ONNX export) is not
    # statically empty; comparing it would raise.
    return isinstance(batch, int) and batch == 0
