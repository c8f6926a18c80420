"""MaxPoolingWithArgmax1D/3D, MaxUnpooling1D/3D and their ops: indices
against the numpy reference (odd sizes, "same"/"valid", overlapping windows,
ties, both data formats), unpool(pool(x)) round trips, dense vs scatter
unpooling, gradients, symbolic inputs, errors.  (The 2D pair, which shares
their implementation, has its own files.)"""

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
POOL = {1: kcl.MaxPoolingWithArgmax1D, 3: kcl.MaxPoolingWithArgmax3D}
UNPOOL = {1: kcl.MaxUnpooling1D, 3: kcl.MaxUnpooling3D}
POOL_OP = {1: kcl.ops.max_pool_with_argmax1d, 3: kcl.ops.max_pool_with_argmax3d}
UNPOOL_OP = {1: kcl.ops.max_unpool1d, 3: kcl.ops.max_unpool3d}
#: Channels_last input shapes with odd sizes.
SHAPES = {1: (2, 9, 3), 3: (1, 5, 4, 3, 2)}
#: (pool_size, strides, padding): non-overlapping, overlapping, "valid".
CONFIGS = {
    1: [(2, None, "same"), (3, 2, "same"), (4, 3, "valid"), (2, 1, "valid")],
    3: [(2, None, "same"), ((3, 2, 2), (2, 1, 2), "same"), ((2, 3, 2), (1, 2, 2), "valid")],
}
RANK_FORMATS = [(r, f) for r in (1, 3) for f in (CL, CF)]


