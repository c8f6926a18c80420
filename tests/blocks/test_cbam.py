"""Math and property tests of kcl.CBAM (SPEC "Additions (second release)")."""

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as nref
from tests.blocks.reference import relu, sigmoid
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy

WEIGHT_NAMES = [
    "mlp_hidden_kernel",
    "mlp_hidden_bias",
    "mlp_out_kernel",
    "mlp_out_bias",
    "spatial_kernel",
    "spatial_bias",
]


def cbam_reference(x, w):
    """channels_last float64, written from the paper's equations."""

    def mlp(p):
        return (
            relu(p @ w["mlp_hidden_kernel"] + w["mlp_hidden_bias"]) @ w["mlp_out_kernel"]
            + w["mlp_out_bias"]
        )

    channel_gate = sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))
    x1 = x * channel_gate[:, None, None, :]
    maps = np.stack([x1.mean(axis=-1), x1.max(axis=-1)], axis=-1)  # [mean, max]
    logits = nref.conv_nd(maps, w["spatial_kernel"], padding="same") + w["spatial_bias"]
    return x1 * sigmoid(logits)


def _randomize(layer, rng, scale=1.0):
    out = {}
    for var in layer.weights:
        value = rng.normal(scale=scale, size=var.shape).astype("float32")
        var.assign(value)
        out[var.name] = value.astype("float64")
    return out


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "ratio,kernel_size,channels,hidden",
    [(2, 3, 4, 2), (16, (4, 3), 6, 1)],  # max(1, C // ratio); even kernel height
    ids=["ratio2_k3", "hidden1_k4x3"],
)
def test_matches_numpy_reference(data_format, ratio, kernel_size, channels, hidden):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 4, channels)).astype("float32")
    layer = kcl.CBAM(ratio=ratio, kernel_size=kernel_size, data_format=data_format)
    xin = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
    layer(xin)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    shapes = [(channels, hidden), (hidden,), (hidden, channels), (channels,), (kh, kw, 2, 1), (1,)]
    assert [w.name for w in layer.weights] == WEIGHT_NAMES
    assert [tuple(w.shape) for w in layer.weights] == shapes
    w = _randomize(layer, rng)
    y = to_numpy(layer(xin))
    if data_format == "channels_first":
        y = np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, cbam_reference(x.astype("float64"), w), rtol=1e-5, atol=1e-5)


def test_gates_in_open_unit_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(scale=10.0, size=(2, 5, 5, 8)).astype("float32")
    layer = kcl.CBAM(ratio=2, kernel_size=3, data_format="channels_last")
    layer(x)
    _randomize(layer, rng, scale=0.1)
    y = to_numpy(layer(x))
    assert np.all(np.abs(y) <= np.abs(x))
    ratio = y / x  # the product of the two gates
    assert np.all((ratio > 0) & (ratio < 1))


def test_fresh_layer_defaults():
    layer = kcl.CBAM(data_format="channels_last")
    layer(np.ones((1, 8, 8, 32), "float32"))
    assert tuple(layer.mlp_hidden_kernel.shape) == (32, 2)  # 32 // 16
    assert tuple(layer.spatial_kernel.shape) == (7, 7, 2, 1)
    for name in ("mlp_hidden_bias", "mlp_out_bias", "spatial_bias"):
        assert not np.any(to_numpy(getattr(layer, name)))


def test_finite_gradients_on_constant_input():
    # Constant input: every max is a tie.
    layer = kcl.CBAM(ratio=2, kernel_size=3, data_format="channels_last")
    y, value, g_x, g_w = layer_value_and_grads(layer, np.ones((2, 4, 4, 4), "float32"))
    assert_all_finite(y, value, g_x, g_w, expected_weights=WEIGHT_NAMES)


def test_bad_arguments_and_inputs():
    for bad in (0, -2, "16", True):
        with pytest.raises(ValueError, match="ratio"):
            kcl.CBAM(ratio=bad)
    for bad in (0, (3, 3, 3), "7"):
        with pytest.raises(ValueError, match="kernel_size"):
            kcl.CBAM(kernel_size=bad)
    with pytest.raises(ValueError, match="data_format"):
        kcl.CBAM(data_format="nhwc")
    with pytest.raises(ValueError, match=r"CBAM.*rank 4"):
        kcl.CBAM(data_format="channels_last")(np.zeros((2, 5, 4), "float32"))
