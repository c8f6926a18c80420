"""Tests of kcl.FusedMBConv (SPEC "Additions (second release)") against
keras.applications EfficientNetV2's FusedMBConvBlock with the same weights."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.harness import to_numpy

CONFIGS = [
    dict(filters=4, kernel_size=3, strides=1, expand_ratio=3, se_ratio=0.25),
    dict(filters=6, kernel_size=3, strides=2, expand_ratio=1, se_ratio=0.5),
    dict(filters=5, kernel_size=(3, 1), strides=1, expand_ratio=2, se_ratio=0.0),
]
IDS = ["expand_se_residual", "noexpand_se_stride2", "expand_nose_channels_change"]


def _keras_block(config, channels):
    """keras.applications' FusedMBConvBlock (in the global data format) as a model."""
    from keras.src.applications import efficientnet_v2  # the reference; tests only

    shape = (6, 7, channels)
    if keras.config.image_data_format() == "channels_first":
        shape = (channels, 6, 7)
    inputs = keras.Input(shape)
    outputs = efficientnet_v2.FusedMBConvBlock(
        input_filters=channels,
        output_filters=config["filters"],
        expand_ratio=config["expand_ratio"],
        kernel_size=config["kernel_size"],
        strides=config["strides"],
        se_ratio=config["se_ratio"],
        bn_momentum=0.9,
        activation="swish",
        survival_probability=0.0,  # no Dropout layer: compared deterministically
        name="ref_",
    )(inputs)
    return keras.Model(inputs, outputs)


def _copy_weights(reference, layer, rng):
    """Random weights (and BN statistics) into the keras.applications block,
    copied into `layer` sublayer by sublayer."""

    def ref(name):
        return reference.get_layer(f"ref_{name}")

    def bn(src, dst):
        c = src.gamma.shape[0]
        values = [
            rng.uniform(0.5, 1.5, c),
            rng.normal(size=c),
            rng.normal(size=c),
            rng.uniform(0.5, 2.0, c),
        ]
        src.set_weights([v.astype("float32") for v in values])
        dst.set_weights(src.get_weights())

    def conv(src, dst):
        src.set_weights(
            [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in src.weights]
        )
        assert [tuple(w.shape) for w in dst.weights] == [tuple(w.shape) for w in src.weights]
        dst.set_weights(src.get_weights())

    if layer.expand_conv is not None:
        conv(ref("expand_conv"), layer.expand_conv)
        bn(ref("expand_bn"), layer.expand_bn)
    if layer.se is not None:
        conv(ref("se_reduce"), layer.se.reduce)
        conv(ref("se_expand"), layer.se.expand)
    conv(ref("project_conv"), layer.project_conv)
    bn(ref("project_bn"), layer.project_bn)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_matches_keras_applications_block(config):
    channels = 4
    rng = np.random.default_rng(0)
    reference = _keras_block(config, channels)
    layer = kcl.FusedMBConv(**config)  # data_format=None: the global one, as the reference
    x = rng.normal(size=(2, 6, 7, channels)).astype("float32")
    if keras.config.image_data_format() == "channels_first":
        x = np.moveaxis(x, -1, 1)
    layer(x)
    _copy_weights(reference, layer, rng)
    assert len(layer.weights) == len(reference.weights)
    for training in (False, True):  # moving statistics, then batch statistics
        np.testing.assert_allclose(
            to_numpy(layer(x, training=training)),
            to_numpy(reference(x, training=training)),
            rtol=1e-4,
            atol=1e-4,
        )
    shortcut = config["strides"] == 1 and config["filters"] == channels
    assert layer.has_shortcut == shortcut


def test_structure_and_constants():
    layer = kcl.FusedMBConv(8, kernel_size=5, se_ratio=0.25, data_format="channels_last")
    layer(np.ones((1, 6, 6, 4), "float32"))
    assert tuple(layer.expand_conv.kernel.shape) == (5, 5, 4, 16)  # expand_ratio 4
    assert tuple(layer.se.reduce.kernel.shape) == (1, 1, 16, 1)  # int(4 * 0.25)
    assert tuple(layer.project_conv.kernel.shape) == (1, 1, 16, 8)
    for bn in (layer.expand_bn, layer.project_bn):
        assert bn.momentum == 0.9 and bn.epsilon == 1e-3  # EfficientNetV2's
    init = layer.expand_conv.kernel_initializer.get_config()
    assert (init["scale"], init["mode"], init["distribution"]) == (
        2.0,
        "fan_out",
        "truncated_normal",
    )
    single = kcl.FusedMBConv(8, expand_ratio=1, data_format="channels_last")
    single(np.ones((1, 6, 6, 4), "float32"))
    assert single.expand_conv is None and single.se is None
    assert tuple(single.project_conv.kernel.shape) == (3, 3, 4, 8)
    assert not kcl.FusedMBConv(4, residual=False).get_config()["residual"]


def test_stochastic_depth_training_only():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4, 4, 4)).astype("float32")
    rate = 0.5
    layer = kcl.FusedMBConv(4, expand_ratio=2, drop_rate=rate, seed=3, data_format="channels_last")
    twin = kcl.FusedMBConv(4, expand_ratio=2, data_format="channels_last")
    layer(x)
    twin(x)
    twin.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(layer(x, training=False)))
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(twin(x)), rtol=1e-6, atol=1e-6)
    branch = to_numpy(twin(x, training=True)) - x
    out = to_numpy(layer(x, training=True)) - x
    dropped = 0
    for i in range(len(x)):
        if np.allclose(out[i], 0.0, atol=1e-6):
            dropped += 1
        else:
            np.testing.assert_allclose(out[i], branch[i] / (1 - rate), rtol=1e-4, atol=1e-5)
    assert 0 < dropped < len(x), dropped


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="filters"):
        kcl.FusedMBConv(0)
    with pytest.raises(ValueError, match="expand_ratio"):
        kcl.FusedMBConv(4, expand_ratio=0)
    with pytest.raises(ValueError, match="se_ratio"):
        kcl.FusedMBConv(4, se_ratio=-0.1)
    with pytest.raises(ValueError, match="drop_rate"):
        kcl.FusedMBConv(4, drop_rate=1.0)
    with pytest.raises(ValueError, match="residual"):
        kcl.FusedMBConv(4, residual="yes")
    with pytest.raises(ValueError, match=r"FusedMBConv.*rank 4"):
        kcl.FusedMBConv(4, data_format="channels_last")(np.zeros((2, 5, 4), "float32"))
