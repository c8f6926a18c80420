"""MaxUnpooling2D / kcl.ops.max_unpool2d: placement, duplicates, out-of-range
indices, gradients, dense vs scatter paths, bad inputs."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from keras_cv_layers.backend_kernels import pooling as pooling_kernels
from keras_cv_layers.ops import _pooling_kernels as generic
from tests.gradients import value_and_grads
from tests.harness import to_numpy
from tests.pooling import reference

CL, CF = "channels_last", "channels_first"


def _distinct(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).astype("float32") / 10.0 + 1.0).reshape(shape)


def _layout(x, fmt):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if fmt == CF else x


@pytest.mark.parametrize("fmt", [CL, CF])
@pytest.mark.parametrize("hw", [(6, 8), (7, 5)])
def test_unpool_of_pool_restores_maxima_in_place(fmt, hw):
    x = _layout(_distinct((2, *hw, 3)), fmt)
    pooled, idx = kcl.MaxPoolingWithArgmax2D(2, data_format=fmt)([x][0])
    if hw[0] % 2 == 0 and hw[1] % 2 == 0:
        y = kcl.MaxUnpooling2D(2, data_format=fmt)([pooled, idx])
    else:
        y = kcl.MaxUnpooling2D(2, data_format=fmt)([pooled, idx, x])
    y = to_numpy(y)
    assert y.shape == x.shape
    kept = y != 0
    # Every nonzero output is the input there, and exactly the maxima are kept.
    np.testing.assert_array_equal(y[kept], x[kept])
    assert kept.sum() == to_numpy(pooled).size
    np.testing.assert_array_equal(np.sort(y[kept]), np.sort(to_numpy(pooled).reshape(-1)))
    # The 2x2 maxima: each block's maximum is exactly what is kept in it.
    ref = reference.max_unpool(to_numpy(pooled), to_numpy(idx), x.shape[1:])
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("fmt", [CL, CF])
def test_reference_form_with_odd_size_valid_padding(fmt):
    x = _layout(_distinct((1, 7, 5, 2), 1), fmt)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, 2, "valid", data_format=fmt)
    y = to_numpy(kcl.MaxUnpooling2D(2, data_format=fmt)([pooled, idx, x]))
    assert y.shape == x.shape
    np.testing.assert_array_equal(
        y, reference.max_unpool(to_numpy(pooled), to_numpy(idx), x.shape[1:])
    )


@pytest.mark.parametrize("fmt", [CL, CF])
def test_overlapping_windows_give_value_once(fmt):
    x = _layout(_distinct((2, 5, 6, 2), 2), fmt)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 3, 1, "same", data_format=fmt)
    flat_idx = to_numpy(idx).reshape(2, -1)
    assert any(len(np.unique(r)) < r.size for r in flat_idx), "no duplicates to test"
    y = to_numpy(kcl.MaxUnpooling2D(1, data_format=fmt)([pooled, idx, x]))
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept])  # once, not a sum
    np.testing.assert_array_equal(
        y, reference.max_unpool(to_numpy(pooled), to_numpy(idx), x.shape[1:])
    )


@pytest.mark.parametrize("fmt", [CL, CF])
@pytest.mark.parametrize("block", [(2, 2), None])
def test_out_of_range_indices_are_ignored(fmt, block):
    x = _distinct((2, 3, 4, 2), 3)
    x = _layout(x, fmt)
    n = 6 * 8 * 2
    rng = np.random.default_rng(5)
    idx = rng.integers(0, n, size=x.shape).astype("int32")
    idx.reshape(-1)[::4] = -1
    idx.reshape(-1)[1::4] = n
    idx.reshape(-1)[2::7] = n + 100
    y = to_numpy(
        generic.max_unpool2d.generic(
            ops.convert_to_tensor(x), ops.convert_to_tensor(idx), (6, 8), block, fmt
        )
    )
    out_shape = (2, 6, 8) if fmt == CF else (6, 8, 2)
    expected = reference.max_unpool(x, idx, out_shape)
    np.testing.assert_array_equal(y, expected)
    layer_out = kcl.MaxUnpooling2D(2, data_format=fmt)([x, idx])
    np.testing.assert_array_equal(to_numpy(layer_out), expected)


@pytest.mark.parametrize("fmt", [CL, CF])
def test_dense_and_scatter_paths_agree(fmt):
    x = _layout(_distinct((2, 6, 7, 3), 6), fmt)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, 2, "same", data_format=fmt)
    args = (pooled, ops.cast(idx, "int32"))
    dense, exact = generic._unpool_dense(*args, (6, 7), (2, 2), fmt)
    assert bool(to_numpy(exact))
    scatter = generic._unpool_scatter(*args, (6, 7), fmt)
    np.testing.assert_array_equal(to_numpy(dense), to_numpy(scatter))
    # Indices outside their own block: the check fails (the scatter path runs).
    _, idx3 = kcl.ops.max_pool_with_argmax2d(x, 3, 2, "same", data_format=fmt)
    _, exact3 = generic._unpool_dense(pooled, ops.cast(idx3, "int32"), (6, 7), (2, 2), fmt)
    assert not bool(to_numpy(exact3))


@pytest.mark.parametrize("fmt", [CL, CF])
def test_block_offset_past_the_edge_is_not_taken_as_in_block(fmt):
    # Output (5, 7): the last pooled row / column's block sticks out by one.
    # An index equal to "block corner + offset" of a position past the edge
    # names another, in-range position (next row, or next channel for
    # channels_first): it must be placed there, via the scatter path.
    rng = np.random.default_rng(3)
    channels = 2
    out_shape = (channels, 5, 7) if fmt == CF else (5, 7, channels)
    pooled = rng.standard_normal((1, 3, 4, channels)).astype("float32") + 5.0
    pooled = _layout(pooled, fmt)
    cl_pool = _layout(np.zeros((1, 5, 7, channels), "float32"), fmt)
    _, idx = kcl.ops.max_pool_with_argmax2d(cl_pool, 2, 2, "same", data_format=fmt)
    idx = np.array(to_numpy(idx))
    if fmt == CL:
        # pooled (0, 3, c): corner (0, 6); offset dx=1 -> column 7 == (1, 0).
        idx[0, 0, 3, :] = (0 * 7 + 6) * channels + np.arange(channels) + channels
        # pooled (2, 0, c): corner (4, 0); offset dy=1 -> row 5: out of range.
        idx[0, 2, 0, :] = (4 * 7 + 0 + 7) * channels + np.arange(channels)
    else:
        # pooled (c=0, 2, 1): corner (4, 2); offset dy=1 -> row 5 == channel 1.
        idx[0, 0, 2, 1] = 0 * 35 + 4 * 7 + 2 + 7
        # pooled (c=1, 1, 3): corner (2, 6); offset dx=1 -> column 7 == (3, 0).
        idx[0, 1, 1, 3] = 1 * 35 + 2 * 7 + 6 + 1
    args = (ops.convert_to_tensor(pooled), ops.convert_to_tensor(idx))
    _, exact = generic._unpool_dense(*args, (5, 7), (2, 2), fmt)
    assert not bool(to_numpy(exact))
    expected = reference.max_unpool(pooled, idx, out_shape)
    y = generic.max_unpool2d.generic(*args, (5, 7), (2, 2), fmt)
    np.testing.assert_array_equal(to_numpy(y), expected)
    reference_input = np.zeros((1, *out_shape), "float32")
    layer_out = kcl.MaxUnpooling2D(2, data_format=fmt)([pooled, idx, reference_input])
    np.testing.assert_array_equal(to_numpy(layer_out), expected)


def _unpool_loss(fmt, out_hw, weights, kernel=None, block=(2, 2)):
    def loss(v, idx):
        if kernel is None:
            y = kcl.ops.max_unpool2d(v, idx, out_hw, data_format=fmt)
        else:
            y = kernel(v, idx, out_hw, block, fmt)
        return ops.sum(y * ops.convert_to_tensor(weights))

    return loss


@pytest.mark.parametrize("fmt", [CL, CF])
@pytest.mark.parametrize("overlap", [False, True])
def test_gradient_is_gather_at_indices(fmt, overlap):
    rng = np.random.default_rng(7)
    x = _layout(_distinct((2, 5, 6, 2), 8), fmt)
    k, s, size = (3, 1, 1) if overlap else (2, 2, 2)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, k, s, "same", data_format=fmt)
    idx = to_numpy(idx).copy()
    idx.reshape(-1)[::5] = -3  # out-of-range: zero gradient
    out_hw = (5, 6)
    w = rng.normal(size=x.shape).astype("float32")
    idx_t = ops.convert_to_tensor(idx)

    def f(v):
        y = kcl.MaxUnpooling2D(size, data_format=fmt)([v, idx_t, ops.convert_to_tensor(x)])
        return ops.sum(y * ops.convert_to_tensor(w))

    _, (g,) = value_and_grads(f, to_numpy(pooled))
    flat_w = w.reshape(2, -1)
    flat_i = idx.reshape(2, -1)
    valid = (flat_i >= 0) & (flat_i < flat_w.shape[1])
    expected = np.where(valid, np.take_along_axis(flat_w, np.clip(flat_i, 0, None), 1), 0.0)
    np.testing.assert_allclose(g.reshape(2, -1), expected, rtol=1e-6)
    assert out_hw == x.shape[1:3] or out_hw == x.shape[2:4]


def test_gradients_match_finite_differences():
    """Pool then unpool (odd width), w.r.t. the input.  Non-overlapping windows:
    with duplicate indices the SPEC's gather gradient counts a value once per
    duplicate, which is not the derivative of "the value once"."""
    rng = np.random.default_rng(9)
    x = _distinct((1, 4, 5, 2), 10).astype("float64")
    w = rng.normal(size=x.shape).astype("float32")

    def f(t):
        pooled, idx = kcl.ops.max_pool_with_argmax2d(t, 2, 2, "same", data_format=CL)
        y = kcl.ops.max_unpool2d(pooled * pooled, idx, (4, 5), data_format=CL)
        return ops.sum(y * ops.convert_to_tensor(w))

    _, (g,) = value_and_grads(f, x)
    eps = 1e-2
    numeric = np.zeros_like(x)
    for pos in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[pos] = eps
        plus = float(to_numpy(f(ops.convert_to_tensor((x + d).astype("float32")))))
        minus = float(to_numpy(f(ops.convert_to_tensor((x - d).astype("float32")))))
        numeric[pos] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(g, numeric, rtol=2e-2, atol=2e-2)
    assert np.abs(g).max() > 0


@pytest.mark.parametrize("fmt", [CL, CF])
def test_fast_path_equals_generic_with_gradients(fmt):
    fast = pooling_kernels.max_unpool2d.implementation()
    if fast is None:
        pytest.skip(f"no max_unpool2d fast path on {keras.backend.backend()}")
    x = _layout(_distinct((2, 5, 6, 2), 11), fmt)
    rng = np.random.default_rng(12)
    w = rng.normal(size=x.shape).astype("float32")
    for k, s, block in [(2, 2, (2, 2)), (3, 1, (1, 1)), (3, 2, None)]:
        pooled, idx = kcl.ops.max_pool_with_argmax2d(x, k, s, "same", data_format=fmt)
        idx = to_numpy(idx)
        idx.reshape(-1)[::6] = 10_000
        idx_t = ops.convert_to_tensor(idx)
        outs, grads = [], []
        for kernel in (fast, generic.max_unpool2d.generic):

            def f(v, kernel=kernel, idx_t=idx_t, block=block):
                return ops.sum(kernel(v, idx_t, (5, 6), block, fmt) * ops.convert_to_tensor(w))

            value, (g,) = value_and_grads(f, to_numpy(pooled))
            outs.append(to_numpy(kernel(pooled, idx_t, (5, 6), block, fmt)))
            grads.append(g)
        np.testing.assert_array_equal(outs[0], outs[1])
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


def test_ops_form_and_output_shape():
    x = _distinct((1, 5, 5, 2), 13)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, data_format=CL)
    y = kcl.ops.max_unpool2d(pooled, idx, (5, 5), data_format=CL)
    layer = kcl.MaxUnpooling2D(2, data_format=CL)
    np.testing.assert_array_equal(to_numpy(y), to_numpy(layer([pooled, idx, x])))
    assert layer.compute_output_shape([(None, 3, 3, 2), (None, 3, 3, 2)]) == (None, 6, 6, 2)
    assert layer.compute_output_shape([(None, 3, 3, 2)] * 2 + [(None, 5, 6, 2)]) == (
        None,
        5,
        6,
        2,
    )


def test_mixed_precision():
    x = _distinct((1, 4, 4, 2), 14)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, data_format=CL)
    y = kcl.MaxUnpooling2D(2, data_format=CL, dtype="mixed_bfloat16")([pooled, idx])
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    expected = reference.max_unpool(to_numpy(pooled), to_numpy(idx), (4, 4, 2))
    np.testing.assert_allclose(to_numpy(ops.cast(y, "float32")), expected, rtol=1e-2)


def test_bad_inputs():
    x = np.ones((1, 3, 3, 2), "float32")
    idx = np.zeros((1, 3, 3, 2), "int32")
    layer = kcl.MaxUnpooling2D(2, data_format=CL)
    with pytest.raises(ValueError, match="MaxUnpooling2D.*indices.*shape"):
        layer([x, np.zeros((1, 3, 2, 2), "int32")])
    with pytest.raises(ValueError, match="MaxUnpooling2D.*integer"):
        kcl.MaxUnpooling2D(2, data_format=CL)([x, idx.astype("float32")])
    with pytest.raises(ValueError, match="MaxUnpooling2D.*reference.*too small"):
        kcl.MaxUnpooling2D(2, data_format=CL)([x, idx, np.zeros((1, 4, 6, 2), "float32")])
    with pytest.raises(ValueError, match="MaxUnpooling2D.*\\[x, indices\\]"):
        kcl.MaxUnpooling2D(2, data_format=CL)([x])
    with pytest.raises(ValueError, match="rank 4"):
        kcl.MaxUnpooling2D(2, data_format=CL)([x[0], idx[0]])
    with pytest.raises(ValueError, match="indices"):
        kcl.ops.max_unpool2d(x, idx.astype("float32"), (6, 6))
    with pytest.raises(ValueError, match="indices.*shape"):
        kcl.ops.max_unpool2d(x, idx[:, :2], (6, 6))
    with pytest.raises(ValueError, match="output_shape"):
        kcl.ops.max_unpool2d(x, idx, 6)
    # Symbolic inputs are checked too.
    with pytest.raises(ValueError, match="integer"):
        kcl.MaxUnpooling2D(2)([keras.Input((3, 3, 2)), keras.Input((3, 3, 2))])
    with pytest.raises(ValueError, match="size"):
        kcl.MaxUnpooling2D(0)
    with pytest.raises(ValueError, match="data_format"):
        kcl.MaxUnpooling2D(2, data_format="NCHW")


@pytest.mark.parametrize(
    "size, why",
    [
        ("88", "string"),
        ((8.0, 8.0), "not an integer"),
        ((0, 0), "positive"),
        ((-8, 8), "positive"),
        ((True, 8), "bool"),
        ((8, 8, 1), "3 entries"),
        ((3, 8), "smaller than the pooled input along the height"),
    ],
)
def test_output_shape_is_validated(size, why):
    """`output_shape` must be two positive ints no smaller than `x`
    (pooling never enlarges); a bad one is a ValueError naming it, on
    concrete and symbolic inputs, before any kernel runs."""
    x = _distinct((1, 8, 8, 2), 21)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, data_format=CL)
    with pytest.raises(ValueError, match="output_shape") as info:
        kcl.ops.max_unpool2d(pooled, idx, size, data_format=CL)
    assert why in str(info.value)
    with pytest.raises(ValueError, match="output_shape"):
        kcl.ops.max_unpool2d(
            keras.Input((4, 4, 2)), keras.Input((4, 4, 2), dtype="int32"), size, data_format=CL
        )


def test_indices_beyond_a_large_enough_output_are_dropped():
    """Documented behaviour: an `output_shape` at least the pooled size
    passes the static check; indices from a larger input than it cannot be
    told from the shapes and are dropped at run time (as out-of-range
    indices are), the in-range ones placed."""
    x = _distinct((1, 8, 8, 2), 22)
    pooled, idx = kcl.ops.max_pool_with_argmax2d(x, 2, data_format=CL)
    y = to_numpy(kcl.ops.max_unpool2d(pooled, idx, (4, 4), data_format=CL))
    assert y.shape == (1, 4, 4, 2)
    flat_idx, flat_pooled = to_numpy(idx).ravel(), to_numpy(pooled).ravel()
    kept = flat_idx < y.size
    np.testing.assert_array_equal(y.ravel()[flat_idx[kept]], flat_pooled[kept])
    assert np.count_nonzero(y) == kept.sum() < flat_idx.size


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="jit_compile=True is JAX's and TF's (SPEC)"
)
def test_segnet_fit_with_jit_compile_and_unknown_size():
    """The 3-input form trains inside XLA with an unknown spatial size (TF
    failed to compile the gradient of the unpooling's `cond`)."""
    inp = keras.Input((None, None, 3))
    pooled, idx = kcl.MaxPoolingWithArgmax2D(2)(inp)
    features = keras.layers.Conv2D(3, 3, padding="same")(pooled)
    model = keras.Model(inp, kcl.MaxUnpooling2D(2)([features, idx, inp]))
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=True)
    conv = model.layers[2]
    for shape in [(4, 8, 8, 3), (2, 7, 9, 3)]:
        x = np.random.default_rng(0).normal(size=shape).astype("float32")
        if keras.config.image_data_format() == "channels_first":
            x = np.moveaxis(x, -1, 1)
        before = to_numpy(conv.kernel).copy()
        history = model.fit(x, x, epochs=1, verbose=0).history
        assert np.isfinite(history["loss"][0])
        assert not np.allclose(to_numpy(conv.kernel), before)
