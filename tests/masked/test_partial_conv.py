"""Math and property tests of kcl.PartialConv1D/2D/3D (SPEC "Masked convolutions")."""

import os

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests import numpy_reference as ref
from tests.masked import checks
from tests.masked import helpers as h

CLASSES = {1: kcl.PartialConv1D, 2: kcl.PartialConv2D, 3: kcl.PartialConv3D}


def make(cls, kwargs, **extra):
    return cls(
        **{"filters": 6, "kernel_size": 3, "data_format": "channels_last", **kwargs, **extra}
    )


# (rank, layer kwargs, mask kind: "full" (C_in channels) | "one" | "none", float mask)
CONFIGS = [
    (1, dict(padding="causal", dilation_rate=2, use_bias=True), "full", False),
    (1, dict(strides=2, binary=False), "one", True),
    (2, dict(padding="same", use_bias=True, activation="relu", weightnorm=True), "full", False),
    (
        2,
        dict(kernel_size=(3, 2), padding="same", strides=(2, 1), groups=2, equalize=True),
        "full",
        True,
    ),
    (2, dict(dilation_rate=2, binary=False, use_bias=True, activation="sigmoid"), "one", False),
    (2, dict(filters=4, padding="same", groups=4, binary=False), "full", False),
    (2, dict(padding="same", use_bias=True), "none", False),
    (3, dict(padding="same", strides=2, use_bias=True, binary=False), "full", True),
    (3, dict(kernel_size=2, groups=2), "none", False),
]
IDS = [
    f"{r}D-{kind}-{'float' if fm else 'bin'}-"
    + "-".join(f"{k}={v}" for k, v in kw.items()).replace(" ", "")
    for r, kw, kind, fm in CONFIGS
]


@pytest.mark.parametrize("rank, kwargs, kind, float_mask", CONFIGS, ids=IDS)
def test_matches_numpy_reference(rank, kwargs, kind, float_mask):
    checks.check_matches_reference(CLASSES[rank], make, rank, kwargs, kind, float_mask)


MASKED = [c for c in CONFIGS if c[2] != "none"]


@pytest.mark.parametrize(
    "rank, kwargs, kind, float_mask",
    MASKED,
    ids=[i for i, c in zip(IDS, CONFIGS) if c[2] != "none"],
)
def test_masked_values_never_change_y(rank, kwargs, kind, float_mask):
    checks.check_masked_values_never_change_y(CLASSES[rank], make, rank, kwargs, kind, float_mask)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("mask_ones_channel", [True, False])
def test_all_zero_mask(binary, mask_ones_channel):
    kwargs = dict(padding="same", use_bias=True, activation="sigmoid", binary=binary)
    checks.check_all_zero_mask(kcl.PartialConv2D, make, kwargs, mask_ones_channel)


def test_all_zero_mask_weightnorm_groups():
    kwargs = dict(strides=2, groups=2, weightnorm=True, use_bias=True, binary=False)
    checks.check_all_zero_mask(kcl.PartialConv2D, make, kwargs, False)


def test_one_channel_mask_broadcasts():
    rng = np.random.default_rng(0)
    layer = make(kcl.PartialConv2D, dict(padding="same", use_bias=True, binary=False))
    x = h.rand(rng, 2, 7, 6, 4)
    mask = h.random_mask(rng, (2, 7, 6, 1))
    y1, m1 = h.call(layer, x, mask)
    y2, m2 = h.call(layer, x, np.repeat(mask, 4, axis=-1))
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m1, m2, rtol=1e-6, atol=1e-7)


