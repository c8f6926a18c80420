"""Math and property tests of kcl.PartialDepthwiseConv2D (SPEC "Masked convolutions")."""

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.convolutional import test_depthwise_conv2d as dw
from tests.masked import checks
from tests.masked import helpers as h


def make(cls, kwargs, **extra):
    return cls(**{"kernel_size": 3, "data_format": "channels_last", **kwargs, **extra})


CLS = kcl.PartialDepthwiseConv2D

# (layer kwargs, mask kind: "full" | "one" | "none", float mask)
CONFIGS = [
    (dict(padding="same", depth_multiplier=2, use_bias=True, weightnorm=True), "full", False),
    (dict(kernel_size=(3, 2), strides=2, binary=False, equalize=True), "full", True),
    (dict(dilation_rate=(2, 1), padding="same", activation="relu", use_bias=True), "one", False),
    (dict(depth_multiplier=3, binary=False), "one", True),
    (dict(padding="same", depth_multiplier=2), "none", False),
]
IDS = [
    f"{kind}-{'float' if fm else 'bin'}-"
    + "-".join(f"{k}={v}" for k, v in kw.items()).replace(" ", "")
    for kw, kind, fm in CONFIGS
]


@pytest.mark.parametrize("kwargs, kind, float_mask", CONFIGS, ids=IDS)
def test_matches_numpy_reference(kwargs, kind, float_mask):
    checks.check_matches_reference(CLS, make, 2, kwargs, kind, float_mask)


MASKED = [(c, i) for c, i in zip(CONFIGS, IDS) if c[1] != "none"]


@pytest.mark.parametrize(
    "kwargs, kind, float_mask", [c for c, _ in MASKED], ids=[i for _, i in MASKED]
)
def test_masked_values_never_change_y(kwargs, kind, float_mask):
    checks.check_masked_values_never_change_y(CLS, make, 2, kwargs, kind, float_mask)


@pytest.mark.parametrize("binary", [True, False])
def test_all_zero_mask(binary):
    kwargs = dict(depth_multiplier=2, use_bias=True, activation="sigmoid", binary=binary)
    checks.check_all_zero_mask(CLS, make, kwargs, False)


def test_per_channel_normaliser():
    """A channel whose mask is empty gives 0 while the others are valid."""
    rng = np.random.default_rng(0)
    layer = make(CLS, dict(depth_multiplier=2, padding="same"), data_format="channels_last")
    x = h.rand(rng, 1, 5, 5, 3)
    mask = np.ones_like(x)
    mask[..., 1] = 0.0
    y, m = h.call(layer, x, mask)
    h.randomize(layer, rng)
    y, m = h.call(layer, x, mask)
    assert m.shape == (1, 5, 5, 6)
    np.testing.assert_array_equal(m[..., 2:4], 0.0)
    np.testing.assert_array_equal(m[..., [0, 1, 4, 5]], 1.0)
    np.testing.assert_array_equal(y[..., 2:4], 0.0)
    assert np.all(y[..., [0, 1, 4, 5]] != 0)


def test_bad_mask_shapes():
    checks.check_bad_mask_shapes(CLS, make, (2, 7, 6, 4), [(2, 7, 6, 2), (2, 6, 6, 4)])


def test_bad_arguments():
    with pytest.raises(ValueError, match="binary"):
        CLS(3, binary=None)
    with pytest.raises(ValueError, match="depth_multiplier"):
        CLS(3, depth_multiplier=0)
    config = CLS(3, depth_multiplier=2, binary=False).get_config()
    assert config["binary"] is False and config["depth_multiplier"] == 2
    assert "filters" not in config and "groups" not in config


# Keras' argument names (`depthwise_*`) as aliases of `kernel_*`: the checks
# of kcl.DepthwiseConv2D.
@pytest.mark.parametrize("kcl_name, keras_name, value", dw.ALIASES, ids=dw.ALIAS_IDS)
def test_keras_argument_names_are_aliases(kcl_name, keras_name, value):
    dw.check_alias_gives_same_layer(CLS, kcl_name, keras_name, value)


@pytest.mark.parametrize("kcl_name, keras_name, value", dw.ALIASES, ids=dw.ALIAS_IDS)
def test_both_argument_names_is_an_error(kcl_name, keras_name, value):
    dw.check_both_spellings_rejected(CLS, kcl_name, keras_name, value)


def test_config_uses_keras_names_and_old_configs_load():
    dw.check_config_keys_and_old_configs(CLS)
