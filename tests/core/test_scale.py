"""Math and property tests of kcl.Scale (SPEC "Normalization and utility layers")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy


def rand(*shape):
    return np.random.randn(*shape).astype("float32")


def _set(layer, c):
    scale = np.linspace(-2.0, 1.5, c).astype("float32")
    shift = np.linspace(0.3, -0.9, c).astype("float32")
    if layer.use_scale:
        layer.scale.assign(scale)
    if layer.use_shift:
        layer.shift.assign(shift)
    return scale, shift


@pytest.mark.parametrize("use_scale, use_shift", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 4), (2, 3, 5, 4)], ids=["r2", "r3", "r4"])
def test_matches_numpy_channels_last(shape, use_scale, use_shift):
    x = rand(*shape)
    layer = kcl.Scale(use_scale=use_scale, use_shift=use_shift, data_format="channels_last")
    layer(x)
    scale, shift = _set(layer, shape[-1])
    expected = x.astype(np.float64)
    if use_scale:
        expected = expected * scale
    if use_shift:
        expected = expected + shift
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 5, 3, 4, 5)], ids=["r4", "r5-last-eq-C"])
def test_channels_first(shape):
    # The second shape has its last axis equal to C: the scale and shift must
    # still broadcast along axis 1.
    x_last = rand(*shape)
    x_first = ref.to_channels_first(x_last)
    layer = kcl.Scale(data_format="channels_first")
    layer(x_first)
    c = x_first.shape[1]
    scale, shift = _set(layer, c)
    y = ref.to_channels_last(to_numpy(layer(x_first)))
    np.testing.assert_allclose(y, x_last * scale + shift, rtol=1e-6, atol=1e-6)


def test_weights_and_initializers():
    layer = kcl.Scale(data_format="channels_last")
    layer(rand(2, 3, 4))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {"scale": (4,), "shift": (4,)}
    np.testing.assert_array_equal(to_numpy(layer.scale), np.ones(4))
    np.testing.assert_array_equal(to_numpy(layer.shift), np.zeros(4))
    x = rand(2, 3, 4)
    np.testing.assert_allclose(to_numpy(layer(x)), x)  # identity at initialization
    layer = kcl.Scale(
        shift_initializer="ones",
        scale_initializer=keras.initializers.Constant(3.0),
        data_format="channels_last",
    )
    np.testing.assert_allclose(to_numpy(layer(x)), 3.0 * x + 1.0, rtol=1e-6)
    layer = kcl.Scale(use_shift=False, data_format="channels_last")
    layer(x)
    assert [w.path.split("/")[-1] for w in layer.weights] == ["scale"]
    layer = kcl.Scale(use_scale=False, data_format="channels_last")
    layer(x)
    assert [w.path.split("/")[-1] for w in layer.weights] == ["shift"]


def test_gradients_match_closed_form():
    # Also checks tests/gradients.py itself on every backend.
    layer = kcl.Scale(data_format="channels_last")
    x = rand(2, 3, 4)
    layer(x)
    scale, shift = _set(layer, 4)
    y, value, g_x, g_w = layer_value_and_grads(layer, x)  # loss = sum(y**2) + sum(y)
    y_ref = x.astype(np.float64) * scale + shift
    up = 2.0 * y_ref + 1.0
    np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(value, np.sum(y_ref**2) + np.sum(y_ref), rtol=1e-5)
    np.testing.assert_allclose(g_x, up * scale, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        g_w[layer.scale.path], (up * x).sum(axis=(0, 1)), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(g_w[layer.shift.path], up.sum(axis=(0, 1)), rtol=1e-5, atol=1e-5)


def test_gradients_finite():
    layer = kcl.Scale(data_format="channels_last")
    x = np.ones((2, 3, 4), "float32")
    assert_all_finite(*layer_value_and_grads(layer, x), expected_weights=["scale", "shift"])


def test_bad_data_format():
    with pytest.raises(ValueError, match="data_format"):
        kcl.Scale(data_format="NCHW")


def test_rank1_input_rejected():
    with pytest.raises(ValueError, match="rank"):
        kcl.Scale(data_format="channels_last")(rand(4))
