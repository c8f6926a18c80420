"""Helpers shared by the masked-layer tests."""

from __future__ import annotations

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.layers.masked.sparse_conv import BaseSparseConv
from tests import numpy_reference as ref
from tests.gradients import default_loss, value_and_grads
from tests.harness import to_numpy  # noqa: F401  (re-exported)
from tests.masked import reference as mref


def mode(layer_or_class) -> str:
    """The reference's name of a masked layer's variant: "sparse",
    "partial" or "depthwise"."""
    cls = layer_or_class if isinstance(layer_or_class, type) else type(layer_or_class)
    if issubclass(cls, kcl.PartialDepthwiseConv2D):
        return "depthwise"
    return "sparse" if issubclass(cls, BaseSparseConv) else "partial"


def rand(rng, *shape, scale=1.0):
    return (rng.normal(size=shape) * scale).astype("float32")


def random_mask(rng, shape, binary=True, hole=True):
    """About 40% valid (binary) or uniform in [0, 1], with an all-invalid
    corner block so that some windows see no valid input at all."""
    mask = (rng.random(shape) < 0.4) if binary else rng.random(shape)
    mask = mask.astype("float32")
    if hole:
        block = (slice(None),) + tuple(slice(0, max(1, s // 2 + 1)) for s in shape[1:-1])
        mask[block] = 0.0
    return mask


def randomize(layer, rng):
    """Assigns random weights; returns them (float64) by short name."""
    out = {}
    for w in layer.weights:
        name = w.path.split("/")[-1]
        if name == "wn_g":
            value = np.linspace(0.5, 2.0, w.shape[0]).astype("float32")
            value[1 % len(value)] *= -1
        else:
            value = rand(rng, *w.shape)
        w.assign(value)
        out[name] = value.astype(np.float64)
    return out


def effective_kernel(layer, weights):
    kernel = weights["kernel"]
    if layer.weightnorm:
        if mode(layer) == "depthwise":
            return ref.depthwise_weightnorm_kernel(kernel, weights["wn_g"], layer.eps)
        return ref.weightnorm_kernel(kernel, weights["wn_g"], layer.eps)
    if layer.equalize:
        fan_in = np.prod(kernel.shape[:2] if mode(layer) == "depthwise" else kernel.shape[:-1])
        return ref.equalize_kernel(kernel, fan_in)
    return kernel


def reference_outputs(layer, weights, x, mask, activation=None):
    """(y, mask_out) of the numpy reference, channels_last inputs."""
    return mref.masked_conv(
        x,
        mask,
        effective_kernel(layer, weights),
        mode(layer),
        bias=weights.get("bias"),
        strides=layer.strides,
        padding=layer.padding,
        dilation_rate=layer.dilation_rate,
        groups=getattr(layer, "groups", 1),
        activation=activation,
        binary=layer.binary,
        eps=layer.eps,
    )


def call(layer, x, mask=None):
    """`[y, mask_out]` as numpy.  On JAX through one jit-compiled stateless
    call (much faster than op-by-op eager dispatch on tiny shapes)."""
    inputs = x if mask is None else [x, mask]
    if not layer.built:
        layer.build(x.shape if mask is None else [x.shape, mask.shape])
    if keras.backend.backend() != "jax":
        return [to_numpy(t) for t in layer(inputs)]
    import jax

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    fn = jax.jit(lambda t, n, i: layer.stateless_call(t, n, i)[0])
    return [to_numpy(t) for t in fn(trainable, non_trainable, inputs)]


def masked_grads(layer, x, mask):
    """Loss over both outputs and its gradients w.r.t. x, mask and every
    trainable weight (by short name); all numpy."""
    weights = layer.trainable_variables
    non_trainable = [v.value for v in layer.non_trainable_variables]
    names = [w.path.split("/")[-1] for w in weights]

    def fn(x, mask, *values):
        (y, m), _ = layer.stateless_call(list(values), non_trainable, [x, mask])
        return default_loss(y) + default_loss(m)

    values = [to_numpy(w.value) for w in weights]
    value, grads = value_and_grads(fn, x, mask, *values)
    return value, grads[0], grads[1], dict(zip(names, grads[2:]))