def _distinct(shape, seed=0):
    """Distinct positive values (no ties, no zeros)."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).astype("float32") / 10.0 + 1.0).reshape(shape)


def _layout(x, fmt):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if fmt == CF else x


def _spatial(x, fmt):
    return tuple(x.shape[1:-1] if fmt == CL else x.shape[2:])


@pytest.mark.parametrize("rank,fmt", RANK_FORMATS)
def test_indices_match_numpy_reference(rank, fmt):
    x = _layout(_distinct(SHAPES[rank], 1), fmt)
    ties = _layout(np.random.default_rng(2).integers(0, 2, SHAPES[rank]).astype("float32"), fmt)
    for k, s, pad in CONFIGS[rank]:
        layer = POOL[rank](k, s, pad, data_format=fmt)
        values, indices = layer(x)
        assert keras.backend.standardize_dtype(indices.dtype) == "int32"
        ref_v, ref_i = reference.max_pool_with_argmax_nd(x, k, s or k, pad, fmt)
        np.testing.assert_array_equal(to_numpy(values), ref_v)
        np.testing.assert_array_equal(to_numpy(indices), ref_i)
        assert tuple(values.shape) == tuple(layer.compute_output_shape(x.shape)[0])
        # Indices address the example's own flattened tensor.
        flat = x.reshape(x.shape[0], -1)
        gathered = np.take_along_axis(flat, ref_i.reshape(x.shape[0], -1), 1)
        np.testing.assert_array_equal(gathered.reshape(ref_v.shape), ref_v)
        # Ties go to the lowest index.
        values, indices = POOL_OP[rank](ties, k, s, pad, data_format=fmt)
        ref_v, ref_i = reference.max_pool_with_argmax_nd(ties, k, s or k, pad, fmt)
        np.testing.assert_array_equal(to_numpy(values), ref_v)
        np.testing.assert_array_equal(to_numpy(indices), ref_i)


@pytest.mark.parametrize("rank", [1, 3])
def test_output_shapes_are_those_of_keras_max_pooling(rank):
    keras_pool = {1: keras.layers.MaxPooling1D, 3: keras.layers.MaxPooling3D}[rank]
    shape = (None, *SHAPES[rank][1:])
    for k, s, pad in CONFIGS[rank]:
        ours = POOL[rank](k, s, pad, data_format=CL).compute_output_shape(shape)[0]
        assert tuple(ours) == tuple(
            keras_pool(k, s, pad, data_format=CL).compute_output_shape(shape)
        )


@pytest.mark.parametrize("rank,fmt", RANK_FORMATS)
def test_unpool_of_pool_keeps_exactly_the_maxima(rank, fmt):
    odd = _layout(_distinct(SHAPES[rank], 3), fmt)
    even_shape = (SHAPES[rank][0], *(2 * (n // 2) + 2 for n in SHAPES[rank][1:-1]), 2)
    even = _layout(_distinct(even_shape, 4), fmt)
    for x, form in ((odd, "reference"), (even, "pair")):
        pooled, idx = POOL[rank](2, data_format=fmt)(x)
        inputs = [pooled, idx, x] if form == "reference" else [pooled, idx]
        layer = UNPOOL[rank](2, data_format=fmt)
        y = to_numpy(layer(inputs))
        assert y.shape == x.shape == tuple(layer.compute_output_shape([t.shape for t in inputs]))
        pooled, idx = to_numpy(pooled), to_numpy(idx)
        kept = y != 0
        np.testing.assert_array_equal(y[kept], x[kept])  # values at their own positions
        assert kept.sum() == pooled.size  # exactly the maxima, zeros elsewhere
        flat = y.reshape(x.shape[0], -1)
        np.testing.assert_array_equal(
            np.take_along_axis(flat, idx.reshape(x.shape[0], -1), 1).reshape(pooled.shape), pooled
        )
        np.testing.assert_array_equal(y, reference.max_unpool(pooled, idx, x.shape[1:]))


@pytest.mark.parametrize("rank,fmt", RANK_FORMATS)
def test_dense_and_scatter_paths_agree_and_overlap_gives_value_once(rank, fmt):
    x = _layout(_distinct(SHAPES[rank], 5), fmt)
    out = _spatial(x, fmt)
    block = (2,) * rank
    pooled, idx = POOL_OP[rank](x, 2, 2, "same", data_format=fmt)
    args = (pooled, ops.cast(idx, "int32"))
    dense, exact = generic._unpool_dense(*args, out, block, fmt)
    assert bool(to_numpy(exact))
    scatter = generic._unpool_scatter(*args, out, fmt)
    expected = reference.max_unpool(to_numpy(pooled), to_numpy(idx), x.shape[1:])
    np.testing.assert_array_equal(to_numpy(dense), expected)
    np.testing.assert_array_equal(to_numpy(scatter), expected)
    # Overlapping windows: indices outside their block (the scatter path
    # runs) and duplicates, whose value is placed once.
    pooled3, idx3 = POOL_OP[rank](x, 3, 2, "same", data_format=fmt)
    _, exact3 = generic._unpool_dense(pooled3, ops.cast(idx3, "int32"), out, block, fmt)
    assert not bool(to_numpy(exact3))
    flat_idx = to_numpy(idx3).reshape(x.shape[0], -1)
    assert any(len(np.unique(r)) < r.size for r in flat_idx), "no duplicates to test"
    y = to_numpy(UNPOOL[rank](2, data_format=fmt)([pooled3, idx3, x]))
    np.testing.assert_array_equal(y[y != 0], x[y != 0])
    np.testing.assert_array_equal(
        y, reference.max_unpool(to_numpy(pooled3), to_numpy(idx3), x.shape[1:])
    )


@pytest.mark.parametrize("rank,fmt", RANK_FORMATS)
def test_pool_gradient_goes_to_the_argmax_positions(rank, fmt):
    x = _layout(_distinct(SHAPES[rank], 6), fmt)
    _, idx = reference.max_pool_with_argmax_nd(x, 3, 2, "same", fmt)
    w = np.random.default_rng(7).normal(size=idx.shape).astype("float32")

    def f(t):
        values, _ = POOL_OP[rank](t, 3, 2, "same", data_format=fmt)
        return ops.sum(values * ops.convert_to_tensor(w))

    _, (g,) = value_and_grads(f, x)
    expected = np.zeros((x.shape[0], x[0].size))
    for b in range(x.shape[0]):
        np.add.at(expected[b], idx[b].reshape(-1), w[b].reshape(-1))
    np.testing.assert_allclose(g.reshape(expected.shape), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rank,fmt", RANK_FORMATS)
def test_unpool_gradient_is_the_gather_at_indices(rank, fmt):
    x = _layout(_distinct(SHAPES[rank], 8), fmt)
    pooled, idx = POOL_OP[rank](x, 2, data_format=fmt)
    idx = to_numpy(idx).copy()
    idx.reshape(-1)[::4] = -1  # out of range: ignored, zero gradient
    w = np.random.default_rng(9).normal(size=x.shape).astype("float32")

    def f(v):
        y = UNPOOL_OP[rank](v, ops.convert_to_tensor(idx), _spatial(x, fmt), data_format=fmt)
        return ops.sum(y * ops.convert_to_tensor(w))

    _, (g,) = value_and_grads(f, to_numpy(pooled))
    flat_w, flat_i = w.reshape(x.shape[0], -1), idx.reshape(x.shape[0], -1)
    expected = np.where(flat_i >= 0, np.take_along_axis(flat_w, np.maximum(flat_i, 0), 1), 0.0)
    np.testing.assert_allclose(g.reshape(expected.shape), expected, rtol=1e-6)


@pytest.mark.parametrize("rank", [1, 3])
def test_ops_on_keras_input(rank):
    shape = SHAPES[rank]
    x = _distinct(shape, 10)
    inp = keras.Input(shape[1:])
    pooled, idx = POOL_OP[rank](inp, 2, data_format=CL)
    assert isinstance(pooled, keras.KerasTensor) and isinstance(idx, keras.KerasTensor)
    assert keras.backend.standardize_dtype(idx.dtype) == "int32"
    y = UNPOOL_OP[rank](pooled, idx, shape[1:-1], data_format=CL)
    assert tuple(y.shape) == (None, *shape[1:])
    model = keras.Model(inp, [pooled, idx, y])
    eager_p, eager_i = POOL_OP[rank](x, 2, data_format=CL)
    eager_y = UNPOOL_OP[rank](eager_p, eager_i, shape[1:-1], data_format=CL)
    for got, want in zip(model(x), (eager_p, eager_i, eager_y)):
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


@pytest.mark.parametrize("rank", [1, 3])
def test_window_too_small_names_the_layer_or_op(rank):
    small = (1, *(2 for _ in range(rank)), 3)
    op_name = f"max_pool_with_argmax{rank}d"
    window = f"pool_size=\\({'3, ' * (rank - 1)}3,?\\)"
    with pytest.raises(ValueError, match=f"{op_name}.*zero or negative.*{window}"):
        POOL_OP[rank](np.zeros(small, "float32"), 3, padding="valid", data_format=CL)
    with pytest.raises(ValueError, match=f"{op_name}.*zero or negative"):
        POOL_OP[rank](keras.Input(small[1:]), 3, padding="valid", data_format=CL)
    name = POOL[rank].__name__
    with pytest.raises(ValueError, match=f"{name}.*zero or negative.*{window}"):
        POOL[rank](3, padding="valid", data_format=CL)(np.zeros(small, "float32"))


def test_bad_arguments_and_shapes():
    x1, i1 = np.ones((1, 3, 2), "float32"), np.zeros((1, 3, 2), "int32")
    x3, i3 = np.ones((1, 2, 2, 2, 1), "float32"), np.zeros((1, 2, 2, 2, 1), "int32")
    with pytest.raises(ValueError, match="pool_size"):
        kcl.MaxPoolingWithArgmax1D((2, 2))
    with pytest.raises(ValueError, match="strides"):
        kcl.ops.max_pool_with_argmax3d(np.ones((1, 4, 4, 4, 1), "float32"), 2, strides=(2, 2))
    with pytest.raises(ValueError, match="size"):
        kcl.MaxUnpooling3D((2, 2))
    with pytest.raises(ValueError, match="MaxPoolingWithArgmax1D.*rank 3"):
        kcl.MaxPoolingWithArgmax1D(data_format=CL)(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="max_pool_with_argmax3d: expected a 5-D input"):
        kcl.ops.max_pool_with_argmax3d(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="MaxUnpooling3D.*rank 5"):
        kcl.MaxUnpooling3D(2, data_format=CL)([x1, i1])
    with pytest.raises(ValueError, match="max_unpool1d.*integer.*max_pool_with_argmax1d"):
        kcl.ops.max_unpool1d(x1, i1.astype("float32"), (6,), data_format=CL)
    with pytest.raises(ValueError, match="max_unpool3d: `output_shape`.*2 entries"):
        kcl.ops.max_unpool3d(x3, i3, (4, 4), data_format=CL)
    with pytest.raises(ValueError, match="output_shape.*positive"):
        kcl.ops.max_unpool1d(x1, i1, (0,), data_format=CL)
    with pytest.raises(ValueError, match="smaller than the pooled input along the depth"):
        kcl.ops.max_unpool3d(x3, i3, (1, 4, 4), data_format=CL)
    with pytest.raises(ValueError, match="MaxUnpooling1D.*reference steps 4 is too small"):
        kcl.MaxUnpooling1D(2, data_format=CL)([x1, i1, np.zeros((1, 4, 2), "float32")])
    # A bare int is a 1D output shape.
    y = kcl.ops.max_unpool1d(x1, i1 + np.arange(3)[None, :, None] * 4, 6, data_format=CL)
    assert tuple(y.shape) == (1, 6, 2)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's native pooling")
def test_torch_pooling_fast_path_declines_other_ranks():
    """torch's pooling fast path (native `max_pool2d`) is 2D-only: 1D/3D
    calls run the generic kernel.  (The other fast paths serve every rank;
    tests/pooling/kernel_cases.py holds their 1D/3D cases.)"""
    x = ops.convert_to_tensor(_distinct((1, 4, 2)))
    assert pooling_kernels.max_pool_with_argmax2d(x, (2,), (2,), "same", CL) is NotImplemented
    x = ops.convert_to_tensor(_distinct((1, 2, 2, 2, 1)))
    assert pooling_kernels.max_pool_with_argmax2d(x, (2,) * 3, (2,) * 3, "same", CL) is (
        NotImplemented
    )
