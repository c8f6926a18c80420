"""Math and property tests of kcl.SEBlock (SPEC "Blocks")."""

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.blocks import reference as ref
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy


def _randomize(layer, rng):
    out = []
    for w in (layer.reduce.kernel, layer.reduce.bias, layer.expand.kernel, layer.expand.bias):
        value = rng.normal(size=w.shape).astype("float32")
        w.assign(value)
        out.append(value.astype("float64"))
    return out


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("ratio,channels,squeeze", [(2, 5, 3), (16, 6, 1), (1.5, 6, 4)])
def test_matches_numpy_reference(data_format, ratio, channels, squeeze):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 5, channels)).astype("float32")
    layer = kcl.SEBlock(ratio=ratio, data_format=data_format)
    xin = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
    layer(xin)
    assert tuple(layer.reduce.kernel.shape) == (1, 1, channels, squeeze)  # ceil(C / ratio)
    weights = _randomize(layer, rng)
    y = to_numpy(layer(xin))
    if data_format == "channels_first":
        y = np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, ref.se_block(x.astype("float64"), *weights), rtol=1e-5, atol=1e-5)


def test_activation_and_squeeze_channels():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 3, 8)).astype("float32")
    layer = kcl.SEBlock(activation="swish", squeeze_channels=3, data_format="channels_last")
    layer(x)
    assert tuple(layer.reduce.kernel.shape) == (1, 1, 8, 3)
    weights = _randomize(layer, rng)
    expected = ref.se_block(x.astype("float64"), *weights, activation=ref.swish)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_finite_gradients_on_constant_input():
    layer = kcl.SEBlock(ratio=2, data_format="channels_last")
    y, value, g_x, g_w = layer_value_and_grads(layer, np.ones((2, 3, 3, 4), "float32"))
    assert_all_finite(y, value, g_x, g_w)


def test_bad_arguments_and_inputs():
    for bad in (0, -1, "2", True):
        with pytest.raises(ValueError, match="ratio"):
            kcl.SEBlock(ratio=bad)
    with pytest.raises(ValueError, match="squeeze_channels"):
        kcl.SEBlock(squeeze_channels=0)
    with pytest.raises(ValueError, match="data_format"):
        kcl.SEBlock(data_format="NHWC")
    with pytest.raises(ValueError, match=r"SEBlock.*rank 4"):
        kcl.SEBlock(data_format="channels_last")(np.zeros((2, 3, 4), "float32"))
