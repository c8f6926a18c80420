"""Math and property tests of kcl.WSConv1D/2D/3D (timm StdConv2d semantics)."""

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, degenerate_conv_case, layer_value_and_grads
from tests.harness import to_numpy

WS = {1: kcl.WSConv1D, 2: kcl.WSConv2D, 3: kcl.WSConv3D}
SPATIAL = {1: (9,), 2: (6, 5), 3: (4, 5, 3)}
C_IN = 4
FILTERS = 6
FAST = dict(kernel_initializer="zeros")  # tests assign their own random kernels

CASES = [
    dict(rank=1, kernel_size=3, padding="causal", dilation_rate=2),
    dict(rank=1, kernel_size=2, strides=2, groups=2),
    dict(rank=2, kernel_size=3, padding="same"),
    dict(rank=2, kernel_size=(2, 3), strides=2, groups=2, activation="relu"),
    dict(rank=3, kernel_size=2, padding="same", strides=(1, 2, 1)),
]
IDS = ["-".join(f"{k}={v}" for k, v in c.items()).replace(" ", "") for c in CASES]


def rand(*shape, scale=1.0, shift=0.0):
    return (np.random.randn(*shape) * scale + shift).astype("float32")


def _split(case):
    case = dict(case)
    return case.pop("rank"), case


def _reference(x, k_eff, args, bias):
    y = ref.conv_nd(
        x,
        k_eff,
        strides=args.get("strides", 1),
        padding=args.get("padding", "valid"),
        dilation_rate=args.get("dilation_rate", 1),
        groups=args.get("groups", 1),
    )
    y = y + bias
    return np.maximum(y, 0.0) if args.get("activation") == "relu" else y


def _tol(rank):
    return dict(rtol=1e-4, atol=1e-4) if rank == 3 else dict(rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("eps", [1e-6, 0.5])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_numpy_reference(case, eps):
    rank, args = _split(case)
    layer = WS[rank](FILTERS, eps=eps, data_format="channels_last", **args, **FAST)
    x = rand(2, *SPATIAL[rank], C_IN)
    layer(x)
    # Non-zero mean and non-unit scale, so that standardization matters.
    k = rand(*layer.kernel.shape, scale=0.7, shift=0.3)
    b = rand(FILTERS)
    layer.kernel.assign(k)
    layer.bias.assign(b)
    expected = _reference(x, ref.ws_kernel(k, eps), args, b)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **_tol(rank))


def test_default_weights_and_bias():
    layer = kcl.WSConv2D(5, 3, groups=1, data_format="channels_last", **FAST)
    layer(rand(1, 5, 5, 2))
    assert layer.use_bias is True
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {"kernel": (3, 3, 2, 5), "bias": (5,)}


def test_invariant_to_per_filter_affine_kernel_change():
    # (k - mean) / std does not change when each filter is scaled by a positive
    # factor and shifted (eps small against the variance).
    layer = kcl.WSConv2D(FILTERS, 3, data_format="channels_last", **FAST)
    x = rand(2, 5, 5, C_IN)
    layer(x)
    k = rand(*layer.kernel.shape)
    layer.kernel.assign(k)
    y0 = to_numpy(layer(x))
    scale = np.linspace(0.5, 3.0, FILTERS).astype("float32")
    shift = np.linspace(-1.0, 1.0, FILTERS).astype("float32")
    layer.kernel.assign(k * scale + shift)
    np.testing.assert_allclose(to_numpy(layer(x)), y0, rtol=1e-4, atol=1e-4)


def test_variance_is_biased():
    # A filter of [-1, 1] has biased std 1, unbiased std sqrt(2): the kernel
    # standardized with eps=1e-12 stays [-1, 1], so the output is x1 - x0.
    layer = kcl.WSConv1D(1, 2, eps=1e-12, use_bias=False, data_format="channels_last", **FAST)
    x = np.arange(5, dtype="float32").reshape(1, 5, 1) ** 2
    layer(x)
    layer.kernel.assign(np.array([-1.0, 1.0], "float32").reshape(2, 1, 1))
    np.testing.assert_allclose(to_numpy(layer(x))[0, :, 0], np.diff(x[0, :, 0]), rtol=1e-6)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[4]], ids=[IDS[0], IDS[3], IDS[4]])
def test_channels_first_matches_channels_last(case):
    rank, args = _split(case)
    last = WS[rank](FILTERS, data_format="channels_last", **args, **FAST)
    first = WS[rank](FILTERS, data_format="channels_first", **args, **FAST)
    x = rand(2, *SPATIAL[rank], C_IN)
    last(x)
    first(ref.to_channels_first(x))
    last.kernel.assign(rand(*last.kernel.shape))
    last.bias.assign(rand(FILTERS))
    first.set_weights(last.get_weights())
    y_first = to_numpy(first(ref.to_channels_first(x)))
    np.testing.assert_allclose(ref.to_channels_last(y_first), to_numpy(last(x)), **_tol(rank))


def test_channels_first_bias_when_width_equals_filters():
    x = rand(2, 3, FILTERS, C_IN)
    layer = kcl.WSConv2D(FILTERS, 1, data_format="channels_first", **FAST)
    layer(ref.to_channels_first(x))
    k, b = rand(*layer.kernel.shape), rand(FILTERS)
    layer.kernel.assign(k)
    layer.bias.assign(b)
    y = ref.to_channels_last(to_numpy(layer(ref.to_channels_first(x))))
    np.testing.assert_allclose(
        y, _reference(x, ref.ws_kernel(k, 1e-6), {}, b), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("situation", ["zero_kernel", "constant_input"])
def test_gradients_finite(situation):
    layer = kcl.WSConv2D(4, 3, padding="same", data_format="channels_last", **FAST)
    x = degenerate_conv_case(layer, rand(2, 5, 5, 3), situation)
    assert_all_finite(*layer_value_and_grads(layer, x), expected_weights=["kernel", "bias"])


def test_rejects_weightnorm_and_equalize_arguments():
    # Not WS arguments (SPEC signature): silently accepting weightnorm=True
    # would create a `wn_g` weight that get_config() then drops.
    for kwargs in (dict(weightnorm=True), dict(equalize=True)):
        with pytest.raises((TypeError, ValueError)):
            kcl.WSConv2D(4, 3, **kwargs)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_bad_arguments(rank):
    with pytest.raises(ValueError, match="padding"):
        WS[rank](4, 3, padding="full")
    with pytest.raises(ValueError, match="filters"):
        WS[rank](0, 3)
    with pytest.raises(ValueError, match="data_format"):
        WS[rank](4, 3, data_format="channels")
    with pytest.raises(ValueError, match="groups"):
        WS[rank](4, 3, groups=3)


def test_groups_must_divide_input_channels():
    layer = kcl.WSConv2D(4, 1, groups=2, data_format="channels_last")
    with pytest.raises(ValueError, match="groups"):
        layer(rand(1, 4, 4, 3))


@pytest.mark.parametrize("shape", [(1, 5, 3), (1, 4, 4, 4, 3)])
def test_wrong_rank_names_layer_and_shape(shape):
    layer = kcl.WSConv2D(4, 1, data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(*shape))
    assert "WSConv2D" in str(info.value) and "batch" in str(info.value)