def test_full_mask_valid_padding_is_plain_conv():
    rng = np.random.default_rng(0)
    x = h.rand(rng, 2, 7, 6, 4)
    layer = make(kcl.PartialConv2D, dict(use_bias=True, weightnorm=True))
    y, m = h.call(layer, x, np.ones_like(x))
    h.randomize(layer, rng)
    y, m = h.call(layer, x, np.ones_like(x))
    plain = kcl.Conv2D(6, 3, use_bias=True, weightnorm=True, data_format="channels_last")
    plain(x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, h.to_numpy(plain(x)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(m, np.ones_like(m))
    # With "same" padding the border outputs are rescaled by window / valid taps.
    same = make(kcl.PartialConv2D, dict(padding="same"), data_format="channels_last")
    same.build(x.shape)
    k = rng.normal(size=same.kernel.shape).astype("float32")
    same.kernel.assign(k)
    y_same = h.call(same, x, np.ones_like(x))[0]
    conv = ref.conv_nd(x, k, padding="same")
    np.testing.assert_allclose(y_same[:, 0, 0], conv[:, 0, 0] * 9 / 4, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(y_same[:, 3, 3], conv[:, 3, 3], rtol=1e-4, atol=1e-4)


def test_no_mask_is_nonzero_mask():
    rng = np.random.default_rng(0)
    x = h.rand(rng, 2, 7, 6, 4) * (rng.random((2, 7, 6, 4)) < 0.5)
    x = x.astype("float32")
    layer = make(kcl.PartialConv2D, dict(padding="same", use_bias=True, binary=False))
    y1, m1 = h.call(layer, x)
    y2, m2 = h.call(layer, x, (x != 0).astype("float32"))
    np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m1, m2, rtol=1e-6, atol=1e-7)


def test_bad_mask_shapes():
    checks.check_bad_mask_shapes(
        kcl.PartialConv2D,
        make,
        (2, 7, 6, 4),
        [(2, 7, 6, 3), (2, 7, 5, 4), (2, 6, 6, 1), (2, 7, 6)],
    )
    checks.check_bad_mask_shapes(kcl.PartialConv1D, make, (2, 9, 4), [(2, 9, 2), (2, 8, 1)])
    checks.check_bad_mask_shapes(kcl.PartialConv3D, make, (1, 4, 4, 4, 2), [(1, 4, 4, 3, 2)])


def test_bad_arguments():
    with pytest.raises(ValueError, match="binary"):
        kcl.PartialConv2D(4, 3, binary="yes")
    with pytest.raises(ValueError, match="weightnorm"):
        kcl.PartialConv2D(4, 3, weightnorm=True, equalize=True)
    with pytest.raises(ValueError, match="groups"):
        kcl.PartialConv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match="padding"):
        kcl.PartialConv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="PartialConv2D"):
        kcl.PartialConv2D(4, 3, data_format="channels_last")(np.zeros((2, 5, 5), "float32"))


def test_chained_functional_model_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x_in = keras.Input((None, None, 3))
    m_in = keras.Input((None, None, 1))
    y, m = kcl.PartialConv2D(4, 3, padding="same", use_bias=True, data_format="channels_last")(
        [x_in, m_in]
    )
    y, m = kcl.PartialConv2D(
        4, 3, strides=2, padding="same", groups=2, binary=False, data_format="channels_last"
    )([y, m])
    y, m = kcl.SparseConv2D(2, 3, padding="same", data_format="channels_last")([y, m[..., :1]])
    model = keras.Model([x_in, m_in], [y, m])
    x = h.rand(rng, 2, 8, 8, 3)
    mask = h.random_mask(rng, (2, 8, 8, 1))
    expected = model.predict_on_batch([x, mask])
    assert expected[0].shape == (2, 4, 4, 2) and expected[1].shape == (2, 4, 4, 1)
    path = os.path.join(str(tmp_path), "chain.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(loaded.predict_on_batch([x, mask]), expected):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("situation", ["zero_kernel", "constant_input"])
def test_degenerate_cases_are_finite(situation):
    from tests.gradients import degenerate_conv_case

    layer = make(
        kcl.PartialConv2D, dict(padding="same", use_bias=True), data_format="channels_last"
    )
    x = degenerate_conv_case(layer, h.rand(np.random.default_rng(0), 2, 5, 5, 4), situation)
    mask = h.random_mask(np.random.default_rng(1), x.shape)
    value, g_x, g_mask, g_w = h.masked_grads(layer, x, mask)
    assert np.isfinite(value) and np.all(np.isfinite(g_x)) and np.all(np.isfinite(g_mask))
    assert all(np.all(np.isfinite(g)) for g in g_w.values())
