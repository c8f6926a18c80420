"""Blur2D against numpy references of the three boundaries, and its properties."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers.ops.pooling import binomial_filter
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy
from tests.pooling import reference

CL, CF = "channels_last", "channels_first"


def _x(shape=(2, 7, 8, 3), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_binomial_filter_rows_of_pascals_triangle():
    np.testing.assert_array_equal(binomial_filter(1), [[1.0]])
    np.testing.assert_allclose(binomial_filter(3), np.outer([1, 2, 1], [1, 2, 1]) / 16.0)
    np.testing.assert_allclose(
        binomial_filter(5), np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0
    )
    for f in range(1, 8):
        assert abs(binomial_filter(f).sum() - 1.0) < 1e-12


@pytest.mark.parametrize("f,s", [(3, 2), (4, 2), (5, 1), (1, 2)])
def test_valid_matches_reference(f, s):
    x = _x()
    y = kcl.Blur2D(f, strides=s, data_format=CL)(x)
    expected = reference.depthwise_filter(x, binomial_filter(f), s, ((0, 0), (0, 0)))
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("f,s", [(3, 2), (4, 2), (5, 1), (2, 3)])
@pytest.mark.parametrize("boundary", ["normalize", "reflect", "zero"])
def test_same_matches_reference(f, s, boundary):
    x = _x()
    _, h, w, _ = x.shape
    y = to_numpy(kcl.Blur2D(f, strides=s, padding="same", boundary=boundary, data_format=CL)(x))
    k = binomial_filter(f)
    if boundary == "reflect":
        padded = np.pad(
            x, ((0, 0), ((f - 1) // 2, f // 2), ((f - 1) // 2, f // 2), (0, 0)), "reflect"
        )
        expected = reference.depthwise_filter(padded, k, s, ((0, 0), (0, 0)))
    else:
        pads = (reference.same_pads(h, f, s), reference.same_pads(w, f, s))
        expected = reference.depthwise_filter(x, k, s, pads)
        if boundary == "normalize":
            mass = reference.depthwise_filter(np.ones((1, h, w, 1)), k, s, pads)
            expected = expected / mass
    assert y.shape == (2, -(-h // s), -(-w // s), 3)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_normalize_keeps_constants_and_equals_average_pooling_for_f2():
    ones = np.full((1, 7, 6, 2), 3.0, "float32")
    y = kcl.Blur2D(5, strides=2, padding="same", data_format=CL)(ones)
    np.testing.assert_allclose(to_numpy(y), 3.0, rtol=1e-6)
    x = _x((2, 7, 6, 2))
    blur = kcl.Blur2D(2, strides=2, padding="same", data_format=CL)(x)
    avg = keras.layers.AveragePooling2D(2, 2, padding="same", data_format=CL)(x)
    np.testing.assert_allclose(to_numpy(blur), to_numpy(avg), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_shape_is_keras_pooling_arithmetic(padding):
    for size, f, s in [((9, 8), 3, 2), ((7, 5), 4, 3), ((6, 6), 1, 1)]:
        shape = (2, *size, 3)
        layer = kcl.Blur2D(f, strides=s, padding=padding, data_format=CL)
        expected = keras.layers.AveragePooling2D(
            f, s, padding, data_format=CL
        ).compute_output_shape(shape)
        assert layer.compute_output_shape(shape) == tuple(expected)
        assert tuple(layer(_x(shape)).shape) == tuple(expected)


@pytest.mark.parametrize("boundary", ["normalize", "reflect", "zero"])
def test_channels_first_equals_channels_last(boundary):
    x = _x()
    kwargs = dict(filter_size=4, strides=2, padding="same", boundary=boundary)
    y_cl = to_numpy(kcl.Blur2D(data_format=CL, **kwargs)(x))
    y_cf = to_numpy(kcl.Blur2D(data_format=CF, **kwargs)(np.moveaxis(x, -1, 1)))
    np.testing.assert_allclose(np.moveaxis(y_cf, 1, -1), y_cl, rtol=1e-5, atol=1e-6)


def test_no_weights_and_finite_gradients_on_constant_input():
    layer = kcl.Blur2D(3, padding="same", data_format=CL)
    y, value, g_x, g_w = layer_value_and_grads(layer, np.ones((1, 5, 5, 2), "float32"))
    assert layer.weights == []
    assert_all_finite(y, value, g_x, g_w, expected_weights=[])
    assert np.abs(g_x).sum() > 0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(filter_size=0), "filter_size"),
        (dict(filter_size=2.5), "filter_size"),
        (dict(strides=0), "strides"),
        (dict(padding="causal"), "padding"),
        (dict(boundary="wrap"), "boundary"),
        (dict(data_format="NHWC"), "data_format"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcl.Blur2D(**kwargs)


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="Blur2D.*rank 4"):
        kcl.Blur2D(data_format=CL)(np.zeros((1, 5, 5), "float32"))
    with pytest.raises(ValueError, match="Blur2D.*filter_size"):
        kcl.Blur2D(5, data_format=CL)(np.zeros((1, 4, 8, 1), "float32"))
    with pytest.raises(ValueError, match="Blur2D.*reflect"):
        kcl.Blur2D(5, padding="same", boundary="reflect", data_format=CL)(
            np.zeros((1, 2, 8, 1), "float32")
        )


# ------------------------------------------------------------ kcl.ops.blur_pool2d
OP_KWARGS = [
    dict(),
    dict(filter_size=4, padding="same"),
    dict(filter_size=5, strides=1, padding="same", boundary="reflect"),
    dict(filter_size=2, strides=(3, 2), padding="same", boundary="zero"),
    dict(filter_size=1, strides=2, padding="same"),
]


@pytest.mark.parametrize("data_format", [CL, CF])
@pytest.mark.parametrize("kwargs", OP_KWARGS, ids=["default", "norm4", "reflect5", "zero2", "f1"])
def test_op_equals_layer(kwargs, data_format):
    x = _x()
    if data_format == CF:
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    y_layer = to_numpy(kcl.Blur2D(data_format=data_format, **kwargs)(x))
    y_op = to_numpy(kcl.ops.blur_pool2d(x, data_format=data_format, **kwargs))
    np.testing.assert_array_equal(y_op, y_layer)


def test_op_matches_reference_and_keeps_the_dtype():
    x = _x((1, 6, 7, 2))
    k = binomial_filter(3)
    pads = (reference.same_pads(6, 3, 2), reference.same_pads(7, 3, 2))
    expected = reference.depthwise_filter(x, k, 2, pads)
    expected /= reference.depthwise_filter(np.ones((1, 6, 7, 1)), k, 2, pads)
    y = kcl.ops.blur_pool2d(x, padding="same", data_format=CL)
    np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-5, atol=1e-6)
    half = kcl.ops.blur_pool2d(x.astype("float16"), padding="same", data_format=CL)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    np.testing.assert_allclose(to_numpy(half).astype("float32"), expected, atol=1e-2)


def test_op_symbolic_shapes_and_errors():
    y = kcl.ops.blur_pool2d(keras.Input((None, 9, 3)), 3, padding="same", data_format=CL)
    assert tuple(y.shape) == (None, None, 5, 3)
    with pytest.raises(ValueError, match="blur_pool2d.*rank 4"):
        kcl.ops.blur_pool2d(keras.Input((5, 5)), data_format=CL)
    with pytest.raises(ValueError, match="blur_pool2d.*channel"):
        kcl.ops.blur_pool2d(keras.Input((5, 5, None)), data_format=CL)
    with pytest.raises(ValueError, match="blur_pool2d.*filter_size=5"):
        kcl.ops.blur_pool2d(keras.Input((4, 8, 1)), 5, data_format=CL)
    with pytest.raises(ValueError, match="blur_pool2d.*reflect"):
        kcl.ops.blur_pool2d(
            keras.Input((2, 8, 1)), 5, padding="same", boundary="reflect", data_format=CL
        )
    with pytest.raises(ValueError, match="blur_pool2d.*boundary"):
        kcl.ops.blur_pool2d(np.zeros((1, 4, 4, 1), "float32"), boundary="wrap")
