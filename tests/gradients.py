"""Backend-agnostic gradients for the tests (jax / tensorflow / torch).

- `value_and_grads(fn, *arrays)`: `fn` maps tensors to a scalar (written with
  `keras.ops`); returns `(value, [d value / d array, ...])` as numpy.
- `layer_value_and_grads(layer, x, loss=None)`: output of `layer(x)` and the
  gradients of `loss(output)` w.r.t. `x` and every trainable weight of the
  (built) layer, as numpy, keyed by the weight's `path`.

The backend framework is imported lazily, inside the functions.  A gradient
that the framework reports as disconnected comes back as `None` (tests treat
that as a failure: every tested input and weight is used).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tests.harness import to_numpy


def default_loss(y):
    """A scalar whose gradient depends on every output element."""
    y = ops.cast(y, "float32")
    return ops.sum(ops.square(y)) + ops.sum(y)


def _backend() -> str:
    return keras.backend.backend()


def value_and_grads(fn, *arrays):
    """`(fn(*arrays), [grad of fn w.r.t. each array])`, all numpy."""
    arrays = [np.asarray(a, dtype="float32") for a in arrays]
    backend = _backend()
    if backend == "jax":
        import jax

        tensors = [ops.convert_to_tensor(a) for a in arrays]
        argnums = tuple(range(len(tensors)))
        # One jit-compiled graph is much faster than op-by-op eager dispatch.
        value, grads = jax.jit(jax.value_and_grad(fn, argnums=argnums))(*tensors)
        return to_numpy(value), [to_numpy(g) for g in grads]
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in arrays]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors)
        return to_numpy(value), [to_numpy(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [ops.convert_to_tensor(a).detach().requires_grad_(True) for a in arrays]
        value = fn(*tensors)
        grads = torch.autograd.grad(value, tensors, allow_unused=True)
        return to_numpy(value.detach()), [to_numpy(g) for g in grads]
    raise NotImplementedError(f"No gradient helper for backend {backend!r}.")


def layer_value_and_grads(layer, x, loss=default_loss):
    """Returns `(y, loss_value, dloss/dx, {weight path: dloss/dweight})`.

    The layer is built (called once) if needed.
    """
    x = np.asarray(x, dtype="float32")
    if not layer.built:
        layer(x)
    weights = list(layer.trainable_variables)
    paths = [w.path for w in weights]
    backend = _backend()
    if backend == "jax":
        import jax

        non_trainable = [v.value for v in layer.non_trainable_variables]

        def f(trainable, inputs):
            y, _ = layer.stateless_call(trainable, non_trainable, inputs)
            return loss(y), y

        grad_fn = jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))
        (value, y), (g_w, g_x) = grad_fn([w.value for w in weights], ops.convert_to_tensor(x))
        g_w = list(g_w)
    elif backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
            value = loss(y)
        grads = tape.gradient(value, [xt] + [w.value for w in weights])
        g_x, g_w = grads[0], list(grads[1:])
    elif backend == "torch":
        import torch

        xt = ops.convert_to_tensor(x).detach().requires_grad_(True)
        params = [w.value for w in weights]
        for p in params:
            assert isinstance(p, torch.Tensor) and p.requires_grad, p
        y = layer(xt)
        value = loss(y)
        grads = torch.autograd.grad(value, [xt] + params, allow_unused=True)
        g_x, g_w = grads[0], list(grads[1:])
        y, value = y.detach(), value.detach()
    else:
        raise NotImplementedError(f"No gradient helper for backend {backend!r}.")
    return to_numpy(y), to_numpy(value), to_numpy(g_x), dict(zip(paths, [to_numpy(g) for g in g_w]))


def assert_all_finite(y, value, g_x, g_w, expected_weights=None):
    """Asserts output, loss and every gradient exist and are finite."""
    assert np.all(np.isfinite(y)), "non-finite output"
    assert np.all(np.isfinite(value)), "non-finite loss"
    assert g_x is not None, "no gradient w.r.t. the input"
    assert np.all(np.isfinite(g_x)), "non-finite input gradient"
    if expected_weights is not None:
        names = sorted(p.split("/")[-1] for p in g_w)
        assert names == sorted(expected_weights), names
    for path, g in g_w.items():
        assert g is not None, f"no gradient w.r.t. {path}"
        assert np.all(np.isfinite(g)), f"non-finite gradient w.r.t. {path}"


def degenerate_conv_case(layer, x: np.ndarray, situation: str) -> np.ndarray:
    """Builds `layer` on `x` and sets up a degenerate case; returns the input.

    `"zero_kernel"`: the kernel is all zeros. `"constant_input"`: a random
    kernel and an all-ones input.
    """
    layer(x)
    if situation == "zero_kernel":
        layer.kernel.assign(np.zeros(layer.kernel.shape, "float32"))
        return x
    if situation != "constant_input":
        raise ValueError(f"unknown situation {situation!r}")
    rng = np.random.default_rng(7)
    layer.kernel.assign(rng.normal(size=layer.kernel.shape).astype("float32"))
    return np.ones_like(x)
