"""Math and property tests of kcl.CoordConv2D (SPEC "Convolutions")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy

FAST = dict(kernel_initializer="zeros")  # tests assign their own random kernels
C_IN = 3
FILTERS = 4


def rand(*shape):
    return np.random.randn(*shape).astype("float32")


def _randomize(layer):
    k, b = rand(*layer.kernel.shape), rand(*layer.bias.shape)
    layer.kernel.assign(k)
    layer.bias.assign(b)
    return k, b


CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding="same", strides=2),
    dict(kernel_size=(2, 3), padding="same", dilation_rate=(2, 1)),
]


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("case", CASES, ids=["valid", "same-s2", "same-dil"])
def test_equals_add_coords_then_conv(case, with_r):
    x = rand(2, 6, 5, C_IN)
    layer = kcl.CoordConv2D(FILTERS, with_r=with_r, data_format="channels_last", **case, **FAST)
    layer(x)
    k, b = _randomize(layer)
    y = to_numpy(layer(x))
    # Numpy reference.
    expected = (
        ref.conv_nd(
            ref.add_coords2d(x, with_r),
            k,
            strides=case.get("strides", 1),
            padding=case.get("padding", "valid"),
            dilation_rate=case.get("dilation_rate", 1),
        )
        + b
    )
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # AddCoords2D followed by keras.layers.Conv2D with the same kernel and bias.
    conv = keras.layers.Conv2D(FILTERS, data_format="channels_last", **case, **FAST)
    with_coords = kcl.AddCoords2D(with_r=with_r, data_format="channels_last")(x)
    conv(with_coords)
    conv.set_weights([k, b])
    np.testing.assert_allclose(y, to_numpy(conv(with_coords)), rtol=1e-5, atol=1e-5)


def test_weights_and_defaults():
    layer = kcl.CoordConv2D(FILTERS, (3, 2), with_r=True, data_format="channels_last", **FAST)
    layer(rand(1, 5, 5, C_IN))
    assert layer.use_bias is True
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {"kernel": (3, 2, C_IN + 3, FILTERS), "bias": (FILTERS,)}
    layer = kcl.CoordConv2D(FILTERS, 3, data_format="channels_last", **FAST)
    layer(rand(1, 5, 5, C_IN))
    assert tuple(layer.kernel.shape) == (3, 3, C_IN + 2, FILTERS)


def test_weightnorm_equals_add_coords_then_kcl_conv():
    x = rand(2, 5, 5, C_IN)
    layer = kcl.CoordConv2D(
        FILTERS, 3, padding="same", weightnorm=True, data_format="channels_last", **FAST
    )
    layer(x)
    k, b = _randomize(layer)
    g = np.linspace(-1.0, 2.0, FILTERS).astype("float32")
    layer.wn_g.assign(g)
    k_eff = ref.weightnorm_kernel(k, g, 1e-6)
    expected = ref.conv_nd(ref.add_coords2d(x), k_eff, padding="same") + b
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("with_r", [False, True])
def test_channels_first_matches_channels_last(with_r):
    x = rand(2, 6, 5, C_IN)
    last = kcl.CoordConv2D(
        FILTERS, 3, padding="same", with_r=with_r, data_format="channels_last", **FAST
    )
    first = kcl.CoordConv2D(
        FILTERS, 3, padding="same", with_r=with_r, data_format="channels_first", **FAST
    )
    last(x)
    first(ref.to_channels_first(x))
    _randomize(last)
    first.set_weights(last.get_weights())
    y_first = to_numpy(first(ref.to_channels_first(x)))
    np.testing.assert_allclose(
        ref.to_channels_last(y_first), to_numpy(last(x)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_unknown_spatial_size_in_functional_model(data_format):
    shape = (None, None, C_IN) if data_format == "channels_last" else (C_IN, None, None)
    inputs = keras.Input(shape)
    layer = kcl.CoordConv2D(
        FILTERS, 3, padding="same", with_r=True, data_format=data_format, **FAST
    )
    model = keras.Model(inputs, layer(inputs))
    k, b = _randomize(layer)
    for hw in [(4, 6), (7, 3)]:
        x = rand(2, *hw, C_IN)
        x_in = x if data_format == "channels_last" else ref.to_channels_first(x)
        y = to_numpy(model(x_in))
        if data_format == "channels_first":
            y = ref.to_channels_last(y)
        expected = ref.conv_nd(ref.add_coords2d(x, True), k, padding="same") + b
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("situation", ["zero_kernel", "constant_input"])
def test_gradients_finite(situation):
    layer = kcl.CoordConv2D(FILTERS, 3, with_r=True, data_format="channels_last", **FAST)
    x = rand(2, 5, 5, C_IN)
    layer(x)
    if situation == "constant_input":
        _randomize(layer)
        x = np.ones_like(x)
    assert_all_finite(*layer_value_and_grads(layer, x), expected_weights=["kernel", "bias"])


def test_groups_count_the_coordinate_channels():
    # 4 input channels + 2 coordinates = 6: divisible by 2 and 3, 7 with r is not.
    layer = kcl.CoordConv2D(6, 1, groups=3, data_format="channels_last", **FAST)
    layer(rand(1, 3, 3, 4))
    assert tuple(layer.kernel.shape) == (1, 1, 2, 6)
    layer = kcl.CoordConv2D(6, 1, groups=2, with_r=True, data_format="channels_last", **FAST)
    with pytest.raises(ValueError, match="groups"):
        layer(rand(1, 3, 3, 4))


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        kcl.CoordConv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="filters"):
        kcl.CoordConv2D(0, 3)
    with pytest.raises(ValueError, match="data_format"):
        kcl.CoordConv2D(4, 3, data_format="last")
    with pytest.raises(ValueError, match="groups"):
        kcl.CoordConv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match="weightnorm") as info:
        kcl.CoordConv2D(4, 3, weightnorm=True, equalize=True)
    assert "equalize" in str(info.value)


@pytest.mark.parametrize("shape", [(1, 4, 3), (1, 2, 4, 4, 3)])
def test_wrong_rank_names_layer_and_shape(shape):
    layer = kcl.CoordConv2D(4, 1, data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(*shape))
    assert "CoordConv2D" in str(info.value) and "batch" in str(info.value)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_equals_conv_of_the_add_coords_op(data_format):
    """CoordConv2D convolves `kcl.ops.add_coords2d(x)` (same kernel and bias)."""
    x = rand(2, 6, 5, C_IN)
    cf = data_format == "channels_first"
    x_in = ref.to_channels_first(x) if cf else x
    layer = kcl.CoordConv2D(
        FILTERS, 3, padding="same", with_r=True, data_format=data_format, **FAST
    )
    layer(x_in)
    k, b = _randomize(layer)
    with_coords = to_numpy(kcl.ops.add_coords2d(x_in, with_r=True, data_format=data_format))
    expected = ref.conv_nd(
        ref.to_channels_last(with_coords) if cf else with_coords, k, padding="same"
    )
    expected = expected + b
    y = to_numpy(layer(x_in))
    np.testing.assert_allclose(ref.to_channels_last(y) if cf else y, expected, rtol=1e-5, atol=1e-5)
