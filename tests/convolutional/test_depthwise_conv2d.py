"""Math and property tests of kcl.DepthwiseConv2D (SPEC "Convolutions")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.gradients import assert_all_finite, degenerate_conv_case, layer_value_and_grads
from tests.harness import to_numpy
from tests.keras_reference import run_keras_layer

C_IN = 3
SPATIAL = (7, 6)
FAST = dict(kernel_initializer="zeros")  # tests assign their own random kernels

CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding="same", strides=2, depth_multiplier=2, use_bias=True),
    dict(kernel_size=(2, 3), padding="same", dilation_rate=(2, 1), depth_multiplier=2),
    dict(kernel_size=4, padding="same", strides=(1, 3), use_bias=True),
    dict(kernel_size=(3, 1), padding="valid", strides=2, depth_multiplier=3),
]
IDS = ["-".join(f"{k}={v}" for k, v in c.items()).replace(" ", "") for c in CASES]


def rand(*shape, scale=1.0):
    return (np.random.randn(*shape) * scale).astype("float32")


def _make(args, data_format="channels_last", **extra):
    return kcl.DepthwiseConv2D(data_format=data_format, **args, **FAST, **extra)


def _randomize(layer):
    k = rand(*layer.kernel.shape)
    layer.kernel.assign(k)
    out = {"kernel": k.astype(np.float64)}
    if layer.bias is not None:
        b = rand(*layer.bias.shape)
        layer.bias.assign(b)
        out["bias"] = b.astype(np.float64)
    if layer.weightnorm:
        # Distinct values, one negative: the c * depth_multiplier + m order matters.
        g = np.linspace(0.5, 2.0, layer.wn_g.shape[0]).astype("float32")
        g[1 % len(g)] *= -1
        layer.wn_g.assign(g)
        out["wn_g"] = g.astype(np.float64)
    return out


def _reference(x, k, args, bias=None):
    y = ref.depthwise_conv2d(
        x,
        k,
        strides=args.get("strides", 1),
        padding=args.get("padding", "valid"),
        dilation_rate=args.get("dilation_rate", 1),
    )
    return y if bias is None else y + bias


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_plain_matches_numpy_and_keras(case):
    layer = _make(case)
    x = rand(2, *SPATIAL, C_IN)
    layer(x)
    w = _randomize(layer)
    y = to_numpy(layer(x))
    np.testing.assert_allclose(
        y, _reference(x, w["kernel"], case, w.get("bias")), rtol=1e-5, atol=1e-5
    )
    keras_layer = keras.layers.DepthwiseConv2D(
        data_format="channels_last",
        depthwise_initializer="zeros",
        **{"use_bias": False, **case},
    )
    keras_layer.build(x.shape)
    keras_layer.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, to_numpy(run_keras_layer(keras_layer, x)), rtol=1e-5, atol=1e-5)
    assert tuple(layer.compute_output_shape((None,) + x.shape[1:])) == tuple(
        keras_layer.compute_output_shape((None,) + x.shape[1:])
    )


def test_weight_names_and_shapes():
    layer = kcl.DepthwiseConv2D(
        (3, 2),
        depth_multiplier=2,
        use_bias=True,
        weightnorm=True,
        data_format="channels_last",
        **FAST,
    )
    layer(rand(1, 5, 5, C_IN))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {"kernel": (3, 2, C_IN, 2), "wn_g": (C_IN * 2,), "bias": (C_IN * 2,)}
    np.testing.assert_array_equal(to_numpy(layer.wn_g), np.ones(C_IN * 2, "float32"))
    layer = kcl.DepthwiseConv2D(3, data_format="channels_last", **FAST)
    layer(rand(1, 5, 5, C_IN))
    assert [w.path.split("/")[-1] for w in layer.weights] == ["kernel"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_weightnorm_matches_numpy_reference(case):
    layer = _make(case, weightnorm=True)
    x = rand(2, *SPATIAL, C_IN)
    layer(x)
    w = _randomize(layer)
    k_eff = ref.depthwise_weightnorm_kernel(w["kernel"], w["wn_g"], 1e-6)
    np.testing.assert_allclose(
        to_numpy(layer(x)), _reference(x, k_eff, case, w.get("bias")), rtol=1e-5, atol=1e-5
    )


def test_weightnorm_norm_is_per_channel_and_multiplier():
    # One kernel slice scaled by 100: with a per-(c, m) norm, no output changes.
    layer = kcl.DepthwiseConv2D(
        3, depth_multiplier=2, weightnorm=True, data_format="channels_last", **FAST
    )
    x = rand(1, 5, 5, C_IN)
    layer(x)
    w = _randomize(layer)
    y0 = to_numpy(layer(x))
    k = w["kernel"].copy()
    k[:, :, 1, 0] *= 100.0
    layer.kernel.assign(k.astype("float32"))
    np.testing.assert_allclose(to_numpy(layer(x)), y0, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES[:3], ids=IDS[:3])
def test_equalize_matches_numpy_reference(case):
    layer = _make(case, equalize=True)
    x = rand(2, *SPATIAL, C_IN)
    layer(x)
    w = _randomize(layer)
    ks = case["kernel_size"]
    ks = (ks, ks) if isinstance(ks, int) else ks
    # Each depthwise output channel sees one input channel: fan_in = kh * kw per
    # output channel (not kh * kw * in_channels).
    k_eff = ref.equalize_kernel(w["kernel"], ks[0] * ks[1])
    np.testing.assert_allclose(
        to_numpy(layer(x)), _reference(x, k_eff, case, w.get("bias")), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("mode", ["plain", "weightnorm", "equalize"])
@pytest.mark.parametrize("case", CASES[1:3], ids=IDS[1:3])
def test_channels_first_matches_channels_last(case, mode):
    extra = {} if mode == "plain" else {mode: True}
    last = _make(case, "channels_last", **extra)
    first = _make(case, "channels_first", **extra)
    x = rand(2, *SPATIAL, C_IN)
    last(x)
    first(ref.to_channels_first(x))
    _randomize(last)
    first.set_weights(last.get_weights())
    y_first = to_numpy(first(ref.to_channels_first(x)))
    np.testing.assert_allclose(
        ref.to_channels_last(y_first), to_numpy(last(x)), rtol=1e-5, atol=1e-5
    )
    assert tuple(first.compute_output_shape(ref.to_channels_first(x).shape)) == y_first.shape


def test_channels_first_bias_when_width_equals_output_channels():
    # Output (B, C*M, H, W) with W == C*M: the bias belongs on axis 1.
    x = rand(2, 3, C_IN * 2, C_IN)
    layer = kcl.DepthwiseConv2D(
        1, depth_multiplier=2, use_bias=True, data_format="channels_first", **FAST
    )
    layer(ref.to_channels_first(x))
    w = _randomize(layer)
    y = to_numpy(layer(ref.to_channels_first(x)))
    np.testing.assert_allclose(
        ref.to_channels_last(y), _reference(x, w["kernel"], {}, w["bias"]), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("situation", ["zero_kernel", "constant_input"])
def test_weightnorm_gradients_finite(situation):
    layer = kcl.DepthwiseConv2D(
        3,
        padding="same",
        depth_multiplier=2,
        use_bias=True,
        weightnorm=True,
        data_format="channels_last",
        **FAST,
    )
    x = degenerate_conv_case(layer, rand(2, 5, 5, C_IN), situation)
    assert_all_finite(*layer_value_and_grads(layer, x), expected_weights=["kernel", "wn_g", "bias"])


@pytest.mark.parametrize("padding", ["causal", "full"])
def test_bad_padding(padding):
    with pytest.raises(ValueError, match="padding"):
        kcl.DepthwiseConv2D(3, padding=padding)


def test_weightnorm_and_equalize_exclusive():
    with pytest.raises(ValueError, match="weightnorm") as info:
        kcl.DepthwiseConv2D(3, weightnorm=True, equalize=True)
    assert "equalize" in str(info.value)


def test_bad_data_format():
    with pytest.raises(ValueError, match="data_format"):
        kcl.DepthwiseConv2D(3, data_format="NHWC")


def test_bad_depth_multiplier():
    with pytest.raises(ValueError, match="depth_multiplier"):
        kcl.DepthwiseConv2D(3, depth_multiplier=0)


@pytest.mark.parametrize("shape", [(1, 5, 3), (1, 4, 4, 4, 3)])
def test_wrong_rank_names_layer_and_shape(shape):
    layer = kcl.DepthwiseConv2D(1, data_format="channels_last")
    with pytest.raises(ValueError, match="rank") as info:
        layer(rand(*shape))
    assert "DepthwiseConv2D" in str(info.value) and "batch" in str(info.value)


# ------------------------------------------- Keras' argument names (aliases)
ALIASES = [
    ("kernel_initializer", "depthwise_initializer", "he_uniform"),
    ("kernel_regularizer", "depthwise_regularizer", "l2"),
    ("kernel_constraint", "depthwise_constraint", "non_neg"),
]
ALIAS_IDS = [keras_name for _, keras_name, _ in ALIASES]


def check_alias_gives_same_layer(cls, kcl_name, keras_name, value):
    """`depthwise_*=v` and `kernel_*=v` give the same layer and config, the
    config under Keras' `depthwise_*` key; the weight is still `kernel`."""
    ours = cls(3, name="dw", data_format="channels_last", **{kcl_name: value})
    keras_spelled = cls(3, name="dw", data_format="channels_last", **{keras_name: value})
    config = keras_spelled.get_config()
    assert config == ours.get_config()
    assert config[keras_name] is not None and kcl_name not in config
    assert type(getattr(keras_spelled, kcl_name)) is type(getattr(ours, kcl_name))
    assert type(getattr(keras_spelled, keras_name)) is type(getattr(ours, kcl_name))
    keras_spelled.build((None, 5, 5, 2))
    assert [w.path.split("/")[-1] for w in keras_spelled.weights] == ["kernel"]
    if kcl_name == "kernel_regularizer":
        assert keras_spelled.kernel.regularizer is not None


