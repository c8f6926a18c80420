"""Tests of kcl.Resize2D (SPEC "Normalization and utility layers")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.harness import to_numpy


def rand(*shape):
    return np.random.randn(*shape).astype("float32")


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("size", [(8, 6), (3, 2), 5], ids=["up", "down", "int"])
def test_matches_keras_image_resize(size, interpolation):
    x = rand(2, 4, 5, 3)
    y = to_numpy(kcl.Resize2D(size, interpolation=interpolation, data_format="channels_last")(x))
    hw = (size, size) if isinstance(size, int) else size
    expected = to_numpy(
        keras.ops.image.resize(x, hw, interpolation=interpolation, data_format="channels_last")
    )
    assert y.shape == (2, *hw, 3)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_channels_first_matches_channels_last(interpolation):
    x = rand(2, 4, 5, 3)
    last = to_numpy(
        kcl.Resize2D((7, 3), interpolation=interpolation, data_format="channels_last")(x)
    )
    layer = kcl.Resize2D((7, 3), interpolation=interpolation, data_format="channels_first")
    first = to_numpy(layer(ref.to_channels_first(x)))
    assert first.shape == (2, 3, 7, 3)
    np.testing.assert_allclose(ref.to_channels_last(first), last, rtol=1e-5, atol=1e-5)
    assert tuple(layer.compute_output_shape((None, 3, 4, 5))) == (None, 3, 7, 3)


def test_known_values():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], "float32").reshape(1, 2, 2, 1)
    nearest = to_numpy(kcl.Resize2D(4, interpolation="nearest", data_format="channels_last")(x))
    np.testing.assert_array_equal(nearest[0, :, :, 0], np.kron([[1, 2], [3, 4]], np.ones((2, 2))))
    # Half-pixel centres: [0, 1] upsampled to 4 gives [0, .25, .75, 1].
    row = np.array([0.0, 1.0], "float32").reshape(1, 1, 2, 1)
    up = to_numpy(kcl.Resize2D((1, 4), data_format="channels_last")(row))
    np.testing.assert_allclose(up[0, 0, :, 0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    # Downsampling by 2 (no antialiasing): the mean of each pair.
    row = np.arange(4, dtype="float32").reshape(1, 1, 4, 1)
    down = to_numpy(kcl.Resize2D((1, 2), data_format="channels_last")(row))
    np.testing.assert_allclose(down[0, 0, :, 0], [0.5, 2.5], atol=1e-6)


def test_unknown_spatial_size_in_functional_model():
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, kcl.Resize2D((6, 4), data_format="channels_last")(inputs))
    for hw in [(3, 5), (8, 2)]:
        x = rand(2, *hw, 2)
        expected = to_numpy(keras.ops.image.resize(x, (6, 4), data_format="channels_last"))
        np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="interpolation"):
        kcl.Resize2D(4, interpolation="area-ish")
    with pytest.raises(ValueError, match="data_format"):
        kcl.Resize2D(4, data_format="channels")
    with pytest.raises(ValueError, match="size"):
        kcl.Resize2D((4, 0))
    with pytest.raises(ValueError, match="size"):
        kcl.Resize2D((4, 4, 4))


@pytest.mark.parametrize("shape", [(1, 4, 3), (1, 2, 4, 4, 3)])
def test_wrong_rank_names_layer_and_shape(shape):
    layer = kcl.Resize2D(4, data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(*shape))
    assert "Resize2D" in str(info.value) and "batch" in str(info.value)
