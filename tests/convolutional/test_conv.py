"""Math and property tests of kcl.Conv1D / Conv2D / Conv3D (SPEC "Convolutions")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, degenerate_conv_case, layer_value_and_grads
from tests.harness import to_numpy

KCL = {1: kcl.Conv1D, 2: kcl.Conv2D, 3: kcl.Conv3D}
KERAS = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
SPATIAL = {1: (11,), 2: (7, 6), 3: (5, 4, 5)}
C_IN = 4
FILTERS = 6

# Representative argument combinations (padding / strides / dilation / groups / bias).
CASES = [
    dict(rank=1, kernel_size=3),
    dict(rank=1, kernel_size=3, padding="same", strides=2),
    dict(rank=1, kernel_size=3, padding="causal", dilation_rate=2),
    dict(rank=1, kernel_size=4, padding="causal", strides=3, use_bias=True),
    dict(rank=1, kernel_size=4, padding="same", dilation_rate=2, groups=2),
    dict(rank=2, kernel_size=3, strides=2, use_bias=True, activation="relu"),
    dict(rank=2, kernel_size=(2, 3), padding="same", strides=(2, 1)),
    dict(rank=2, kernel_size=3, padding="same", dilation_rate=(1, 2), groups=2, use_bias=True),
    dict(rank=2, kernel_size=4, padding="same", strides=3),
    dict(rank=2, kernel_size=(3, 2), padding="valid", groups=2, strides=(1, 2)),
    dict(rank=3, kernel_size=2, padding="same", strides=2, use_bias=True),
    dict(rank=3, kernel_size=(3, 1, 2), padding="valid", groups=2),
    dict(rank=3, kernel_size=3, padding="same", dilation_rate=(2, 1, 1)),
]


def _ids(cases):
    return [
        "-".join(f"{k}={v}" for k, v in c.items() if k != "rank").replace(" ", "")
        + f"-{c['rank']}d"
        for c in cases
    ]


def rand(*shape, scale=1.0):
    return (np.random.randn(*shape) * scale).astype("float32")


def _split(case):
    case = dict(case)
    rank = case.pop("rank")
    return rank, case


# Random initializers cost seconds of compilation per new shape on JAX; the
# tests assign their own random weights, so layers are created with zeros.
FAST = dict(kernel_initializer="zeros")


def _make(rank, args, data_format="channels_last", **extra):
    return KCL[rank](FILTERS, data_format=data_format, **args, **FAST, **extra)


def _input(rank, data_format="channels_last", batch=2):
    x = rand(batch, *SPATIAL[rank], C_IN)
    return x if data_format == "channels_last" else ref.to_channels_first(x)


def _randomize(layer, kernel_scale=1.0):
    """Random kernel / bias / wn_g; returns them as float64 numpy."""
    k = rand(*layer.kernel.shape, scale=kernel_scale)
    layer.kernel.assign(k)
    out = {"kernel": k.astype(np.float64)}
    if layer.bias is not None:
        b = rand(*layer.bias.shape)
        layer.bias.assign(b)
        out["bias"] = b.astype(np.float64)
    if getattr(layer, "weightnorm", False):
        g = np.random.uniform(0.5, 2.0, layer.wn_g.shape).astype("float32")
        g[0] = -g[0]
        layer.wn_g.assign(g)
        out["wn_g"] = g.astype(np.float64)
    return out


def _reference(x, k, args, bias=None):
    y = ref.conv_nd(
        x,
        k,
        strides=args.get("strides", 1),
        padding=args.get("padding", "valid"),
        dilation_rate=args.get("dilation_rate", 1),
        groups=args.get("groups", 1),
    )
    if bias is not None:
        y = y + bias
    if args.get("activation") == "relu":
        y = np.maximum(y, 0.0)
    return y


def _tol(rank):
    return dict(rtol=1e-4, atol=1e-4) if rank == 3 else dict(rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------- plain conv
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_plain_matches_numpy_reference(case):
    rank, args = _split(case)
    layer = _make(rank, args)
    x = _input(rank)
    layer(x)
    w = _randomize(layer)
    y = to_numpy(layer(x))
    expected = _reference(x, w["kernel"], args, w.get("bias"))
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, **_tol(rank))


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_plain_equals_keras_conv(case):
    rank, args = _split(case)
    layer = _make(rank, args)
    x = _input(rank)
    layer(x)
    w = _randomize(layer)
    keras_layer = KERAS[rank](FILTERS, data_format="channels_last", **args, **FAST)
    keras_layer(x)
    keras_layer.kernel.assign(w["kernel"])
    if "bias" in w:
        keras_layer.bias.assign(w["bias"])
    y = to_numpy(layer(x))
    expected = to_numpy(keras_layer(x))
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # Output shape arithmetic is that of keras.layers.ConvND (unknown batch too).
    shape = (None,) + x.shape[1:]
    assert tuple(layer.compute_output_shape(shape)) == tuple(
        keras_layer.compute_output_shape(shape)
    )
    assert tuple(layer.compute_output_shape(x.shape)) == y.shape


def test_keras_defaults_use_bias_false():
    layer = kcl.Conv2D(3, 3, data_format="channels_last", **FAST)
    layer(rand(1, 5, 5, 2))
    assert layer.use_bias is False and layer.bias is None
    assert [w.path.split("/")[-1] for w in layer.weights] == ["kernel"]
    assert tuple(layer.kernel.shape) == (3, 3, 2, 3)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_weight_names_and_shapes(rank):
    layer = KCL[rank](
        6, 2, groups=2, use_bias=True, weightnorm=True, data_format="channels_last", **FAST
    )
    layer(_input(rank))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {"kernel": (2,) * rank + (C_IN // 2, 6), "wn_g": (6,), "bias": (6,)}
    np.testing.assert_array_equal(to_numpy(layer.wn_g), np.ones(6, "float32"))
    layer = KCL[rank](6, 2, equalize=True, data_format="channels_last", **FAST)
    layer(_input(rank))
    assert [w.path.split("/")[-1] for w in layer.weights] == ["kernel"]


# -------------------------------------------------------------- weight transforms
WN_CASES = [CASES[i] for i in (0, 2, 4, 5, 7, 10, 11)]


@pytest.mark.parametrize("case", WN_CASES, ids=_ids(WN_CASES))
def test_weightnorm_matches_numpy_reference(case):
    rank, args = _split(case)
    layer = _make(rank, args, weightnorm=True)
    x = _input(rank)
    layer(x)
    w = _randomize(layer)
    k_eff = ref.weightnorm_kernel(w["kernel"], w["wn_g"], 1e-6)
    expected = _reference(x, k_eff, args, w.get("bias"))
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **_tol(rank))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_weightnorm_eps_inside_the_sqrt(rank):
    # Small kernels make eps matter: checks sqrt(sum(k**2) + eps), not sqrt(...) + eps.
    eps = 1e-2
    layer = KCL[rank](FILTERS, 2, weightnorm=True, eps=eps, data_format="channels_last", **FAST)
    x = _input(rank)
    layer(x)
    w = _randomize(layer, kernel_scale=0.05)
    k_eff = ref.weightnorm_kernel(w["kernel"], w["wn_g"], eps)
    expected = _reference(x, k_eff, {})
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **_tol(rank))


def test_initial_wn_g_gives_unit_norm_filters():
    layer = kcl.Conv2D(5, 3, weightnorm=True, eps=1e-12, data_format="channels_last", **FAST)
    x = rand(1, 3, 3, 2)
    layer(x)
    k = rand(*layer.kernel.shape)
    layer.kernel.assign(k)
    k = k.astype(np.float64)
    k_unit = k / np.sqrt((k**2).sum(axis=(0, 1, 2), keepdims=True))
    expected = _reference(x, k_unit, {})
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)
    # The stored kernel is the raw parameter (not normalized in place).
    np.testing.assert_array_equal(to_numpy(layer.kernel), k.astype("float32"))


EQ_CASES = [CASES[i] for i in (1, 4, 6, 7, 9, 10, 11)]


@pytest.mark.parametrize("case", EQ_CASES, ids=_ids(EQ_CASES))
def test_equalize_matches_numpy_reference(case):
    rank, args = _split(case)
    layer = _make(rank, args, equalize=True)
    x = _input(rank)
    layer(x)
    w = _randomize(layer)
    ksize = args["kernel_size"]
    ksize = (ksize,) * rank if isinstance(ksize, int) else ksize
    # fan_in = prod(kernel_size) * in / groups
    fan_in = int(np.prod(ksize)) * C_IN // args.get("groups", 1)
    k_eff = ref.equalize_kernel(w["kernel"], fan_in)
    expected = _reference(x, k_eff, args, w.get("bias"))
    np.testing.assert_allclose(to_numpy(layer(x)), expected, **_tol(rank))


def test_equalize_scale_value_with_groups():
    # Conv2D(8, 3, groups=4) on 8 channels: fan_in = 9 * 8 / 4 = 18 -> scale 1/3.
    layer = kcl.Conv2D(8, 3, groups=4, equalize=True, data_format="channels_last", **FAST)
    x = rand(1, 3, 3, 8)
    layer(x)
    w = _randomize(layer)
    expected = _reference(x, w["kernel"] / 3.0, {"groups": 4})
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


# -------------------------------------------------------------------- data_format
DF_CASES = [CASES[i] for i in (2, 3, 4, 7, 8, 10, 11)]


@pytest.mark.parametrize("mode", ["plain", "weightnorm", "equalize"])
@pytest.mark.parametrize("case", DF_CASES, ids=_ids(DF_CASES))
def test_channels_first_matches_channels_last(case, mode):
    rank, args = _split(case)
    extra = {} if mode == "plain" else {mode: True}
    last = _make(rank, args, "channels_last", **extra)
    first = _make(rank, args, "channels_first", **extra)
    x = _input(rank)
    last(x)
    first(ref.to_channels_first(x))
    _randomize(last)
    first.set_weights(last.get_weights())
    y_last = to_numpy(last(x))
    y_first = to_numpy(first(ref.to_channels_first(x)))
    assert y_first.shape == ref.to_channels_first(y_last).shape
    np.testing.assert_allclose(ref.to_channels_last(y_first), y_last, **_tol(rank))
    assert tuple(first.compute_output_shape(ref.to_channels_first(x).shape)) == y_first.shape


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_channels_first_bias_when_last_axis_equals_filters(rank):
    # channels_first output (B, F, ..., W) with W == F: the bias must still be
    # added along axis 1 (a broadcasting mix-up adds it along the last axis).
    spatial = {1: (FILTERS,), 2: (3, FILTERS), 3: (2, 3, FILTERS)}[rank]
    x = rand(2, *spatial, C_IN)
    layer = KCL[rank](FILTERS, 1, use_bias=True, data_format="channels_first", **FAST)
    layer(ref.to_channels_first(x))
    w = _randomize(layer)
    expected = _reference(x, w["kernel"], {}, w["bias"])
    y = to_numpy(layer(ref.to_channels_first(x)))
    np.testing.assert_allclose(ref.to_channels_last(y), expected, rtol=1e-5, atol=1e-5)


def test_default_data_format_follows_keras_config():
    layer = kcl.Conv2D(2, 3, **FAST)
    assert layer.data_format == keras.config.image_data_format()
    x = rand(1, 5, 6, 3)
    if layer.data_format == "channels_first":
        x = ref.to_channels_first(x)
    layer(x)
    assert tuple(layer.kernel.shape) == (3, 3, 3, 2)


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("situation", ["zero_kernel", "constant_input"])
@pytest.mark.parametrize("mode", ["weightnorm", "equalize"])
def test_gradients_finite(mode, situation):
    layer = kcl.Conv2D(
        4, 3, padding="same", use_bias=True, data_format="channels_last", **{mode: True}, **FAST
    )
    x = degenerate_conv_case(layer, rand(2, 5, 5, 3), situation)
    expected = ["kernel", "bias"] + (["wn_g"] if mode == "weightnorm" else [])
    assert_all_finite(*layer_value_and_grads(layer, x), expected_weights=expected)


def test_weightnorm_gradient_wrt_gain_is_nonzero():
    layer = kcl.Conv2D(3, 3, weightnorm=True, data_format="channels_last", **FAST)
    x = rand(2, 5, 5, 2)
    layer(x)
    layer.kernel.assign(rand(*layer.kernel.shape))
    _, _, _, grads = layer_value_and_grads(layer, x)
    g = grads[layer.wn_g.path]
    assert g.shape == (3,) and np.all(np.abs(g) > 0)


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_unknown_padding(rank):
    with pytest.raises(ValueError, match="padding"):
        KCL[rank](4, 3, padding="full")


@pytest.mark.parametrize("rank", [2, 3])
def test_causal_only_for_1d(rank):
    with pytest.raises(ValueError, match="padding"):
        KCL[rank](4, 3, padding="causal")


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_weightnorm_and_equalize_exclusive(rank):
    with pytest.raises(ValueError, match="weightnorm") as info:
        KCL[rank](4, 3, weightnorm=True, equalize=True)
    assert "equalize" in str(info.value)


@pytest.mark.parametrize("filters", [0, -2])
def test_bad_filters(filters):
    with pytest.raises(ValueError, match="filters"):
        kcl.Conv2D(filters, 3)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_bad_data_format(rank):
    with pytest.raises(ValueError, match="data_format"):
        KCL[rank](4, 3, data_format="channels_middle")


def test_groups_must_divide_filters():
    with pytest.raises(ValueError, match="groups"):
        kcl.Conv2D(5, 3, groups=2)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_groups_must_divide_input_channels(rank):
    layer = KCL[rank](4, 1, groups=2, data_format="channels_last")
    x = rand(1, *SPATIAL[rank], 3)
    with pytest.raises(ValueError, match="groups"):
        layer(x)


@pytest.mark.parametrize(
    "rank, shape",
    [(1, (2, 5)), (1, (1, 5, 5, 2)), (2, (1, 5, 2)), (2, (1, 4, 4, 4, 2)), (3, (1, 4, 4, 2))],
)
def test_wrong_rank_names_layer_and_shape(rank, shape):
    layer = KCL[rank](4, 1, data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(*shape))
    message = str(info.value)
    assert f"Conv{rank}D" in message
    assert "batch" in message and str(rank + 2) in message
