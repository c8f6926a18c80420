"""Math and property tests of kcl.MBConv (SPEC "Blocks")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as nref
from tests.blocks import reference as ref
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy

CONFIGS = [
    dict(filters=4, kernel_size=3, strides=1, expand_ratio=2, se_ratio=0.25, residual=True),
    dict(filters=4, kernel_size=3, strides=1, expand_ratio=1, se_ratio=0.5, residual=False),
    dict(filters=6, kernel_size=5, strides=2, expand_ratio=3, se_ratio=0.25, residual=True),
    dict(filters=4, kernel_size=3, strides=2, expand_ratio=2, se_ratio=0.0, residual=True),
    dict(filters=5, kernel_size=3, strides=1, expand_ratio=2, se_ratio=0.25, residual=True),
]
IDS = ["residual", "noexpand_noresidual", "stride2", "stride2_nose", "channels_change"]


def _randomize(layer, rng):
    """Random weights (and BN moving statistics) into the layer; numpy copies out."""

    def bn(sub):
        values = dict(
            gamma=rng.uniform(0.5, 1.5, sub.gamma.shape),
            beta=rng.normal(size=sub.beta.shape),
            mean=rng.normal(size=sub.moving_mean.shape),
            var=rng.uniform(0.5, 2.0, sub.moving_variance.shape),
        )
        for var, key in (
            (sub.gamma, "gamma"),
            (sub.beta, "beta"),
            (sub.moving_mean, "mean"),
            (sub.moving_variance, "var"),
        ):
            var.assign(values[key].astype("float32"))
        return {k: v.astype("float32").astype("float64") for k, v in values.items()}

    def kernel(var, scale=0.5):
        value = rng.normal(scale=scale, size=var.shape).astype("float32")
        var.assign(value)
        return value.astype("float64")

    w = {}
    if layer.expand_conv is not None:
        w["expand_conv"] = kernel(layer.expand_conv.kernel)
        w["expand_bn"] = bn(layer.expand_bn)
    w["dwconv"] = kernel(layer.dwconv.kernel)
    w["dw_bn"] = bn(layer.dw_bn)
    if layer.se is not None:
        se = layer.se
        w["se"] = [
            kernel(v) for v in (se.reduce.kernel, se.reduce.bias, se.expand.kernel, se.expand.bias)
        ]
    w["project_conv"] = kernel(layer.project_conv.kernel)
    w["project_bn"] = bn(layer.project_bn)
    return w


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_matches_numpy_reference(config, data_format):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, 4)).astype("float32")
    layer = kcl.MBConv(data_format=data_format, **config)
    xin = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
    layer(xin)
    w = _randomize(layer, rng)
    y = to_numpy(layer(xin, training=False))
    if data_format == "channels_first":
        y = np.moveaxis(y, 1, -1)
    expected = ref.mb_conv(x.astype("float64"), w, **config)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    shortcut = config["residual"] and config["strides"] == 1 and config["filters"] == 4
    assert layer.has_shortcut == shortcut
    if config["se_ratio"]:
        squeeze = max(1, int(4 * config["se_ratio"]))
        assert tuple(layer.se.reduce.kernel.shape) == (1, 1, 4 * config["expand_ratio"], squeeze)


def test_stochastic_depth_training_only():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 5, 5, 4)).astype("float32")
    rate = 0.5
    layer = kcl.MBConv(4, expand_ratio=2, drop_rate=rate, seed=3, data_format="channels_last")
    twin = kcl.MBConv(4, expand_ratio=2, drop_rate=0.0, data_format="channels_last")
    layer(x)
    twin(x)
    _randomize(layer, rng)
    twin.set_weights(layer.get_weights())
    # Inference: deterministic, the same as without stochastic depth.
    y1, y2 = to_numpy(layer(x)), to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(y1, to_numpy(twin(x)), rtol=1e-6, atol=1e-6)
    # Training: per example, the branch is either dropped or scaled by 1 / (1 - rate).
    branch = to_numpy(twin(x, training=True)) - x
    out = to_numpy(layer(x, training=True)) - x
    dropped = kept = 0
    for i in range(len(x)):
        if np.allclose(out[i], 0.0, atol=1e-6):
            dropped += 1
        else:
            np.testing.assert_allclose(out[i], branch[i] / (1 - rate), rtol=1e-4, atol=1e-5)
            kept += 1
    assert dropped > 0 and kept > 0, (dropped, kept)


def test_no_stochastic_depth_without_shortcut():
    x = np.random.default_rng(2).normal(size=(8, 5, 5, 4)).astype("float32")
    layer = kcl.MBConv(6, drop_rate=0.9, seed=0, data_format="channels_last")
    twin = kcl.MBConv(6, data_format="channels_last")
    layer(x)
    twin(x)
    twin.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(layer(x, training=True)), to_numpy(twin(x, training=True)), atol=1e-6
    )


def test_finite_gradients_on_constant_input():
    layer = kcl.MBConv(4, expand_ratio=2, data_format="channels_last")
    y, value, g_x, g_w = layer_value_and_grads(layer, np.ones((2, 5, 5, 4), "float32"))
    assert_all_finite(y, value, g_x, g_w)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="filters"):
        kcl.MBConv(0)
    with pytest.raises(ValueError, match="expand_ratio"):
        kcl.MBConv(4, expand_ratio=0)
    with pytest.raises(ValueError, match="se_ratio"):
        kcl.MBConv(4, se_ratio=1.5)
    with pytest.raises(ValueError, match="drop_rate"):
        kcl.MBConv(4, drop_rate=1.0)
    with pytest.raises(ValueError, match="strides"):
        kcl.MBConv(4, strides=0)
    with pytest.raises(ValueError, match=r"MBConv.*rank 4"):
        kcl.MBConv(4, data_format="channels_last")(np.zeros((2, 5, 4), "float32"))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_dilated_equals_composition_with_dilated_depthwise(data_format):
    """MBConv(dilation_rate=2) is the MBConv composition with the depthwise
    convolution replaced by a dilated one (numpy, from the same weights)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 7, 6, 4)).astype("float32")
    config = dict(filters=4, kernel_size=3, expand_ratio=2, se_ratio=0.25)
    layer = kcl.MBConv(dilation_rate=2, data_format=data_format, **config)
    xin = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
    layer(xin)
    assert layer.dwconv.dilation_rate == (2, 2)
    w = _randomize(layer, rng)
    y = to_numpy(layer(xin, training=False))
    if data_format == "channels_first":
        y = np.moveaxis(y, 1, -1)
    h = x.astype("float64")
    h = ref.swish(ref.batch_norm(ref.conv1x1(h, w["expand_conv"]), w["expand_bn"]))
    h = nref.depthwise_conv2d(h, w["dwconv"], padding="same", dilation_rate=2)
    h = ref.se_block(ref.swish(ref.batch_norm(h, w["dw_bn"])), *w["se"], activation=ref.swish)
    expected = ref.batch_norm(ref.conv1x1(h, w["project_conv"]), w["project_bn"]) + x
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    # Not the undilated block: the argument reaches the depthwise convolution.
    undilated = ref.mb_conv(x.astype("float64"), w, strides=1, residual=True, **config)
    assert not np.allclose(y, undilated, atol=1e-2)


def test_dilation_rate_config_and_old_configs():
    layer = kcl.MBConv(4, dilation_rate=(2, 1))
    config = layer.get_config()
    assert config["dilation_rate"] == (2, 1)
    assert kcl.MBConv.from_config(config).dilation_rate == (2, 1)
    # A config saved before `dilation_rate` existed loads with the default 1.
    del config["dilation_rate"]
    old = kcl.MBConv.from_config(config)
    assert old.dilation_rate == (1, 1)
    serialized = keras.layers.serialize(old)
    serialized["config"] = config
    revived = keras.layers.deserialize(serialized)
    assert isinstance(revived, kcl.MBConv) and revived.dilation_rate == (1, 1)
    with pytest.raises(ValueError, match=r"strides.*dilation_rate"):
        kcl.MBConv(4, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="dilation_rate"):
        kcl.MBConv(4, dilation_rate=0)
