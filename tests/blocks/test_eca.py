"""Math and property tests of kcl.ECA (SPEC "Additions (second release)")."""

import math

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.blocks.reference import sigmoid
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy


def eca_reference(x, kernel):
    """channels_last float64: GAP → 1D cross-correlation across channels with
    zero padding "same" ((k-1)//2 before, k//2 after) → sigmoid → x * a."""
    k = len(kernel)
    pooled = x.mean(axis=(1, 2))  # (B, C)
    channels = pooled.shape[-1]
    padded = np.pad(pooled, [(0, 0), ((k - 1) // 2, k // 2)])
    logits = np.zeros_like(pooled)
    for c in range(channels):
        for j in range(k):
            logits[:, c] += kernel[j] * padded[:, c + j]
    return x * sigmoid(logits)[:, None, None, :]


def _build(layer, x, data_format):
    xin = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
    layer(xin)
    return xin


def _output(layer, xin, data_format):
    y = to_numpy(layer(xin))
    return y if data_format == "channels_last" else np.moveaxis(y, 1, -1)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "kernel_size,channels,k",
    [(None, 16, 3), (4, 5, 4), (5, 3, 5)],  # adaptive; even ("same" asymmetric); k > C
    ids=["adaptive", "even", "wider_than_channels"],
)
def test_matches_numpy_reference(data_format, kernel_size, channels, k):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, channels)).astype("float32")
    layer = kcl.ECA(kernel_size=kernel_size, data_format=data_format)
    xin = _build(layer, x, data_format)
    assert [w.name for w in layer.weights] == ["kernel"]
    assert tuple(layer.kernel.shape) == (k, 1, 1) and layer.resolved_kernel_size == k
    kernel = rng.normal(scale=2.0, size=(k, 1, 1)).astype("float32")
    layer.kernel.assign(kernel)
    expected = eca_reference(x.astype("float64"), kernel[:, 0, 0].astype("float64"))
    np.testing.assert_allclose(_output(layer, xin, data_format), expected, rtol=1e-5, atol=1e-6)


def test_adaptive_kernel_size_rule():
    # The ECA-Net code: t = int(abs((log2(C) + b) / gamma)), gamma=2, b=1; odd.
    expected = {1: 1, 2: 1, 4: 1, 8: 3, 24: 3, 64: 3, 96: 3, 128: 5, 320: 5, 512: 5, 2048: 7}
    for channels, k in expected.items():
        t = int(abs((math.log(channels, 2) + 1) / 2))
        assert k == (t if t % 2 else t + 1)
        assert kcl.ECA.adaptive_kernel_size(channels) == k, channels
    for channels in (4, 8, 128):
        layer = kcl.ECA(data_format="channels_last")
        layer(np.ones((1, 2, 2, channels), "float32"))
        assert tuple(layer.kernel.shape) == (expected[channels], 1, 1)
    # An explicit size is kept whatever the channel count.
    layer = kcl.ECA(kernel_size=7, data_format="channels_last")
    layer(np.ones((1, 2, 2, 4), "float32"))
    assert tuple(layer.kernel.shape) == (7, 1, 1)


def test_gate_in_open_unit_interval():
    rng = np.random.default_rng(1)
    x = rng.normal(scale=10.0, size=(3, 4, 4, 32)).astype("float32")
    layer = kcl.ECA(data_format="channels_last")
    layer(x)
    layer.kernel.assign(rng.normal(scale=0.3, size=layer.kernel.shape).astype("float32"))
    y = to_numpy(layer(x))
    assert np.all(np.abs(y) <= np.abs(x))
    ratio = y / x
    assert np.all((ratio > 0) & (ratio < 1))
    # One gate per (example, channel), constant over the spatial axes.
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1, :1], ratio.shape), rtol=1e-5)


def test_finite_gradients_on_constant_input():
    layer = kcl.ECA(kernel_size=3, data_format="channels_last")
    y, value, g_x, g_w = layer_value_and_grads(layer, np.ones((2, 3, 3, 4), "float32"))
    assert_all_finite(y, value, g_x, g_w, expected_weights=["kernel"])


def test_get_config_round_trip_keeps_adaptive_size():
    layer = kcl.ECA(data_format="channels_last")
    config = layer.get_config()
    assert config["kernel_size"] is None
    clone = kcl.ECA.from_config(config)
    clone(np.ones((1, 2, 2, 128), "float32"))
    assert tuple(clone.kernel.shape) == (5, 1, 1)


def test_bad_arguments_and_inputs():
    for bad in (0, -1, "3", True, 2.5):
        with pytest.raises(ValueError, match="kernel_size"):
            kcl.ECA(kernel_size=bad)
    with pytest.raises(ValueError, match="data_format"):
        kcl.ECA(data_format="channels_middle")
    with pytest.raises(ValueError, match=r"ECA.*rank 4"):
        kcl.ECA(data_format="channels_last")(np.zeros((2, 5, 4), "float32"))
