"""Tests of kcl.GroupPooling2D (group axis reduction, 5-D -> 4-D)."""

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy


@pytest.mark.parametrize("mode", ["max", "mean"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_matches_numpy(mode, data_format):
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 8, 3)).astype("float32")
    reduce = np.max if mode == "max" else np.mean
    expected = reduce(x, axis=3)
    if data_format == "channels_first":
        x = np.transpose(x, (0, 3, 4, 1, 2))
        expected = np.transpose(expected, (0, 3, 1, 2))
    layer = kcl.GroupPooling2D(mode, data_format=data_format)
    y = to_numpy(layer(x))
    assert y.shape == expected.shape == tuple(layer.compute_output_shape(x.shape))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_output_is_invariant_to_group_permutations():
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 4, 2)).astype("float32")
    for mode in ("max", "mean"):
        layer = kcl.GroupPooling2D(mode, data_format="channels_last")
        np.testing.assert_allclose(
            to_numpy(layer(np.roll(x, 1, axis=3))), to_numpy(layer(x)), rtol=1e-6, atol=1e-6
        )


def test_bad_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match="`mode`='sum'"):
        kcl.GroupPooling2D("sum")
    with pytest.raises(ValueError, match="data_format"):
        kcl.GroupPooling2D(data_format="channels_middle")
    layer = kcl.GroupPooling2D(data_format="channels_last", name="gp")
    with pytest.raises(ValueError, match=r"GroupPooling2D.*\(batch, height, width, group"):
        layer(np.zeros((1, 4, 4, 3), "float32"))


def test_get_config_round_trip():
    layer = kcl.GroupPooling2D("mean", data_format="channels_first")
    config = layer.get_config()
    assert config["mode"] == "mean" and config["data_format"] == "channels_first"
    assert kcl.GroupPooling2D.from_config(config).get_config() == config


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_constant_input_gives_finite_gradients(mode):
    layer = kcl.GroupPooling2D(mode, data_format="channels_last")
    y, value, g_x, g_w = layer_value_and_grads(layer, np.ones((1, 3, 3, 4, 2), "float32"))
    assert_all_finite(y, value, g_x, g_w, expected_weights=[])
    if mode == "mean":
        np.testing.assert_allclose(g_x, np.full_like(g_x, (2 * 1.0 + 1) / 4), rtol=1e-6)
