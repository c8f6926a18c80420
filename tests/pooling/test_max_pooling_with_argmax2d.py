"""MaxPoolingWithArgmax2D / kcl.ops.max_pool_with_argmax2d against TF
fixtures, the numpy reference and MaxPooling2D."""

import itertools
import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from keras_cv_layers.backend_kernels import pooling as pooling_kernels
from keras_cv_layers.ops import _pooling_kernels as generic
from tests.gradients import value_and_grads
from tests.harness import to_numpy
from tests.pooling import make_fixtures, reference

CL, CF = "channels_last", "channels_first"
FIXTURES = np.load(make_fixtures.PATH)
CONFIGS = list(
    itertools.product(
        make_fixtures.SIZES, make_fixtures.POOLS, make_fixtures.STRIDES, make_fixtures.PADDINGS
    )
)


@pytest.mark.parametrize("size,pool,stride,padding", CONFIGS)
def test_matches_tf_fixture_channels_last(size, pool, stride, padding):
    key = make_fixtures.key(size, pool, stride, padding)
    x = FIXTURES[f"{size}_x"]
    layer = kcl.MaxPoolingWithArgmax2D(pool, stride, padding, data_format=CL)
    values, indices = layer(x)
    assert keras.backend.standardize_dtype(indices.dtype) == "int32"
    np.testing.assert_array_equal(to_numpy(values), FIXTURES[key + "_values"])
    np.testing.assert_array_equal(to_numpy(indices), FIXTURES[key + "_indices"])
    # The generic kernel too (the layer may have used a fast path; eager
    # generic calls are slow on JAX, so on the overlapping configs only).
    if (pool, stride) != (3, 2):
        return
    v, i = generic.max_pool_with_argmax2d.generic(
        ops.convert_to_tensor(x), (pool, pool), (stride, stride), padding, CL
    )
    np.testing.assert_array_equal(to_numpy(v), FIXTURES[key + "_values"])
    np.testing.assert_array_equal(to_numpy(i), FIXTURES[key + "_indices"])


@pytest.mark.parametrize("size,pool,stride,padding", CONFIGS)
def test_channels_first_indices_as_spec(size, pool, stride, padding):
    key = make_fixtures.key(size, pool, stride, padding)
    x = FIXTURES[f"{size}_x"]
    _, h, w, c = x.shape
    values, indices = kcl.ops.max_pool_with_argmax2d(
        np.moveaxis(x, -1, 1), pool, stride, padding, data_format=CF
    )
    expected_idx = reference.cl_to_cf_index(FIXTURES[key + "_indices"], h, w, c)
    np.testing.assert_array_equal(to_numpy(values), np.moveaxis(FIXTURES[key + "_values"], -1, 1))
    np.testing.assert_array_equal(to_numpy(indices), np.moveaxis(expected_idx, -1, 1))
    # Indices address the example's own flattened channels_first tensor.
    flat = np.moveaxis(x, -1, 1).reshape(x.shape[0], -1)
    gathered = np.take_along_axis(flat, to_numpy(indices).reshape(x.shape[0], -1), 1)
    np.testing.assert_array_equal(gathered.reshape(to_numpy(values).shape), to_numpy(values))


@pytest.mark.parametrize("fmt", [CL, CF])
def test_ties_go_to_lowest_index(fmt):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=(2, 6, 5, 3)).astype("float32")
    x[0] = 1.0  # Every window of example 0 is one big tie.
    if fmt == CF:
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    for k, s, pad in [(2, 2, "same"), (3, 1, "same"), (3, 2, "valid")]:
        values, indices = kcl.ops.max_pool_with_argmax2d(x, k, s, pad, data_format=fmt)
        ref_v, ref_i = reference.max_pool_with_argmax(x, k, s, pad, fmt)
        np.testing.assert_array_equal(to_numpy(values), ref_v)
        np.testing.assert_array_equal(to_numpy(indices), ref_i)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_values_and_shape_equal_max_pooling2d(padding):
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype("float32")
    ours, _ = kcl.MaxPoolingWithArgmax2D(3, 2, padding, data_format=CL)(x)
    keras_out = keras.layers.MaxPooling2D(3, 2, padding, data_format=CL)(x)
    np.testing.assert_array_equal(to_numpy(ours), to_numpy(keras_out))
    layer = kcl.MaxPoolingWithArgmax2D(3, 2, padding, data_format=CL)
    assert layer.compute_output_shape((None, 7, 6, 3))[0] == tuple(
        keras.layers.MaxPooling2D(3, 2, padding, data_format=CL).compute_output_shape(
            (None, 7, 6, 3)
        )
    )


