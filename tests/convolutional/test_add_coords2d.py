"""Math and property tests of kcl.AddCoords2D (SPEC "Convolutions")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.harness import to_numpy


def rand(*shape):
    return np.random.randn(*shape).astype("float32")


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("hw", [(4, 5), (1, 3), (3, 1), (1, 1)])
def test_matches_numpy_reference_channels_last(hw, with_r):
    x = rand(2, *hw, 3)
    y = to_numpy(kcl.AddCoords2D(with_r=with_r, data_format="channels_last")(x))
    assert y.shape == (2, *hw, 3 + (3 if with_r else 2))
    np.testing.assert_allclose(y, ref.add_coords2d(x, with_r), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("with_r", [False, True])
def test_channels_first(with_r):
    x = rand(2, 4, 3, 2)
    layer = kcl.AddCoords2D(with_r=with_r, data_format="channels_first")
    y = to_numpy(layer(ref.to_channels_first(x)))
    assert y.shape == (2, 2 + (3 if with_r else 2), 4, 3)
    np.testing.assert_allclose(
        ref.to_channels_last(y), ref.add_coords2d(x, with_r), rtol=1e-6, atol=1e-6
    )
    assert tuple(layer.compute_output_shape(y.shape[:1] + (2, 4, 3))) == y.shape


def test_known_values():
    y = to_numpy(kcl.AddCoords2D(with_r=True, data_format="channels_last")(np.zeros((1, 3, 5, 1))))
    # Row coordinate first (varies along height), then column coordinate.
    np.testing.assert_allclose(y[0, :, 0, 1], [-1.0, 0.0, 1.0], atol=1e-7)
    np.testing.assert_allclose(y[0, 0, :, 2], [-1.0, -0.5, 0.0, 0.5, 1.0], atol=1e-7)
    np.testing.assert_allclose(y[0, :, 3, 1], [-1.0, 0.0, 1.0], atol=1e-7)
    # Radius: distance from the centre (0 at the centre, sqrt(2) at the corners).
    assert y[0, 1, 2, 3] == pytest.approx(0.0, abs=1e-7)
    assert y[0, 0, 0, 3] == pytest.approx(np.sqrt(2.0), abs=1e-6)
    assert y[0, 2, 3, 3] == pytest.approx(np.sqrt(1.0 + 0.25), abs=1e-6)
    # The input channels are unchanged and come first.
    np.testing.assert_array_equal(y[..., 0], np.zeros((1, 3, 5)))


def test_input_channels_preserved_and_no_weights():
    x = rand(2, 3, 4, 5)
    layer = kcl.AddCoords2D(data_format="channels_last")
    y = to_numpy(layer(x))
    np.testing.assert_array_equal(y[..., :5], x)
    assert layer.weights == []
    assert tuple(layer.compute_output_shape((None, 3, 4, 5))) == (None, 3, 4, 7)


@pytest.mark.parametrize(
    "with_r, data_format", [(False, "channels_last"), (True, "channels_first")]
)
def test_unknown_spatial_size_in_functional_model(with_r, data_format):
    shape = (None, None, 2) if data_format == "channels_last" else (2, None, None)
    inputs = keras.Input(shape)
    outputs = kcl.AddCoords2D(with_r=with_r, data_format=data_format)(inputs)
    model = keras.Model(inputs, outputs)
    for hw in [(3, 5), (6, 2)]:
        x = rand(2, *hw, 2)
        x_in = x if data_format == "channels_last" else ref.to_channels_first(x)
        y = to_numpy(model(x_in))
        if data_format == "channels_first":
            y = ref.to_channels_last(y)
        np.testing.assert_allclose(y, ref.add_coords2d(x, with_r), rtol=1e-6, atol=1e-6)


def test_default_data_format_follows_keras_config():
    layer = kcl.AddCoords2D()
    assert layer.data_format == keras.config.image_data_format()


def test_bad_data_format():
    with pytest.raises(ValueError, match="data_format"):
        kcl.AddCoords2D(data_format="channels")


@pytest.mark.parametrize("shape", [(1, 4, 3), (1, 2, 4, 4, 3)])
def test_wrong_rank_names_layer_and_shape(shape):
    layer = kcl.AddCoords2D(data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(*shape))
    assert "AddCoords2D" in str(info.value) and "batch" in str(info.value)


# ---------------------------------------------------------- kcl.ops.add_coords2d
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_op_equals_layer_and_reference(data_format, with_r):
    x = rand(2, 4, 3, 2)
    x_in = x if data_format == "channels_last" else ref.to_channels_first(x)
    y_op = to_numpy(kcl.ops.add_coords2d(x_in, with_r=with_r, data_format=data_format))
    y_layer = to_numpy(kcl.AddCoords2D(with_r=with_r, data_format=data_format)(x_in))
    np.testing.assert_array_equal(y_op, y_layer)
    if data_format == "channels_first":
        y_op = ref.to_channels_last(y_op)
    np.testing.assert_allclose(y_op, ref.add_coords2d(x, with_r), rtol=1e-6, atol=1e-6)


def test_op_unknown_spatial_size_and_errors():
    inputs = keras.Input((None, None, 2))
    outputs = kcl.ops.add_coords2d(inputs, with_r=True, data_format="channels_last")
    assert tuple(outputs.shape) == (None, None, None, 5)
    model = keras.Model(inputs, outputs)
    x = rand(1, 3, 6, 2)
    np.testing.assert_allclose(to_numpy(model(x)), ref.add_coords2d(x, True), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="add_coords2d: `x`.*rank 4"):
        kcl.ops.add_coords2d(keras.Input((4, 3)), data_format="channels_last")
    with pytest.raises(ValueError, match="add_coords2d.*data_format"):
        kcl.ops.add_coords2d(x, data_format="NHWC")
