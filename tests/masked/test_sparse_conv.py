"""Math and property tests of kcl.SparseConv1D/2D/3D (SPEC "Masked convolutions")."""

import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.masked import checks
from tests.masked import helpers as h

CLASSES = {1: kcl.SparseConv1D, 2: kcl.SparseConv2D, 3: kcl.SparseConv3D}


def make(cls, kwargs, **extra):
    return cls(
        **{"filters": 5, "kernel_size": 3, "data_format": "channels_last", **kwargs, **extra}
    )


# (rank, layer kwargs, mask kind: "one" | "none", float mask)
CONFIGS = [
    (1, dict(padding="causal", dilation_rate=2, use_bias=True), "one", False),
    (1, dict(strides=3, padding="same", binary=False, weightnorm=True), "one", True),
    (2, dict(padding="same", use_bias=True, activation="relu"), "one", False),
    (2, dict(kernel_size=(2, 3), strides=(1, 2), binary=False, equalize=True), "one", True),
    (
        2,
        dict(filters=4, dilation_rate=(2, 1), padding="same", groups=2, use_bias=True),
        "one",
        False,
    ),
    (2, dict(padding="same", binary=False), "none", False),
    (3, dict(padding="same", strides=2, use_bias=True, binary=False), "one", True),
    (3, dict(kernel_size=2, activation="sigmoid", use_bias=True), "none", False),
]
IDS = [
    f"{r}D-{kind}-{'float' if fm else 'bin'}-"
    + "-".join(f"{k}={v}" for k, v in kw.items()).replace(" ", "")
    for r, kw, kind, fm in CONFIGS
]


@pytest.mark.parametrize("rank, kwargs, kind, float_mask", CONFIGS, ids=IDS)
def test_matches_numpy_reference(rank, kwargs, kind, float_mask):
    checks.check_matches_reference(CLASSES[rank], make, rank, kwargs, kind, float_mask)


MASKED = [(c, i) for c, i in zip(CONFIGS, IDS) if c[2] != "none"]


@pytest.mark.parametrize(
    "rank, kwargs, kind, float_mask", [c for c, _ in MASKED], ids=[i for _, i in MASKED]
)
def test_masked_values_never_change_y(rank, kwargs, kind, float_mask):
    checks.check_masked_values_never_change_y(CLASSES[rank], make, rank, kwargs, kind, float_mask)


@pytest.mark.parametrize("binary", [True, False])
def test_all_zero_mask(binary):
    kwargs = dict(padding="same", use_bias=True, activation="sigmoid", binary=binary)
    checks.check_all_zero_mask(kcl.SparseConv2D, make, kwargs, True)


def test_all_zero_mask_3d_weightnorm():
    layer = make(
        kcl.SparseConv3D, dict(weightnorm=True, use_bias=True), data_format="channels_last"
    )
    x = h.rand(np.random.default_rng(0), 1, 4, 4, 4, 2)
    mask = np.zeros(x.shape[:-1] + (1,), "float32")
    y, m = h.call(layer, x, mask)
    assert np.all(y == 0) and np.all(m == 0)
    value, g_x, g_mask, g_w = h.masked_grads(layer, x, mask)
    assert sorted(g_w) == ["bias", "kernel", "wn_g"]
    for g in [g_x, g_mask, *g_w.values()]:
        assert g is not None and np.all(np.isfinite(g))


def test_no_mask_is_any_nonzero_over_channels():
    rng = np.random.default_rng(0)
    x = h.rand(rng, 2, 7, 6, 3)
    x[:, :3] = 0.0
    x[:, 4:, :, 1:] = 0.0  # channel 0 alone keeps these positions valid
    layer = make(kcl.SparseConv2D, dict(padding="same", binary=False), data_format="channels_last")
    y1, m1 = h.call(layer, x)
    any_mask = np.any(x != 0, axis=-1, keepdims=True).astype("float32")
    y2, m2 = h.call(layer, x, any_mask)
    np.testing.assert_allclose(y1, y2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m1, m2, rtol=1e-6, atol=1e-7)
    # Not the channel sum (the seed's rule): a position whose channels sum to
    # 0 but are not all 0 is still valid.
    x_cancel = x.copy()
    x_cancel[:, 4:, :, 1] = -x_cancel[:, 4:, :, 0]
    np.testing.assert_array_equal(h.call(layer, x_cancel)[1], m1)


def test_normaliser_counts_window_fraction():
    layer = make(kcl.SparseConv2D, dict(padding="same", binary=False), data_format="channels_last")
    x = np.ones((1, 4, 4, 2), "float32")
    mask = np.zeros((1, 4, 4, 1), "float32")
    mask[0, 0, 0, 0] = 1.0
    _, m = h.call(layer, x, mask)
    expected = np.zeros((4, 4))
    expected[:2, :2] = 1.0 / 9.0
    np.testing.assert_allclose(m[0, :, :, 0], expected, rtol=1e-6)


def test_bad_mask_shapes():
    checks.check_bad_mask_shapes(
        kcl.SparseConv2D, make, (2, 7, 6, 4), [(2, 7, 6, 4), (2, 7, 6, 2), (2, 7, 5, 1)]
    )
    checks.check_bad_mask_shapes(kcl.SparseConv1D, make, (2, 9, 3), [(2, 9, 3), (2, 10, 1)])
    checks.check_bad_mask_shapes(kcl.SparseConv3D, make, (1, 4, 4, 4, 2), [(1, 4, 5, 4, 1)])


def test_bad_arguments():
    with pytest.raises(ValueError, match="binary"):
        kcl.SparseConv2D(4, 3, binary=1)
    with pytest.raises(ValueError, match="equalize"):
        kcl.SparseConv1D(4, 3, weightnorm=True, equalize=True)
    with pytest.raises(ValueError, match="kernel_size"):
        kcl.SparseConv3D(4, (3, 3))