@pytest.mark.parametrize("fmt", [CL, CF])
def test_gradient_goes_to_argmax_like_max_pooling2d(fmt):
    rng = np.random.default_rng(1)
    x = rng.permutation(2 * 5 * 5 * 2).astype("float32").reshape(2, 5, 5, 2) / 10.0
    if fmt == CF:
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))

    def ours(t):
        return ops.sum(kcl.ops.max_pool_with_argmax2d(t, 3, 2, "same", data_format=fmt)[0] ** 2)

    def theirs(t):
        return ops.sum(keras.layers.MaxPooling2D(3, 2, "same", data_format=fmt)(t) ** 2)

    _, (g1,) = value_and_grads(ours, x)
    _, (g2,) = value_and_grads(theirs, x)
    np.testing.assert_allclose(g1, g2, rtol=1e-6, atol=1e-6)


def test_gradient_on_ties_goes_to_lowest_index():
    x = np.ones((1, 4, 4, 1), "float32")
    _, (g,) = value_and_grads(
        lambda t: ops.sum(kcl.ops.max_pool_with_argmax2d(t, 2, 2, data_format=CL)[0]), x
    )
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0
    np.testing.assert_array_equal(g[0, :, :, 0], expected)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.permutation(1 * 4 * 5 * 2).astype("float64").reshape(1, 4, 5, 2) / 7.0
    w = rng.normal(size=(1, 2, 3, 2))

    def f(t):
        values, _ = kcl.ops.max_pool_with_argmax2d(t, 3, 2, "same", data_format=CL)
        return ops.sum(values * ops.convert_to_tensor(w.astype("float32")))

    _, (g,) = value_and_grads(f, x)
    eps = 1e-2
    numeric = np.zeros_like(x)
    for pos in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[pos] = eps
        plus = float(to_numpy(f(ops.convert_to_tensor((x + d).astype("float32")))))
        minus = float(to_numpy(f(ops.convert_to_tensor((x - d).astype("float32")))))
        numeric[pos] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(g, numeric, atol=1e-3)


@pytest.mark.parametrize("fmt", [CL, CF])
def test_fast_path_gradient_equals_generic(fmt):
    fast = pooling_kernels.max_pool_with_argmax2d.implementation()
    if fast is None:
        pytest.skip(f"no fast path on {keras.backend.backend()}")
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, size=(2, 5, 6, 3)).astype("float32")  # with ties
    if fmt == CF:
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    for k, s, pad in [(2, 2, "same"), (3, 1, "same"), (3, 2, "valid")]:
        if fast(ops.convert_to_tensor(x), (k, k), (s, s), pad, fmt) is NotImplemented:
            continue

        def g(kernel, k=k, s=s, pad=pad):
            return lambda t: ops.sum(ops.square(kernel(t, (k, k), (s, s), pad, fmt)[0]))

        _, (g_fast,) = value_and_grads(g(fast), x)
        _, (g_gen,) = value_and_grads(g(generic.max_pool_with_argmax2d.generic), x)
        np.testing.assert_allclose(g_fast, g_gen, rtol=1e-6)


def test_mixed_precision_outputs():
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 2)).astype("float32")
    values, indices = kcl.MaxPoolingWithArgmax2D(2, data_format=CL, dtype="mixed_float16")(x)
    assert keras.backend.standardize_dtype(values.dtype) == "float16"
    assert keras.backend.standardize_dtype(indices.dtype) == "int32"
    _, ref_i = reference.max_pool_with_argmax(x.astype("float16"), 2, 2, "same")
    np.testing.assert_array_equal(to_numpy(indices), ref_i)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(pool_size=0), "pool_size"),
        (dict(pool_size=(2, 2, 2)), "pool_size"),
        (dict(strides=0), "strides"),
        (dict(padding="full"), "padding"),
        (dict(data_format="nhwc"), "data_format"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcl.MaxPoolingWithArgmax2D(**kwargs)
    with pytest.raises(ValueError, match=match):
        kcl.ops.max_pool_with_argmax2d(np.zeros((1, 4, 4, 1), "float32"), **kwargs)


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="MaxPoolingWithArgmax2D.*rank 4"):
        kcl.MaxPoolingWithArgmax2D(data_format=CL)(np.zeros((1, 4, 4), "float32"))
    with pytest.raises(ValueError, match="zero or negative.*pool_size=\\(3, 3\\)"):
        kcl.MaxPoolingWithArgmax2D(3, padding="valid", data_format=CL)(
            np.zeros((1, 2, 4, 1), "float32")
        )
    with pytest.raises(ValueError, match="4-D"):
        kcl.ops.max_pool_with_argmax2d(np.zeros((4, 4), "float32"))


def test_fixture_file_is_checked_in():
    assert os.path.getsize(make_fixtures.PATH) < 64_000
    assert len(FIXTURES.files) == len(make_fixtures.SIZES) + 2 * len(CONFIGS)
