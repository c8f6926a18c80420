"""Property checks shared by the masked-layer test modules.

Each function takes the layer class (and a config) and asserts one SPEC
property; the `test_*.py` modules parametrize them over their layers.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.masked import helpers as h

SPATIAL = {1: (9,), 2: (7, 6), 3: (5, 4, 5)}
C_IN = 4
FAST = dict(kernel_initializer="zeros")  # the tests assign random weights


def mask_channels(mode, kind):
    if kind == "none":
        return None
    return 1 if (kind == "one" or mode == "sparse") else C_IN


def make_inputs(cls, rank, kind, float_mask=False, seed=0):
    rng = np.random.default_rng(seed)
    x = h.rand(rng, 2, *SPATIAL[rank], C_IN)
    channels = mask_channels(h.mode(cls), kind)
    if channels is None:
        # Derived masks: zero some values (Partial) / whole positions (Sparse).
        x = x * h.random_mask(rng, x.shape[:-1] + (1,), hole=True)
        x = x * (rng.random(x.shape) < 0.7)
        return x.astype("float32"), None
    mask = h.random_mask(rng, x.shape[:-1] + (channels,), binary=not float_mask)
    return x, mask


def _cf(a):
    return None if a is None else np.moveaxis(a, -1, 1)


def check_matches_reference(cls, make, rank, kwargs, kind, float_mask):
    layer = make(cls, dict(kwargs, **FAST), data_format="channels_last")
    x, mask = make_inputs(cls, rank, kind, float_mask)
    layer.build(x.shape if mask is None else [x.shape, mask.shape])
    weights = h.randomize(layer, np.random.default_rng(1))
    y, m = h.call(layer, x, mask)
    y_ref, m_ref = h.reference_outputs(layer, weights, x, mask, kwargs.get("activation"))
    assert y.shape == y_ref.shape and m.shape == m_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m, m_ref, rtol=1e-5, atol=1e-6)
    # The test must exercise both valid and invalid outputs.
    assert 0 < np.count_nonzero(m_ref > layer.eps) < m_ref.size or kind == "none"

    # channels_first gives the same numbers.
    layer_cf = make(cls, dict(kwargs, **FAST), data_format="channels_first")
    layer_cf.build(_cf(x).shape if mask is None else [_cf(x).shape, _cf(mask).shape])
    layer_cf.set_weights(layer.get_weights())
    y_cf, m_cf = h.call(layer_cf, _cf(x), _cf(mask))
    np.testing.assert_allclose(np.moveaxis(y_cf, 1, -1), y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.moveaxis(m_cf, 1, -1), m, rtol=1e-5, atol=1e-6)


def check_masked_values_never_change_y(cls, make, rank, kwargs, kind, float_mask):
    layer = make(cls, dict(kwargs, **FAST), data_format="channels_last")
    x, mask = make_inputs(cls, rank, kind, float_mask, seed=3)
    layer.build(x.shape if mask is None else [x.shape, mask.shape])
    h.randomize(layer, np.random.default_rng(4))
    y, m = h.call(layer, x, mask)
    hidden = np.broadcast_to(mask == 0, x.shape)
    assert hidden.any() and (~hidden).any()
    noise = np.random.default_rng(5).normal(scale=100.0, size=x.shape).astype("float32")
    x2 = np.where(hidden, x + noise, x).astype("float32")
    y2, m2 = h.call(layer, x2, mask)
    np.testing.assert_allclose(y2, y, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(m2, m)
    # ...while the valid values do change it.
    x3 = np.where(hidden, x, x + noise).astype("float32")
    assert not np.allclose(h.call(layer, x3, mask)[0], y)


def check_all_zero_mask(cls, make, kwargs, mask_ones_channel):
    layer = make(cls, dict(kwargs, **FAST), data_format="channels_last")
    rng = np.random.default_rng(0)
    x = h.rand(rng, 2, 6, 5, C_IN)
    mask = np.zeros(x.shape[:-1] + (1 if mask_ones_channel else C_IN,), "float32")
    layer.build([x.shape, mask.shape])
    h.randomize(layer, rng)
    y, m = h.call(layer, x, mask)
    assert np.all(y == 0) and np.all(m == 0)
    value, g_x, g_mask, g_w = h.masked_grads(layer, x, mask)
    assert np.isfinite(value)
    for name, g in [("x", g_x), ("mask", g_mask), *g_w.items()]:
        assert g is not None, f"no gradient w.r.t. {name}"
        assert np.all(np.isfinite(g)), f"non-finite gradient w.r.t. {name}"
    assert sorted(g_w) == sorted(w.path.split("/")[-1] for w in layer.trainable_weights)
    # No mask and an all-zero input: the same (the derived mask is empty).
    y0, m0 = h.call(layer, np.zeros_like(x))
    assert np.all(y0 == 0) and np.all(m0 == 0)


def check_bad_mask_shapes(cls, make, x_shape, bad_masks):
    for mask_shape in bad_masks:
        layer = make(cls, FAST, data_format="channels_last")
        x = np.zeros(x_shape, "float32")
        mask = np.ones(mask_shape, "float32")
        with pytest.raises(ValueError) as info:
            layer([x, mask])
        message = str(info.value)
        assert cls.__name__ in message
        assert str(tuple(x_shape)) in message and str(tuple(mask_shape)) in message
        # Also after the layer was built with a good mask.
        layer2 = make(cls, FAST, data_format="channels_last")
        layer2.build([x_shape, x_shape[:-1] + (1,)])
        with pytest.raises(ValueError, match=cls.__name__):
            layer2([x, mask])
