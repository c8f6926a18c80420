"""Tests of kcl.check_equivariance and the group-action helpers."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers.utils import equivariance
from tests.equivariant import reference as gref
from tests.keras_reference import run_keras_layer

CL, CF = "channels_last", "channels_first"


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_plain_conv_is_not_equivariant():
    """The check can fail: a random plain convolution deviates under rotation."""
    layer = keras.layers.Conv2D(3, 3, padding="same", data_format=CL)
    x = rand(1, 7, 7, 2)
    deviations = kcl.check_equivariance(layer, x, group="C4", data_format=CL, return_all=True)
    assert set(deviations) == {"rot90", "rot180", "rot270"}
    assert min(deviations.values()) > 1e-2


def test_pointwise_layer_is_equivariant_both_formats():
    """A 1x1 conv (4-D maps) and a per-position function of a group map (5-D)."""
    x = rand(2, 5, 7, 3)
    layer = keras.layers.Conv2D(2, 1, data_format=CL)
    assert kcl.check_equivariance(layer, x, group="D4", data_format=CL) < 1e-6
    layer_cf = keras.layers.Conv2D(2, 1, data_format=CF)
    x_cf = np.moveaxis(x, -1, 1)
    layer_cf.build(x_cf.shape)

    def call_cf(t):
        return run_keras_layer(layer_cf, t)

    assert kcl.check_equivariance(call_cf, x_cf, "D4", CF) < 1e-6
    # 5-D in and out: an elementwise function commutes with every group action.
    g_map = rand(2, 5, 5, 8, 3)
    assert kcl.check_equivariance(keras.layers.Activation("tanh"), g_map, "D4", CL) < 1e-6


def test_group_map_permutation_matters():
    """A 5-D identity-like map that ignores the group permutation is not equivariant:
    rolling the group axis of the output breaks the law."""

    def rolled(x):
        return np.roll(np.asarray(x), 1, axis=3)

    g_map = rand(1, 5, 5, 4, 2)
    assert kcl.check_equivariance(lambda x: np.asarray(x), g_map, "C4", CL) == 0.0
    assert kcl.check_equivariance(rolled, g_map, "C4", CL) == 0.0  # roll commutes with C4
    # ...but a flip of the group axis does not commute with rotations.
    flipped = kcl.check_equivariance(lambda x: np.asarray(x)[:, :, :, ::-1], g_map, "C4", CL)
    assert flipped > 1e-2


def test_invariant_vector_output():
    model = keras.Sequential(
        [
            kcl.GroupConv2D(3, 3, group="C4", padding="same", data_format=CL),
            kcl.GroupPooling2D(data_format=CL),
            keras.layers.GlobalAveragePooling2D(data_format=CL),
        ]
    )
    x = rand(2, 9, 9, 1)
    assert kcl.check_equivariance(model, x, group="C4", data_format=CL) < 1e-5


def test_transformation_selection_and_errors():
    layer = keras.layers.Conv2D(2, 1, data_format=CL)
    x = rand(1, 5, 5, 2)
    out = kcl.check_equivariance(layer, x, "D4", CL, transformations=["flip"], return_all=True)
    assert list(out) == ["flip"]
    with pytest.raises(ValueError, match="flip"):
        kcl.check_equivariance(layer, x, "C4", CL, transformations=["flip"])
    with pytest.raises(ValueError, match="group"):
        kcl.check_equivariance(layer, x, "C8", CL)
    with pytest.raises(ValueError, match="group axis"):
        kcl.check_equivariance(lambda t: t, rand(1, 5, 5, 3, 2), "C4", CL)
    with pytest.raises(ValueError, match="rank 3"):
        kcl.check_equivariance(lambda t: t, rand(1, 5, 5), "C4", CL)


def test_group_permutation_is_the_documented_one():
    # C4 rotation: (t . y)[..., j] = rot(y[..., perm[j]]), perm[j] = j - 1.
    np.testing.assert_array_equal(equivariance.group_permutation("C4", 1), [3, 0, 1, 2])
    for t in range(8):
        perm = equivariance.group_permutation("D4", t)
        np.testing.assert_array_equal(perm, [gref.mul(gref.inv(t), j) for j in range(8)])
    y = rand(1, 3, 5, 8, 2)
    np.testing.assert_array_equal(
        equivariance.transform_group_map(y, 1, "D4", (1, 2), 3), gref.rotate_group_map(y)
    )
    np.testing.assert_array_equal(
        equivariance.transform_group_map(y, 4, "D4", (1, 2), 3), gref.mirror_group_map(y)
    )
