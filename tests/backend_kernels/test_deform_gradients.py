"""The deformable fast paths' gradients equal the generic kernel's.

On JAX and TensorFlow the fast path attaches the hand-written
`generic.deform_conv2d_backward` as its gradient; on torch it is
`grid_sample`'s.  Each is checked here against the automatic gradient of
the generic kernel (values are checked in test_dispatch.py), on the
dispatch cases: strides, dilation, offset groups, groups, a mask.
"""

import numpy as np
import pytest
from keras import ops

from keras_cv_layers.backend_kernels import fast_path, generic
from tests.backend_kernels.cases_deformable import KERNEL_CASES
from tests.gradients import value_and_grads

_CASES = KERNEL_CASES["deform_conv2d"]


def _loss(kernel_fn, static, weights):
    def loss(x, offsets, kernel, *mask):
        out = kernel_fn(x, offsets, kernel, mask[0] if mask else None, *static)
        return ops.sum(out * weights) + 0.5 * ops.sum(ops.square(out))

    return loss


@pytest.mark.parametrize("case", range(len(_CASES)))
def test_fast_path_gradients_match_generic(case):
    fast = fast_path("deform_conv2d")
    if fast is None:
        pytest.skip("no deformable fast path on this backend")
    (x, offsets, kernel, mask, *static), _, _ = _CASES[case]
    arrays = [x, offsets, kernel] + ([] if mask is None else [mask])
    probe = generic.deform_conv2d(x, offsets, kernel, mask, *static)
    weights = np.random.default_rng(case).normal(size=tuple(probe.shape)).astype("float32")
    weights = ops.convert_to_tensor(weights)

    def fast_or_generic(*args):
        out = fast(*args)
        assert out is not NotImplemented, "the fast path declined a float32 case"
        return out

    value, grads = value_and_grads(_loss(fast_or_generic, static, weights), *arrays)
    ref_value, ref_grads = value_and_grads(_loss(generic.deform_conv2d, static, weights), *arrays)
    np.testing.assert_allclose(value, ref_value, rtol=1e-4, atol=1e-3)
    for name, got, want in zip(("inputs", "offsets", "kernel", "mask"), grads, ref_grads):
        assert got is not None, name
        scale = max(float(np.max(np.abs(want))), 1.0)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale, err_msg=name)
