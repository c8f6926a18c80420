"""StochasticDepth and `drop_path`: the sum at inference, per-example drops
with the 1 / (1 - rate) rescaling in training (expected value kept), any rank."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers.layers.regularization.stochastic_depth import drop_path
from tests.gradients import value_and_grads
from tests.harness import to_numpy


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(2)]


@pytest.mark.parametrize("shape", [(6, 3), (3, 4, 5, 2), (2, 3, 2, 3, 2)])
def test_inference_is_the_sum_and_training_drops_whole_examples(shape):
    shortcut, residual = _pair(shape)
    layer = kcl.StochasticDepth(0.5, seed=1)
    for training in (False, None):
        np.testing.assert_array_equal(
            to_numpy(layer([shortcut, residual], training=training)), shortcut + residual
        )
    zero = kcl.StochasticDepth(0.0)
    np.testing.assert_array_equal(
        to_numpy(zero([shortcut, residual], training=True)), shortcut + residual
    )
    seen = set()
    for _ in range(6):
        y = to_numpy(layer([shortcut, residual], training=True))
        for n in range(shape[0]):
            if np.array_equal(y[n], shortcut[n]):
                seen.add("dropped")
            else:
                np.testing.assert_allclose(
                    y[n], shortcut[n] + residual[n] / 0.5, rtol=1e-6, atol=1e-6
                )
                seen.add("kept")
    assert seen == {"dropped", "kept"}


def test_expected_value_is_kept():
    rate = 0.2
    shortcut = np.zeros((40000, 2), "float32")
    residual = np.ones((40000, 2), "float32")
    y = to_numpy(kcl.StochasticDepth(rate, seed=3)([shortcut, residual], training=True))
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / (1 - rate)], rtol=1e-6)
    # 4 standard deviations of the mean are 1%.
    np.testing.assert_allclose(y.mean(), 1.0, rtol=0.01)
    np.testing.assert_allclose((y[:, 0] == 0).mean(), rate, atol=0.01)


def test_drop_path_function():
    x = np.ones((64, 3, 3), "float32")
    assert drop_path(x, 0.5, seed=1, training=False) is x
    assert drop_path(x, 0.5, seed=1, training=None) is x
    assert drop_path(x, 0.0, seed=1, training=True) is x
    gen = keras.random.SeedGenerator(4)
    y = to_numpy(drop_path(x, 0.25, seed=gen, training=True))
    assert y.shape == x.shape
    per_example = y.reshape(64, -1)
    assert np.all(per_example == per_example[:, :1])
    np.testing.assert_allclose(np.unique(per_example), [0.0, 1 / 0.75], rtol=1e-6)
    # Gradient: keep / (1 - rate) per example, finite.
    _, (g,) = value_and_grads(lambda t: keras.ops.sum(drop_path(t, 0.5, seed=11, training=True)), x)
    assert np.all(np.isfinite(g)) and set(np.unique(g).tolist()) <= {0.0, 2.0}


def test_seeded_layers_repeat_and_calls_differ():
    shortcut, residual = _pair((64, 2))
    a, b = kcl.StochasticDepth(0.5, seed=42), kcl.StochasticDepth(0.5, seed=42)
    first = to_numpy(a([shortcut, residual], training=True))
    np.testing.assert_array_equal(first, to_numpy(b([shortcut, residual], training=True)))
    assert not np.array_equal(first, to_numpy(a([shortcut, residual], training=True)))


def test_bad_arguments_and_inputs():
    for rate in (-0.1, 1.0, float("nan"), "0.1", True, None):
        with pytest.raises(ValueError, match="rate"):
            kcl.StochasticDepth(rate)
    with pytest.raises(ValueError, match="seed"):
        kcl.StochasticDepth(0.1, seed=1.5)
    x = np.ones((2, 3), "float32")
    with pytest.raises(ValueError, match="sd"):
        kcl.StochasticDepth(0.1, name="sd")(x)
    with pytest.raises(ValueError, match="sd"):
        kcl.StochasticDepth(0.1, name="sd")([x, np.ones((2, 4), "float32")])
    with pytest.raises(ValueError, match="sd"):
        kcl.StochasticDepth(0.1, name="sd")([x, x, x])
    layer = kcl.StochasticDepth(0.3, seed=2)
    config = layer.get_config()
    assert config["rate"] == 0.3 and config["seed"] == 2
    assert kcl.StochasticDepth.from_config(config).get_config() == config
