"""The deformable fast paths' gradients equal the generic kernel's.

On JAX and TensorFlow the fast path attaches the hand-written backward as
its gradient (`deform_conv2d_backward_scan` on JAX,
`deform_conv2d_backward_chunked` on TF); on torch it is `grid_sample`'s.
Each is checked here against the automatic gradient of the generic kernel
(values are checked in test_dispatch.py), on the dispatch cases: strides,
dilation, offset groups, groups, a mask.  The scan formulation is also
checked against the unrolled one on every backend.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_cv_layers.backend_kernels import deformable as deformable_kernels
from keras_cv_layers.ops import _deformable_kernels as generic
from tests.deformable.kernel_cases import KERNEL_CASES
from tests.gradients import value_and_grads

_CASES = KERNEL_CASES["deform_conv2d"]


def _loss(kernel_fn, static, weights):
    def loss(x, offsets, kernel, *mask):
        out = kernel_fn(x, offsets, kernel, mask[0] if mask else None, *static)
        return ops.sum(out * weights) + 0.5 * ops.sum(ops.square(out))

    return loss


@pytest.mark.parametrize("case", range(len(_CASES)))
def test_fast_path_gradients_match_generic(case):
    fast = deformable_kernels.deform_conv2d.implementation()
    if fast is None:
        pytest.skip("no deformable fast path on this backend")
    (x, offsets, kernel, mask, *static), _, _ = _CASES[case]
    arrays = [x, offsets, kernel] + ([] if mask is None else [mask])
    probe = generic.deform_conv2d.generic(x, offsets, kernel, mask, *static)
    weights = np.random.default_rng(case).normal(size=tuple(probe.shape)).astype("float32")
    weights = ops.convert_to_tensor(weights)

    def fast_or_generic(*args):
        out = fast(*args)
        assert out is not NotImplemented, "the fast path declined a float32 case"
        return out

    value, grads = value_and_grads(_loss(fast_or_generic, static, weights), *arrays)
    ref_value, ref_grads = value_and_grads(
        _loss(generic.deform_conv2d.generic, static, weights), *arrays
    )
    np.testing.assert_allclose(value, ref_value, rtol=1e-4, atol=1e-3)
    for name, got, want in zip(("inputs", "offsets", "kernel", "mask"), grads, ref_grads):
        assert got is not None, name
        scale = max(float(np.max(np.abs(want))), 1.0)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale, err_msg=name)


def _python_scan(body, init, xs):
    """`jax.lax.scan` semantics as a Python loop (None leaves kept)."""
    leaves = [v for v in keras.tree.flatten(xs) if v is not None]
    carry, ys = init, []
    for i in range(int(leaves[0].shape[0])):
        carry, y = body(
            carry, keras.tree.map_structure(lambda v, i=i: None if v is None else v[i], xs)
        )
        ys.append(y)
    stack = lambda *v: None if v[0] is None else ops.stack(v, axis=0)  # noqa: E731
    return carry, keras.tree.map_structure(stack, *ys)


@pytest.mark.parametrize("case", range(len(_CASES)))
def test_scan_formulation_matches_unrolled(case):
    """`deform_conv2d_{forward,backward}_scan` (the taps as a loop over a
    precomputed corner plan; JAX's fast path) give the numbers of the
    unrolled generic forward and backward, on every backend."""
    (x, offsets, kernel, mask, *static), _, _ = _CASES[case]
    args = [ops.convert_to_tensor(v) if v is not None else None for v in (x, offsets, kernel, mask)]
    want = generic.deform_conv2d_forward(*args, *static)
    got = generic.deform_conv2d_forward_scan(*args, *static, _python_scan)
    np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(want), atol=1e-5)
    upstream = ops.convert_to_tensor(
        np.random.default_rng(case).normal(size=tuple(want.shape)).astype("float32")
    )
    want_grads = generic.deform_conv2d_backward(*args, upstream, *static)
    got_grads = generic.deform_conv2d_backward_scan(*args, upstream, *static, _python_scan)
    for name, g, w in zip(("inputs", "offsets", "kernel", "mask"), got_grads, want_grads):
        if w is None:
            assert g is None, name
            continue
        w = ops.convert_to_numpy(w)
        scale = max(float(np.max(np.abs(w))), 1.0)
        np.testing.assert_allclose(ops.convert_to_numpy(g), w, atol=1e-5 * scale, err_msg=name)