def check_both_spellings_rejected(cls, kcl_name, keras_name, value):
    with pytest.raises(ValueError, match=kcl_name) as info:
        cls(3, **{kcl_name: value, keras_name: value})
    assert keras_name in str(info.value)


def check_config_keys_and_old_configs(cls):
    """get_config writes `depthwise_*` (no `kernel_*` key); a config with the
    old `kernel_*` keys (release-1 files) gives the same layer."""
    layer = cls(
        3,
        kernel_initializer="he_normal",
        kernel_regularizer="l1",
        kernel_constraint="unit_norm",
        data_format="channels_last",
    )
    config = layer.get_config()
    for _, keras_name, _ in ALIASES:
        assert config[keras_name] is not None
    assert not {name for name, _, _ in ALIASES} & set(config)
    old = {k.replace("depthwise_", "kernel_"): v for k, v in config.items()}
    assert "kernel_initializer" in old and "depthwise_initializer" not in old
    assert cls.from_config(old).get_config() == config
    assert cls.from_config(config).get_config() == config


@pytest.mark.parametrize("kcl_name, keras_name, value", ALIASES, ids=ALIAS_IDS)
def test_keras_argument_names_are_aliases(kcl_name, keras_name, value):
    check_alias_gives_same_layer(kcl.DepthwiseConv2D, kcl_name, keras_name, value)


@pytest.mark.parametrize("kcl_name, keras_name, value", ALIASES, ids=ALIAS_IDS)
def test_both_argument_names_is_an_error(kcl_name, keras_name, value):
    check_both_spellings_rejected(kcl.DepthwiseConv2D, kcl_name, keras_name, value)


def test_config_uses_keras_names_and_old_configs_load():
    check_config_keys_and_old_configs(kcl.DepthwiseConv2D)


def test_keras_depthwise_config_loads():
    """A `keras.layers.DepthwiseConv2D` config is a valid config here."""
    config = keras.layers.DepthwiseConv2D(
        3, depthwise_initializer="he_normal", depthwise_regularizer="l2", use_bias=True
    ).get_config()
    layer = kcl.DepthwiseConv2D.from_config(config)
    assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(layer.kernel_regularizer, keras.regularizers.L2) and layer.use_bias
