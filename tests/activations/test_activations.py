"""Tests of kcl.Mish and kcl.Swish (SPEC "Normalization and utility layers")."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, layer_value_and_grads, value_and_grads
from tests.harness import to_numpy

X = (
    np.concatenate([np.linspace(-6.0, 6.0, 25), [-80.0, -20.0, 0.0, 20.0, 80.0]])
    .astype("float32")
    .reshape(2, 15)
)


def test_mish_matches_numpy():
    y = to_numpy(kcl.Mish()(X))
    np.testing.assert_allclose(y, ref.mish(X), rtol=1e-5, atol=1e-6)
    assert kcl.Mish().weights == []


def test_mish_known_value():
    assert float(to_numpy(kcl.Mish()(np.array([1.0], "float32")))[0]) == pytest.approx(
        0.8650984, abs=1e-6
    )


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, -1.5])
def test_swish_matches_numpy(beta):
    layer = kcl.Swish(beta=beta)
    np.testing.assert_allclose(to_numpy(layer(X)), ref.swish(X, beta), rtol=1e-5, atol=1e-6)


def test_swish_default_is_silu():
    np.testing.assert_allclose(
        to_numpy(kcl.Swish()(X)), to_numpy(keras.activations.silu(X)), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("layer_fn", [kcl.Mish, lambda: kcl.Swish(beta=1.5)], ids=["Mish", "Swish"])
def test_gradients_finite_at_extremes(layer_fn):
    layer = layer_fn()
    layer(X)
    _, (grad,) = value_and_grads(lambda t: ops.sum(layer(t)), X)
    assert grad.shape == X.shape and np.all(np.isfinite(grad))
    # Far from 0 the slope is ~1 (right) and ~0 (left).
    np.testing.assert_allclose(grad[1, -1], 1.0, atol=1e-5)
    np.testing.assert_allclose(grad[1, -5], 0.0, atol=1e-5)


def test_swish_trainable_beta():
    layer = kcl.Swish(beta=0.7, trainable=True)
    layer(X)
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["beta"]
    assert layer.non_trainable_weights == []
    assert tuple(layer.beta.shape) == ()
    assert float(to_numpy(layer.beta)) == pytest.approx(0.7)
    y, value, g_x, g_w = layer_value_and_grads(layer, X[:, : 25 // 2])
    assert_all_finite(y, value, g_x, g_w, expected_weights=["beta"])
    assert abs(float(g_w[layer.beta.path])) > 0
    # The learned beta is used in the forward pass.
    layer.beta.assign(2.0)
    np.testing.assert_allclose(to_numpy(layer(X)), ref.swish(X, 2.0), rtol=1e-5, atol=1e-6)


def test_swish_not_trainable_by_default():
    layer = kcl.Swish(beta=1.3)
    layer(X)
    assert layer.trainable_weights == []
    assert [w.path.split("/")[-1] for w in layer.non_trainable_weights] == ["beta"]
    explicit = kcl.Swish(beta=1.3, trainable=False)
    explicit(X)
    assert explicit.trainable_weights == []


def test_swish_bad_beta():
    with pytest.raises(ValueError, match="beta"):
        kcl.Swish(beta="one")


@pytest.mark.parametrize("layer_fn", [kcl.Mish, kcl.Swish], ids=["Mish", "Swish"])
def test_any_rank_and_shape_preserved(layer_fn):
    x = np.random.randn(2, 3, 4, 5, 2).astype("float32")
    layer = layer_fn()
    y = layer(x)
    assert tuple(y.shape) == x.shape
    assert tuple(layer.compute_output_shape((None, 3, 4))) == (None, 3, 4)
