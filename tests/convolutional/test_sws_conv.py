"""Math and property tests of kcl.SWSConv1D/2D/3D (timm ScaledStdConv2d semantics)."""

import math

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, degenerate_conv_case, layer_value_and_grads
from tests.harness import to_numpy

SWS = {1: kcl.SWSConv1D, 2: kcl.SWSConv2D, 3: kcl.SWSConv3D}
SPATIAL = {1: (9,), 2: (6, 5), 3: (4, 5, 3)}
C_IN = 4
FILTERS = 6
FAST = dict(kernel_initializer="zeros")  # tests assign their own random kernels

# SPEC constants (the PyTorch seed swapped swish and mish; these must not be).
GAMMAS = {
    "relu": math.sqrt(2.0 / (1.0 - 1.0 / math.pi)),
    "silu": 1.7872,
    "swish": 1.7872,
    "gelu": 1.7009,
    "mish": 1.5920,
    "linear": 1.0,
    None: 1.0,
}


def rand(*shape, scale=1.0, shift=0.0):
    return (np.random.randn(*shape) * scale + shift).astype("float32")


def _run(layer, x, gain=None):
    """Random kernel/bias (and gain); returns output, kernel, bias as numpy."""
    layer(x)
    k = rand(*layer.kernel.shape, scale=0.5, shift=0.2)
    b = rand(layer.filters)
    layer.kernel.assign(k)
    layer.bias.assign(b)
    if gain is not None:
        layer.gain.assign(gain)
    return to_numpy(layer(x)), k, b


def _reference(x, k, b, gamma, gain=1.0, eps=1e-6, **conv_args):
    return ref.conv_nd(x, ref.sws_kernel(k, gain, gamma, eps), **conv_args) + b


def test_relu_gamma_value():
    assert GAMMAS["relu"] == pytest.approx(1.7128585, abs=1e-6)


@pytest.mark.parametrize("activation", list(GAMMAS), ids=[str(a) for a in GAMMAS])
def test_gamma_from_preceding_activation(activation):
    layer = kcl.SWSConv2D(
        FILTERS, 3, preceding_activation=activation, data_format="channels_last", **FAST
    )
    x = rand(2, 5, 5, C_IN)
    gain = np.linspace(0.5, 1.5, FILTERS).astype("float32")
    y, k, b = _run(layer, x, gain)
    np.testing.assert_allclose(
        y, _reference(x, k, b, GAMMAS[activation], gain), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_explicit_gamma_overrides_activation(rank):
    layer = SWS[rank](
        FILTERS, 2, preceding_activation="relu", gamma=0.37, data_format="channels_last", **FAST
    )
    x = rand(2, *SPATIAL[rank], C_IN)
    y, k, b = _run(layer, x)
    tol = dict(rtol=1e-4, atol=1e-4) if rank == 3 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, _reference(x, k, b, 0.37), **tol)


@pytest.mark.parametrize(
    "rank, args",
    [
        (1, dict(kernel_size=3, padding="causal", groups=2)),
        (2, dict(kernel_size=(3, 2), padding="same", strides=2, groups=2)),
        (3, dict(kernel_size=2, padding="same", dilation_rate=(1, 2, 1))),
    ],
)
def test_fan_in_with_groups_and_ranks(rank, args):
    # fan_in = prod(kernel_size) * in / groups, computed by the reference from
    # the kernel shape (*k, in/groups, filters).
    layer = SWS[rank](
        FILTERS, preceding_activation="gelu", data_format="channels_last", **args, **FAST
    )
    x = rand(2, *SPATIAL[rank], C_IN)
    gain = np.linspace(-1.0, 2.0, FILTERS).astype("float32")
    y, k, b = _run(layer, x, gain)
    conv_args = {a: args[a] for a in ("padding", "strides", "dilation_rate", "groups") if a in args}
    expected = _reference(x, k, b, GAMMAS["gelu"], gain, **conv_args)
    tol = dict(rtol=1e-4, atol=1e-4) if rank == 3 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, expected, **tol)


def test_learnable_gain_weight():
    layer = kcl.SWSConv2D(FILTERS, 3, data_format="channels_last", **FAST)
    layer(rand(1, 5, 5, C_IN))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {"kernel": (3, 3, C_IN, FILTERS), "bias": (FILTERS,), "gain": (FILTERS,)}
    assert any(w.path.endswith("gain") for w in layer.trainable_weights)
    np.testing.assert_array_equal(to_numpy(layer.gain), np.ones(FILTERS, "float32"))


def test_no_gain_weight_when_not_learnable():
    layer = kcl.SWSConv2D(
        FILTERS,
        3,
        learnable_gain=False,
        preceding_activation="silu",
        data_format="channels_last",
        **FAST,
    )
    x = rand(2, 5, 5, C_IN)
    y, k, b = _run(layer, x)
    assert sorted(w.path.split("/")[-1] for w in layer.weights) == ["bias", "kernel"]
    np.testing.assert_allclose(y, _reference(x, k, b, GAMMAS["silu"], 1.0), rtol=1e-5, atol=1e-5)


def test_eps_inside_the_sqrt():
    eps = 0.3
    layer = kcl.SWSConv2D(FILTERS, 2, eps=eps, data_format="channels_last", **FAST)
    x = rand(2, 4, 4, C_IN)
    y, k, b = _run(layer, x)
    np.testing.assert_allclose(
        y, _reference(x, k, b, GAMMAS["relu"], eps=eps), rtol=1e-5, atol=1e-5
    )


def test_channels_first_matches_channels_last():
    last = kcl.SWSConv2D(FILTERS, 3, padding="same", strides=2, data_format="channels_last", **FAST)
    first = kcl.SWSConv2D(
        FILTERS, 3, padding="same", strides=2, data_format="channels_first", **FAST
    )
    x = rand(2, 7, 5, C_IN)
    _run(last, x, np.linspace(0.5, 1.5, FILTERS).astype("float32"))
    first(ref.to_channels_first(x))
    first.set_weights(last.get_weights())
    y_first = to_numpy(first(ref.to_channels_first(x)))
    np.testing.assert_allclose(
        ref.to_channels_last(y_first), to_numpy(last(x)), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("learnable_gain", [True, False])
@pytest.mark.parametrize("situation", ["zero_kernel", "constant_input"])
def test_gradients_finite(situation, learnable_gain):
    layer = kcl.SWSConv2D(
        4, 3, padding="same", learnable_gain=learnable_gain, data_format="channels_last", **FAST
    )
    x = degenerate_conv_case(layer, rand(2, 5, 5, 3), situation)
    expected = ["kernel", "bias"] + (["gain"] if learnable_gain else [])
    assert_all_finite(*layer_value_and_grads(layer, x), expected_weights=expected)


@pytest.mark.parametrize("name", ["tanh", "ReLU6", "elu", ""])
def test_unknown_preceding_activation(name):
    with pytest.raises(ValueError, match="preceding_activation"):
        kcl.SWSConv2D(4, 3, preceding_activation=name)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_bad_arguments(rank):
    with pytest.raises(ValueError, match="padding"):
        SWS[rank](4, 3, padding="full")
    with pytest.raises(ValueError, match="filters"):
        SWS[rank](-1, 3)
    with pytest.raises(ValueError, match="data_format"):
        SWS[rank](4, 3, data_format="channels")
    with pytest.raises(ValueError, match="groups"):
        SWS[rank](4, 3, groups=3)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_wrong_rank_names_layer(rank):
    layer = SWS[rank](4, 1, data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(1, *SPATIAL[rank], 2, 3))
    assert f"SWSConv{rank}D" in str(info.value)
