"""Tests of kcl.Split (SPEC "Normalization and utility layers")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.harness import to_numpy


def rand(*shape):
    return np.random.randn(*shape).astype("float32")


@pytest.mark.parametrize(
    "num_or_size_splits, axis, shape",
    [
        (2, -1, (2, 3, 6)),
        (3, 1, (2, 6, 4)),
        ([1, 2, 3], -1, (2, 4, 6)),
        ([3, 1], 2, (2, 3, 4, 5)),
        ([4], -1, (2, 4)),
        (1, 1, (2, 3)),
    ],
    ids=["2-parts", "3-parts-axis1", "sizes-1-2-3", "sizes-axis2", "one-size", "one-part"],
)
def test_matches_numpy_split(num_or_size_splits, axis, shape):
    x = rand(*shape)
    layer = kcl.Split(num_or_size_splits, axis=axis)
    outputs = layer(x)
    assert isinstance(outputs, (list, tuple))
    if isinstance(num_or_size_splits, int):
        expected = np.split(x, num_or_size_splits, axis=axis)
    else:
        expected = np.split(x, np.cumsum(num_or_size_splits)[:-1], axis=axis)
    assert len(outputs) == len(expected)
    for out, exp in zip(outputs, expected):
        np.testing.assert_array_equal(to_numpy(out), exp)
    assert [tuple(s) for s in layer.compute_output_shape(x.shape)] == [e.shape for e in expected]


def test_in_functional_model_with_unknown_batch():
    inputs = keras.Input((3, 5))
    a, b = kcl.Split([2, 3])(inputs)
    model = keras.Model(inputs, [a, b])
    x = rand(4, 3, 5)
    ya, yb = model(x)
    np.testing.assert_array_equal(to_numpy(ya), x[..., :2])
    np.testing.assert_array_equal(to_numpy(yb), x[..., 2:])
    assert tuple(a.shape) == (None, 3, 2)


@pytest.mark.parametrize("bad", [0, -1, [], [2, 0], [1, -1], "ab", None, True])
def test_bad_num_or_size_splits(bad):
    with pytest.raises(ValueError, match="num_or_size_splits"):
        kcl.Split(bad)


@pytest.mark.parametrize(
    "num_or_size_splits, axis, shape",
    [(4, -1, (2, 6)), ([2, 3], -1, (2, 6)), (2, 0, (4, 6)), (2, 3, (2, 6)), (2, -3, (2, 6))],
)
def test_incompatible_input_raises_value_error(num_or_size_splits, axis, shape):
    layer = kcl.Split(num_or_size_splits, axis=axis)
    with pytest.raises(ValueError, match="Split"):
        layer(rand(*shape))
