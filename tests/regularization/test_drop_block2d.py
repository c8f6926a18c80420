"""DropBlock2D: numpy references of γ, the block mask and the rescaling, and
the defining properties (identity at inference, squares inside the image,
dropped fraction, expected value, no NaN/Inf)."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers.layers.regularization import drop_block2d as db
from tests.gradients import value_and_grads
from tests.harness import to_numpy

CL, CF = "channels_last", "channels_first"


def _to_layout(x, data_format):
    return np.moveaxis(x, -1, 1) if data_format == CF else x


def _from_layout(x, data_format):
    return np.moveaxis(x, 1, -1) if data_format == CF else x


def _clamped(h, w, b):
    return min(b, h), min(b, w)


def reference_keep_mask(seeds, b):
    """Keep mask (channels_last) of a 0/1 seed map: each seed whose block
    (top-left at the seed, clamped to the map) fits zeroes that block."""
    _, h, w, _ = seeds.shape
    bh, bw = _clamped(h, w, b)
    keep = np.ones(seeds.shape, "float32")
    for i in range(h - bh + 1):
        for j in range(w - bw + 1):
            hit = seeds[:, i, j, :] > 0
            keep[:, i : i + bh, j : j + bw, :] *= ~hit[:, None, None, :]
    return keep


def reference_gamma(rate, b, h, w):
    bh, bw = _clamped(h, w, b)
    return rate / (bh * bw) * h * w / ((h - bh + 1) * (w - bw + 1))


def expected_dropped_fraction(rate, b, h, w):
    """Exact P(dropped) averaged over the map: a unit is dropped unless none
    of the n valid seed positions whose block covers it fires."""
    bh, bw = _clamped(h, w, b)
    g = reference_gamma(rate, b, h, w)
    nr = np.array([min(r, h - bh) - max(0, r - bh + 1) + 1 for r in range(h)])
    nc = np.array([min(c, w - bw) - max(0, c - bw + 1) + 1 for c in range(w)])
    return float(np.mean(1 - (1 - g) ** np.outer(nr, nc)))


def assert_union_of_blocks(dropped, bh, bw):
    """`dropped` (channels_last bool) is a union of bh×bw squares inside the image."""
    _, h, w, _ = dropped.shape
    covered = np.zeros_like(dropped)
    for i in range(h - bh + 1):
        for j in range(w - bw + 1):
            full = dropped[:, i : i + bh, j : j + bw, :].all(axis=(1, 2))
            covered[:, i : i + bh, j : j + bw, :] |= full[:, None, None, :]
    np.testing.assert_array_equal(covered, dropped)


@pytest.mark.parametrize("data_format", [CL, CF])
def test_identity_at_inference_and_with_rate_zero(data_format):
    x = np.random.default_rng(0).normal(size=(2, 6, 7, 3)).astype("float32")
    layer = kcl.DropBlock2D(0.5, block_size=3, data_format=data_format, seed=0)
    for training in (False, None):
        np.testing.assert_array_equal(to_numpy(layer(x, training=training)), x)
    np.testing.assert_array_equal(to_numpy(layer(x)), x)
    zero = kcl.DropBlock2D(0.0, block_size=3, data_format=data_format)
    np.testing.assert_array_equal(to_numpy(zero(x, training=True)), x)


@pytest.mark.parametrize("h,w,b", [(7, 9, 3), (6, 6, 4), (5, 8, 6), (4, 5, 9)])
def test_gamma_matches_formula(h, w, b):
    got = float(to_numpy(db.seed_probability(0.3, b, h, w)))
    np.testing.assert_allclose(got, min(reference_gamma(0.3, b, h, w), 1.0), rtol=1e-6)
    # Static and run-time sizes give the same clamped block.
    assert db.clamped_block_size(h, w, b) == _clamped(h, w, b)


@pytest.mark.parametrize(
    "h,w,b,data_format",
    [(7, 9, 3, CL), (6, 7, 4, CF), (5, 8, 6, CF), (4, 5, 9, CL), (5, 5, 1, CF)],
)
def test_mask_and_output_match_numpy_reference(h, w, b, data_format):
    rng = np.random.default_rng(h * w + b)
    # Seeds everywhere, also where no block fits: those must be ignored.
    seeds = (rng.random((2, h, w, 3)) < 0.08).astype("float32")
    seeds[0, 0, 0, 0] = 1.0
    mask = to_numpy(db.block_keep_mask(_to_layout(seeds, data_format), b, data_format))
    expected = reference_keep_mask(seeds, b)
    np.testing.assert_array_equal(_from_layout(mask, data_format), expected)
    x = rng.normal(size=seeds.shape).astype("float32")
    y = to_numpy(db.apply_keep_mask(_to_layout(x, data_format), _to_layout(expected, data_format)))
    np.testing.assert_allclose(
        _from_layout(y, data_format),
        x * expected * expected.size / expected.sum(),
        rtol=1e-5,
        atol=1e-6,
    )


# Few distinct shapes: on JAX each new shape of the random draw compiles anew.
BATCH, CHANNELS = 64, 8


@pytest.mark.parametrize(
    "h,w,b,data_format", [(16, 16, 3, CL), (11, 13, 4, CF), (5, 8, 6, CL), (5, 8, 9, CL)]
)
def test_dropped_regions_are_blocks_and_fraction_is_rate(h, w, b, data_format):
    rate = 0.1
    batch = max(BATCH, 16384 // (h * w))  # enough independent maps
    layer = kcl.DropBlock2D(rate, block_size=b, data_format=data_format, seed=3)
    x = np.ones((batch, h, w, CHANNELS), "float32")
    y = _from_layout(to_numpy(layer(_to_layout(x, data_format), training=True)), data_format)
    dropped = y == 0
    assert dropped.any() and not dropped.all()
    bh, bw = _clamped(h, w, b)
    assert_union_of_blocks(dropped, bh, bw)
    # Kept units are all scaled by numel / number kept (batch-wide).
    np.testing.assert_allclose(y[~dropped], dropped.size / (~dropped).sum(), rtol=1e-5)
    # The dropped fraction is the exact expectation of the model up to 4
    # standard errors (maps are independent; units within a map are not).
    per_map = np.moveaxis(dropped, -1, 1).reshape(batch * CHANNELS, h * w)
    fraction = dropped.mean()
    stderr = per_map.mean(axis=1).std() / np.sqrt(per_map.shape[0])
    expected = expected_dropped_fraction(rate, b, h, w)
    assert abs(fraction - expected) < 4 * stderr + 1e-3, (fraction, expected, stderr)
    assert stderr < 0.1 * expected  # the check above is sharp enough
    if b <= min(h, w):
        assert abs(fraction - rate) < 0.2 * rate, fraction
    if (bh, bw) == (h, w):  # the block covers the map: whole maps are dropped
        assert np.all(per_map.all(axis=1) | (~per_map).all(axis=1))


def test_expected_value_is_kept():
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 1.5, size=(BATCH, 16, 16, CHANNELS)).astype("float32")
    layer = kcl.DropBlock2D(0.25, block_size=3, data_format=CL, seed=5)
    outputs = [to_numpy(layer(x, training=True)) for _ in range(3)]
    np.testing.assert_allclose(np.mean([y.mean() for y in outputs]), x.mean(), rtol=0.01)
    # Without the rescaling the mean would be ~20% smaller.
    assert np.mean(outputs[0] == 0) > 0.15


def test_everything_dropped_gives_zeros_not_nan():
    zero_mask = np.zeros((2, 4, 4, 1), "float32")
    x = np.ones((2, 4, 4, 1), "float32")
    np.testing.assert_array_equal(to_numpy(db.apply_keep_mask(x, zero_mask)), 0.0)
    empty = np.zeros((0, 4, 4, 1), "float32")
    assert to_numpy(db.apply_keep_mask(empty, empty)).shape == (0, 4, 4, 1)
    # rate 0.9 with the block covering the map: each (example, channel) map
    # is dropped whole with probability 0.9, so some calls drop everything.
    layer = kcl.DropBlock2D(0.9, block_size=4, data_format=CL, seed=11)
    all_dropped = 0
    for _ in range(40):
        y = to_numpy(layer(x[:1], training=True))
        assert np.all(np.isfinite(y))
        all_dropped += int(np.all(y == 0))
    assert all_dropped > 0


@pytest.mark.parametrize("empty", [False, True])
def test_gradients_are_mask_times_scale(empty):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 8, 8, 2)).astype("float32")
    r = rng.normal(size=x.shape).astype("float32")
    seeds = (rng.random(x.shape) < (0.0 if empty else 0.05)).astype("float32")
    mask = to_numpy(db.block_keep_mask(seeds, 3, CL))
    value, (g,) = value_and_grads(
        lambda t: keras.ops.sum(keras.ops.multiply(db.apply_keep_mask(t, mask), r)), x
    )
    scale = mask.size / mask.sum()
    assert np.isfinite(value) and np.all(np.isfinite(g))
    np.testing.assert_allclose(g, r * mask * scale, rtol=1e-5, atol=1e-6)
    if not empty:
        assert 0 < mask.mean() < 1
    # Everything dropped: zero output and zero (finite) gradients.
    value, (g,) = value_and_grads(
        lambda t: keras.ops.sum(keras.ops.multiply(db.apply_keep_mask(t, np.zeros_like(mask)), r)),
        x,
    )
    assert value == 0 and np.all(g == 0)


def test_seeded_layers_repeat_and_calls_differ():
    x = np.ones((BATCH, 16, 16, CHANNELS), "float32")
    a = kcl.DropBlock2D(0.3, block_size=2, data_format=CL, seed=42)
    b = kcl.DropBlock2D(0.3, block_size=2, data_format=CL, seed=42)
    first = to_numpy(a(x, training=True))
    np.testing.assert_array_equal(first, to_numpy(b(x, training=True)))
    assert not np.array_equal(first, to_numpy(a(x, training=True)))


def test_bad_arguments_and_shapes():
    for rate in (-0.1, 1.0, 1.5, float("nan"), "0.1", True, None):
        with pytest.raises(ValueError, match="rate"):
            kcl.DropBlock2D(rate)
    for size in (0, -1, 2.5, True, (3, 3)):
        with pytest.raises(ValueError, match="block_size"):
            kcl.DropBlock2D(0.1, block_size=size)
    with pytest.raises(ValueError, match="seed"):
        kcl.DropBlock2D(0.1, seed="1")
    with pytest.raises(ValueError, match="data_format"):
        kcl.DropBlock2D(0.1, data_format="NHWC")
    layer = kcl.DropBlock2D(0.1, name="db")
    with pytest.raises(ValueError, match="db"):
        layer(np.ones((2, 5, 3), "float32"))


def test_config_round_trip():
    layer = kcl.DropBlock2D(0.2, block_size=5, data_format=CF, seed=3)
    config = layer.get_config()
    assert {k: config[k] for k in ("rate", "block_size", "data_format", "seed")} == {
        "rate": 0.2,
        "block_size": 5,
        "data_format": CF,
        "seed": 3,
    }
    assert kcl.DropBlock2D.from_config(config).get_config() == config
