"""MaxPoolingWithRelativePosition2D against a numpy reference."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.harness import to_numpy
from tests.pooling import reference

CL, CF = "channels_last", "channels_first"


def _reference_positions(x, k):
    """(dy, dx) of the argmax relative to the window centre, times 2 / k."""
    kh, kw = (k, k) if isinstance(k, int) else k
    _, idx = reference.max_pool_with_argmax(x, (kh, kw), 1, "same")
    b, h, w, c = x.shape
    rows, cols = (idx // c) // w, (idx // c) % w
    top, left = reference.same_pads(h, kh, 1)[0], reference.same_pads(w, kw, 1)[0]
    centre_r = np.arange(h)[None, :, None, None] - top + (kh - 1) / 2
    centre_c = np.arange(w)[None, None, :, None] - left + (kw - 1) / 2
    return np.concatenate([(rows - centre_r) * 2 / kh, (cols - centre_c) * 2 / kw], axis=-1)


@pytest.mark.parametrize("k", [5, 3, 2, (3, 4)])
def test_matches_reference(k):
    x = np.random.default_rng(0).permutation(2 * 6 * 7 * 3).astype("float32").reshape(2, 6, 7, 3)
    pooled, positions = kcl.MaxPoolingWithRelativePosition2D(k, data_format=CL)(x)
    np.testing.assert_array_equal(
        to_numpy(pooled), to_numpy(keras.layers.MaxPooling2D(k, 1, "same", data_format=CL)(x))
    )
    np.testing.assert_allclose(to_numpy(positions), _reference_positions(x, k), atol=1e-6)
    if isinstance(k, int) and k % 2:
        assert np.abs(to_numpy(positions)).max() <= (k - 1) / k + 1e-6


def test_channels_first_equals_channels_last():
    x = np.random.default_rng(1).normal(size=(2, 5, 6, 3)).astype("float32")
    p_cl, pos_cl = kcl.MaxPoolingWithRelativePosition2D(3, data_format=CL)(x)
    p_cf, pos_cf = kcl.MaxPoolingWithRelativePosition2D(3, data_format=CF)(np.moveaxis(x, -1, 1))
    np.testing.assert_array_equal(np.moveaxis(to_numpy(p_cf), 1, -1), to_numpy(p_cl))
    np.testing.assert_allclose(np.moveaxis(to_numpy(pos_cf), 1, -1), to_numpy(pos_cl), atol=1e-6)


def test_single_peak_position():
    x = np.zeros((1, 5, 5, 1), "float32")
    x[0, 0, 4, 0] = 1.0
    _, positions = kcl.MaxPoolingWithRelativePosition2D(5, data_format=CL)(x)
    np.testing.assert_allclose(to_numpy(positions)[0, 2, 2], [-0.8, 0.8], atol=1e-6)
    assert kcl.MaxPoolingWithRelativePosition2D(5, data_format=CL).compute_output_shape(
        (None, 5, 5, 1)
    ) == [(None, 5, 5, 1), (None, 5, 5, 2)]


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="pool_size"):
        kcl.MaxPoolingWithRelativePosition2D(0)
    with pytest.raises(ValueError, match="data_format"):
        kcl.MaxPoolingWithRelativePosition2D(3, data_format="x")
    with pytest.raises(ValueError, match="MaxPoolingWithRelativePosition2D.*rank 4"):
        kcl.MaxPoolingWithRelativePosition2D(3, data_format=CL)(np.zeros((2, 5, 5), "float32"))
