"""Math and property tests of LayerNormalization, InstanceNormalization,
PFLayerNorm and CLayerNorm (SPEC "Normalization and utility layers")."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, layer_value_and_grads, value_and_grads
from tests.harness import to_numpy

NORMS = {
    "LayerNormalization": kcl.LayerNormalization,
    "InstanceNormalization": kcl.InstanceNormalization,
    "PFLayerNorm": kcl.PFLayerNorm,
    "CLayerNorm": kcl.CLayerNorm,
}
AFFINE = {"LayerNormalization", "InstanceNormalization", "CLayerNorm"}
SHAPES = [(2, 7, 3), (2, 4, 5, 3), (2, 3, 2, 4, 3)]  # channels_last, C = 3
SHAPE4 = SHAPES[1]  # few distinct shapes keep the JAX op compilation cheap


def rand(*shape, scale=1.0, shift=0.0):
    return (np.random.randn(*shape) * scale + shift).astype("float32")


def _axes(name, ndim):
    """Statistics axes for channels_last input of rank `ndim` (SPEC)."""
    if name == "LayerNormalization":
        return (ndim - 1,)
    if name == "InstanceNormalization":
        return tuple(range(1, ndim - 1))
    return tuple(range(1, ndim))


def _set_affine(layer, c):
    gamma = np.linspace(-1.5, 2.0, c).astype("float32")
    beta = np.linspace(0.5, -0.7, c).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    return gamma, beta


def _reference(name, x, eps, gamma=None, beta=None):
    """channels_last numpy reference."""
    y = ref.standardize(x, _axes(name, x.ndim), eps)
    if gamma is not None:
        y = y * gamma + beta
    return y


@pytest.mark.parametrize(
    "shape, eps",
    [(SHAPES[0], 1e-6), (SHAPES[1], 1e-6), (SHAPES[1], 0.25), (SHAPES[2], 0.25)],
    ids=["rank3", "rank4", "rank4-eps0.25", "rank5-eps0.25"],
)
@pytest.mark.parametrize("name", list(NORMS))
def test_matches_numpy_reference(name, shape, eps):
    # Non-zero mean, non-unit std; eps=0.25 checks (std + eps), not sqrt(var + eps).
    x = rand(*shape, scale=2.0, shift=1.5)
    layer = NORMS[name](eps=eps, data_format="channels_last")
    layer(x)
    gamma = beta = None
    if name in AFFINE:
        gamma, beta = _set_affine(layer, shape[-1])
    np.testing.assert_allclose(
        to_numpy(layer(x)), _reference(name, x, eps, gamma, beta), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("name", list(NORMS))
def test_channels_first_matches_channels_last(name):
    # channels_first (2, 3, 4, 3): the last axis equals C, so a per-channel
    # affine broadcast along the wrong axis would show.
    shape = (2, 4, 3, 3)
    x = rand(*shape, scale=2.0, shift=-1.0)
    last = NORMS[name](data_format="channels_last")
    first = NORMS[name](data_format="channels_first")
    last(x)
    first(ref.to_channels_first(x))
    if name in AFFINE:
        _set_affine(last, shape[-1])
        _set_affine(first, shape[-1])
    y_first = to_numpy(first(ref.to_channels_first(x)))
    np.testing.assert_allclose(
        ref.to_channels_last(y_first), to_numpy(last(x)), rtol=1e-5, atol=1e-5
    )


def test_known_values():
    # Biased std: [1, 3] -> mean 2, std 1 -> [-1, 1] (unbiased would give +-0.707).
    x = np.array([[[1.0, 3.0]]], "float32")
    y = kcl.LayerNormalization(eps=1e-12, data_format="channels_last")(x)
    np.testing.assert_allclose(to_numpy(y), [[[-1.0, 1.0]]], atol=1e-6)
    y = kcl.PFLayerNorm(eps=1.0, data_format="channels_last")(x)
    np.testing.assert_allclose(to_numpy(y), [[[-0.5, 0.5]]], atol=1e-6)


@pytest.mark.parametrize("name", list(NORMS))
def test_weights(name):
    layer = NORMS[name](data_format="channels_last")
    layer(rand(*SHAPE4))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    if name in AFFINE:
        assert shapes == {"gamma": (3,), "beta": (3,)}
        np.testing.assert_array_equal(to_numpy(layer.gamma), np.ones(3))
        np.testing.assert_array_equal(to_numpy(layer.beta), np.zeros(3))
    else:
        assert shapes == {}
    layer = NORMS[name](data_format="channels_first")
    layer(ref.to_channels_last(rand(*SHAPE4)))  # (2, 5, 3, 4): 5 channels first
    if name in AFFINE:
        assert tuple(layer.gamma.shape) == (5,)


@pytest.mark.parametrize("name", list(NORMS))
def test_gradient_flows_through_mean_and_std(name):
    # d/dx sum(g * layer(x)) against the analytic VJP of (x - mean) / (std + eps).
    x = rand(*SHAPE4, scale=1.5, shift=0.5)
    g = rand(*SHAPE4)
    eps = 0.1
    layer = NORMS[name](eps=eps, data_format="channels_last")
    layer(x)
    gamma = np.ones(3)
    if name in AFFINE:
        gamma, _ = _set_affine(layer, 3)
    g_const = ops.convert_to_tensor(g)
    _, (grad,) = value_and_grads(lambda t: ops.sum(layer(t) * g_const), x)
    expected = ref.standardize_vjp(x, g * gamma, _axes(name, 4), eps)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("name", list(NORMS))
def test_constant_input_finite_values_and_gradients(name, data_format):
    x = np.ones(SHAPE4, "float32")
    layer = NORMS[name](data_format=data_format)
    layer(x)
    c = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    expected_weights = []
    beta = np.zeros(c)
    if name in AFFINE:
        _, beta = _set_affine(layer, c)
        expected_weights = ["gamma", "beta"]
    y, value_, g_x, g_w = layer_value_and_grads(layer, x)
    assert_all_finite(y, value_, g_x, g_w, expected_weights=expected_weights)
    # (x - mean) is exactly 0, so the output is beta.
    shape = (1, 1, 1, c) if data_format == "channels_last" else (1, c, 1, 1)
    np.testing.assert_allclose(y, np.broadcast_to(beta.reshape(shape), x.shape), atol=1e-6)


@pytest.mark.parametrize("name", ["InstanceNormalization", "LayerNormalization"])
def test_single_element_statistics_are_finite(name):
    # One position (InstanceNorm) / one channel (LayerNorm): std == 0 everywhere.
    x = rand(2, 1, 1, 1) if name == "InstanceNormalization" else rand(2, 3, 4, 1)
    layer = NORMS[name](data_format="channels_last")
    assert_all_finite(*layer_value_and_grads(layer, x), expected_weights=["gamma", "beta"])


@pytest.mark.parametrize("name", list(NORMS))
def test_bad_data_format(name):
    with pytest.raises(ValueError, match="data_format"):
        NORMS[name](data_format="channels_middle")


@pytest.mark.parametrize("name", list(NORMS))
def test_default_data_format_follows_keras_config(name):
    assert NORMS[name]().data_format == keras.config.image_data_format()


@pytest.mark.parametrize("shape", [(2, 3), (4,)])
def test_instance_norm_wrong_rank_names_layer_and_shape(shape):
    layer = kcl.InstanceNormalization(data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(*shape))
    assert "InstanceNormalization" in str(info.value) and "batch" in str(info.value)


@pytest.mark.parametrize("name", ["LayerNormalization", "CLayerNorm", "PFLayerNorm"])
def test_rank1_input_rejected(name):
    with pytest.raises(ValueError, match="rank") as info:
        NORMS[name](data_format="channels_last")(rand(4))
    assert name in str(info.value)


@pytest.mark.parametrize("scale", [1e30, 1e-30], ids=["1e30", "1e-30"])
@pytest.mark.parametrize("name", list(NORMS))
def test_scale_extremes(name, scale):
    """The statistics are taken of a pre-scaled input: at 1e30 the variance
    does not overflow float32 (it gave all zeros), and the four norms stay
    scale-invariant: the same result as for the unscaled input (eps is
    negligible against the std at that scale).  At 1e-30 the std is far
    below eps and the result is `(x - mean) / eps`, finite."""
    x = rand(*SHAPE4, scale=2.0, shift=1.0)
    layer = NORMS[name](data_format="channels_last")
    y = to_numpy(layer(x * scale))
    assert np.all(np.isfinite(y))
    if scale > 1:
        np.testing.assert_allclose(y, _reference(name, x, 0.0), rtol=1e-4, atol=1e-4)
    else:
        expected = _reference(name, x.astype("float64") * scale, 1e-6)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-30)
    _, value, g_x, g_w = layer_value_and_grads(layer, x * scale)
    assert np.all(np.isfinite(g_x)) and all(np.all(np.isfinite(g)) for g in g_w.values())
