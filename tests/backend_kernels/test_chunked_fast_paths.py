"""The fast paths that split large inputs into chunks (to bound the memory of
a training step, benchmarks/memory.py) give the generic kernels' values and
gradients when they do split: their chunk size is forced down to a few
pixels or images here (the dispatch cases of test_dispatch.py are too small
to be split)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_cv_layers.backend_kernels import attention as attention_kernels
from keras_cv_layers.backend_kernels import deformable as deformable_kernels
from keras_cv_layers.ops import _attention_kernels, _deformable_kernels
from tests.deformable.kernel_cases import KERNEL_CASES as DEFORM_CASES
from tests.gradients import value_and_grads

_BACKEND = keras.backend.backend()


def _module(fast_path):
    """The current backend's module of `fast_path` (None: none)."""
    fn = fast_path.implementation()
    if fn is None:
        return None
    import sys

    return sys.modules[fn.__module__]


def _check(fast, generic, arrays, out_shape, tol=1e-4):
    weights = ops.convert_to_tensor(
        np.random.default_rng(3).normal(size=out_shape).astype("float32")
    )

    def loss(fn):
        def value(*args):
            out = fn(*args)
            assert out is not NotImplemented, "the fast path declined"
            return ops.sum(out * weights) + 0.5 * ops.sum(ops.square(out))

        return value

    got, got_grads = value_and_grads(loss(fast), *arrays)
    want, want_grads = value_and_grads(loss(generic), *arrays)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    for i, (g, w) in enumerate(zip(got_grads, want_grads)):
        assert g is not None, i
        scale = max(float(np.max(np.abs(w))), 1.0)
        np.testing.assert_allclose(g, w, rtol=0, atol=tol * scale, err_msg=f"argument {i}")


@pytest.mark.parametrize("with_rel", [False, True])
def test_blocked_attention_in_chunks_of_images(monkeypatch, with_rel):
    """JAX (a checkpointed `lax.map`), TensorFlow (a `tf.while_loop` under a
    recomputing custom gradient) and torch (checkpointed chunks) split the
    (batch, head) images one per chunk: same values and gradients."""
    module = _module(attention_kernels.blocked_attention)
    if module is None or not hasattr(module, "CHUNK_BYTES"):
        pytest.skip("no chunked blocked attention on this backend")
    if with_rel and _BACKEND == "torch":
        pytest.skip("the torch fast path declines learned positions")
    monkeypatch.setattr(module, "CHUNK_BYTES", 1)
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 3, 9, 7, 4)).astype("float32") for _ in range(3))
    valid = rng.random((3, 2, 16, 36)) < 0.5
    valid[..., 0] = True
    bias = ops.convert_to_tensor(rng.normal(size=(16, 36)).astype("float32"))
    index = rng.integers(0, 9, size=(16, 36)).astype("int32")
    static = (4, (6, 6), (1, 1))
    fast = module.blocked_attention
    generic = _attention_kernels.blocked_attention.generic
    if with_rel:
        rel = rng.normal(size=(3, 9, 4)).astype("float32")

        def run(fn):
            return lambda q, k, v, rel: fn(q, k, v, valid, bias, rel, index, *static)

        arrays = (q, k, v, rel)
    else:

        def run(fn):
            return lambda q, k, v: fn(q, k, v, valid, bias, None, index, *static)

        arrays = (q, k, v)
    _check(run(fast), run(generic), arrays, q.shape)


@pytest.mark.parametrize("case", range(len(DEFORM_CASES["deform_conv2d"])))
def test_deform_conv2d_in_chunks_of_pixels(monkeypatch, case):
    """TensorFlow: chunks of 7 output pixels (the last one overlapping its
    predecessor), in the forward and the hand-written backward; torch: each
    kernel row's samples recomputed in the backward pass (checkpointed)."""
    module = _module(deformable_kernels.deform_conv2d)
    (x, offsets, kernel, mask, *static), _, _ = DEFORM_CASES["deform_conv2d"][case]
    if module is not None and hasattr(module, "CHUNK_BYTES"):
        channels = max(x.shape[-1], kernel.shape[-1])
        monkeypatch.setattr(module, "CHUNK_BYTES", 7 * 4 * channels)
    elif module is not None and hasattr(module, "CHECKPOINT_BYTES"):
        monkeypatch.setattr(module, "CHECKPOINT_BYTES", 0)
    else:
        pytest.skip("no chunked deformable convolution on this backend")
    arrays = [x, offsets, kernel] + ([] if mask is None else [mask])
    out_shape = tuple(
        _deformable_kernels.deform_conv2d.generic(x, offsets, kernel, mask, *static).shape
    )

    def run(fn):
        return lambda x, off, k, *m: fn(x, off, k, m[0] if m else None, *static)

    _check(
        run(module.deform_conv2d), run(_deformable_kernels.deform_conv2d.generic), arrays, out_shape
    )


@pytest.mark.parametrize("chunks", [(1, 1), (1, 2**30), (2**30, 2**30)])
@pytest.mark.parametrize("case", range(len(DEFORM_CASES["deform_conv2d"])))
def test_deform_conv2d_inference_in_chunks_of_images(monkeypatch, case, chunks):
    """torch: the forward pass without recorded gradients (the embedding-bag
    table) equals the generic kernel, with one image per table and per
    corner plan, one image per table, or all at once; the cases with
    `groups` > 1 take the `grid_sample` rows instead."""
    module = _module(deformable_kernels.deform_conv2d)
    if module is None or not hasattr(module, "TABLE_BYTES"):
        pytest.skip("no chunked deformable inference on this backend")
    import torch

    (x, offsets, kernel, mask, *static), _, _ = DEFORM_CASES["deform_conv2d"][case]
    x = np.concatenate([x, x[::-1] * 0.5 + 1.0])  # two or more different images
    offsets = np.concatenate([offsets, -offsets[::-1]])
    mask = None if mask is None else np.concatenate([mask, mask[::-1] * 0.5])
    calls = []
    table = module._embedding_bag_forward
    monkeypatch.setattr(module, "TABLE_BYTES", chunks[0])
    monkeypatch.setattr(module, "PLAN_BYTES", chunks[1])
    monkeypatch.setattr(module, "_embedding_bag_forward", lambda *a: calls.append(1) or table(*a))
    args = [ops.convert_to_tensor(a) for a in (x, offsets, kernel)]
    args.append(None if mask is None else ops.convert_to_tensor(mask))
    with torch.no_grad():
        got = module.deform_conv2d(*args, *static)
    want = _deformable_kernels.deform_conv2d.generic(*args, *static)
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), ops.convert_to_numpy(want), rtol=1e-4, atol=1e-4
    )
    assert len(calls) == (1 if static[-1] == 1 else 0)
