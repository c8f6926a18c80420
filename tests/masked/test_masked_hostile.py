"""A value behind the mask never reaches the output, NaN and Inf included.

`x * mask` alone would let `NaN * 0 = NaN` through: the masked convolutions
select first.  The layers, the ops and their gradients are checked.
"""

import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from tests.gradients import value_and_grads
from tests.harness import to_numpy

CL = "channels_last"
LAYERS = {
    "PartialConv2D": lambda: kcl.PartialConv2D(4, 3, padding="same", data_format=CL),
    "SparseConv2D": lambda: kcl.SparseConv2D(4, 3, padding="same", data_format=CL),
    "PartialDepthwiseConv2D": lambda: kcl.PartialDepthwiseConv2D(
        3, padding="same", use_bias=True, data_format=CL
    ),
}
OPS = {
    "partial_conv": (kcl.ops.partial_conv, (3, 3, 3, 4)),
    "sparse_conv": (kcl.ops.sparse_conv, (3, 3, 3, 4)),
    "partial_depthwise_conv2d": (kcl.ops.partial_depthwise_conv2d, (3, 3, 3, 2)),
}


def _data(bad: float, mask_channels: int = 3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    mask = (rng.random((2, 8, 8, mask_channels)) < 0.7).astype("float32")
    mask[0, 4, 4] = 0.0
    clean = x.copy()
    clean[0, 4, 4] = 0.0
    hostile = x.copy()
    hostile[0, 4, 4] = bad
    # Elsewhere too: every masked-out position holds the bad value.
    hostile = np.where(np.broadcast_to(mask, x.shape) == 0, bad, hostile).astype("float32")
    clean = np.where(np.broadcast_to(mask, x.shape) == 0, 0.0, clean).astype("float32")
    return hostile, clean, mask


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e38], ids=["nan", "inf", "-inf", "1e38"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_output_ignores_masked_values(name, bad):
    hostile, clean, mask = _data(bad, mask_channels=1 if name == "SparseConv2D" else 3)
    layer = LAYERS[name]()
    y_clean, m_clean = to_numpy(layer([clean, mask]))
    y, m = to_numpy(layer([hostile, mask]))
    assert np.all(np.isfinite(y)), f"{np.sum(~np.isfinite(y))} non-finite outputs"
    np.testing.assert_allclose(y, y_clean, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(m, m_clean)


@pytest.mark.parametrize("name", list(OPS))
def test_op_values_and_gradients_ignore_masked_nan(name):
    op, kernel_shape = OPS[name]
    hostile, clean, mask = _data(np.nan, mask_channels=1)
    kernel = np.random.default_rng(1).normal(size=kernel_shape).astype("float32")

    def loss(x, k):
        y, _ = op(x, ops.convert_to_tensor(mask), k, padding="same", data_format=CL)
        return ops.sum(ops.square(y))

    value, (g_x, g_k) = value_and_grads(loss, hostile, kernel)
    clean_value, (clean_g_x, clean_g_k) = value_and_grads(loss, clean, kernel)
    assert np.isfinite(value) and np.all(np.isfinite(g_x)) and np.all(np.isfinite(g_k))
    np.testing.assert_allclose(value, clean_value, rtol=1e-5)
    np.testing.assert_allclose(g_k, clean_g_k, rtol=1e-4, atol=1e-4)
    # No gradient flows to a masked-out input.
    masked_out = np.broadcast_to(mask, hostile.shape) == 0
    assert np.all(g_x[masked_out] == 0)
    np.testing.assert_allclose(g_x, clean_g_x, rtol=1e-4, atol=1e-4)
