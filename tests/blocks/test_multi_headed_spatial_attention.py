"""Math and property tests of kcl.MultiHeadedSpatialAttention (SPEC "Blocks")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers.ops import attention as attention_ops
from tests.blocks import reference as ref
from tests.gradients import assert_all_finite, layer_value_and_grads
from tests.harness import to_numpy

TOL = dict(rtol=1e-4, atol=1e-5)

CONFIGS = [
    dict(filters=4, kernel_size=3, heads=2),
    dict(filters=6, kernel_size=(3, 2), heads=3, dilation_rate=(1, 2)),
    dict(filters=4, kernel_size=5, heads=1, dilation_rate=2),
]


def _make(position, path, data_format="channels_last", **config):
    layer = kcl.MultiHeadedSpatialAttention(position=position, data_format=data_format, **config)
    # Both routes implement the same definition; None: chosen from the sizes.
    layer._route = path
    return layer


def _randomize(layer, rng):
    weights = {}
    for w in layer.weights:
        value = rng.normal(scale=0.7, size=w.shape).astype("float32")
        w.assign(value)
        weights[w.path.split("/")[-1]] = value.astype("float64")
    return weights


def _reference(x, layer, weights):
    return ref.spatial_attention(
        x.astype("float64"),
        weights,
        layer.filters,
        layer.kernel_size,
        layer.heads,
        layer.dilation_rate,
        layer.position,
    )


@pytest.mark.parametrize("position", ["gaussian", "learned", None])
@pytest.mark.parametrize("config", CONFIGS, ids=["k3h2", "k3x2h3dil", "k5dil2"])
def test_matches_per_pixel_reference(config, position):
    if position == "learned" and (config["filters"] // config["heads"]) % 2:
        pytest.skip("learned embeddings need an even number of channels per head")
    rng = np.random.default_rng(0)
    layer = _make(position, None, **config)
    x = rng.normal(size=(1, 5, 7, 6)).astype("float32")
    layer(x)
    expected = _reference(x, layer, _randomize(layer, rng))
    for path in ("direct", "blocked"):
        layer._route = path
        np.testing.assert_allclose(to_numpy(layer(x)), expected, err_msg=path, **TOL)


@pytest.mark.parametrize("path", ["direct", "blocked"])
def test_channels_first_matches_channels_last(path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 9, 4)).astype("float32")
    last = _make("learned", path, filters=8, kernel_size=3, heads=2)
    first = _make("learned", path, "channels_first", filters=8, kernel_size=3, heads=2)
    last(x)
    first(np.moveaxis(x, -1, 1))
    _randomize(last, rng)
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(
        to_numpy(first(np.moveaxis(x, -1, 1))), np.moveaxis(to_numpy(last(x)), -1, 1), **TOL
    )


def test_paths_agree_and_blocked_is_chosen_when_it_fits():
    rng = np.random.default_rng(2)
    # 1×1: one padded block's logits (heads · halo² each) exceed the budget.
    assert attention_ops.use_blocks(16, 16, (3, 3), (1, 1), 2, 32)
    assert not attention_ops.use_blocks(1, 1, (3, 3), (1, 1), 2, 32)
    layer = kcl.MultiHeadedSpatialAttention(32, 3, heads=2, data_format="channels_last")
    x = rng.normal(size=(1, 16, 13, 4)).astype("float32")
    layer(x)
    _randomize(layer, rng)
    outputs = {}
    for path in ("blocked", "direct"):
        layer._route = path
        outputs[path] = to_numpy(layer(x))
    np.testing.assert_allclose(outputs["blocked"], outputs["direct"], **TOL)


@pytest.mark.parametrize("path", ["direct", "blocked"])
def test_locality(path):
    """Changing the input outside a pixel's window leaves its output unchanged."""
    rng = np.random.default_rng(3)
    layer = _make("gaussian", path, filters=4, kernel_size=3, heads=2, dilation_rate=2)
    x = rng.normal(size=(1, 9, 9, 4)).astype("float32")
    layer(x)
    _randomize(layer, rng)
    y = to_numpy(layer(x))
    window = {(4 + dy, 4 + dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)}
    x2 = x.copy()
    for r in range(9):
        for c in range(9):
            if (r, c) not in window:
                x2[0, r, c] = rng.normal(size=4) * 10
    y2 = to_numpy(layer(x2))
    np.testing.assert_allclose(y2[0, 4, 4], y[0, 4, 4], rtol=1e-5, atol=1e-6)
    # A change inside the window (not the centre) does change it.
    x3 = x.copy()
    x3[0, 2, 6] += 5.0
    assert np.abs(to_numpy(layer(x3))[0, 4, 4] - y[0, 4, 4]).max() > 1e-3


def test_border_positions_are_excluded():
    """At a corner only the in-image window positions get weight: with equal
    keys the output is the mean of the in-image values (here 4 of 9)."""
    layer = _make(None, None, filters=1, kernel_size=3, use_bias=False)
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    layer(x)
    layer.query_kernel.assign(np.zeros((1, 1, 1, 1), "float32"))
    layer.key_kernel.assign(np.zeros((1, 1, 1, 1), "float32"))
    layer.value_kernel.assign(np.ones((1, 1, 1, 1), "float32"))
    y = to_numpy(layer(x))[0, :, :, 0]
    np.testing.assert_allclose(y[0, 0], np.mean([0, 1, 4, 5]), rtol=1e-6)
    np.testing.assert_allclose(y[1, 1], np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]), rtol=1e-6)


@pytest.mark.parametrize("path", ["direct", "blocked"])
@pytest.mark.parametrize("situation", ["constant_input", "zero_kernels", "large_logits"])
def test_finite_values_and_gradients(path, situation):
    layer = _make("learned", path, filters=4, kernel_size=3, heads=2)
    x = np.random.default_rng(4).normal(size=(2, 5, 6, 4)).astype("float32")
    layer(x)
    if situation == "constant_input":
        x = np.ones_like(x)
    elif situation == "zero_kernels":
        for w in layer.weights:
            w.assign(np.zeros(w.shape, "float32"))
    else:
        for w in (layer.query_kernel, layer.key_kernel):
            w.assign(np.full(w.shape, 30.0, "float32"))
        x = x * 50
    y, value, g_x, g_w = layer_value_and_grads(layer, x)
    assert_all_finite(y, value, g_x, g_w)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="filters"):
        kcl.MultiHeadedSpatialAttention(6, 3, heads=4)
    with pytest.raises(ValueError, match="position"):
        kcl.MultiHeadedSpatialAttention(4, 3, position="sinusoid")
    with pytest.raises(ValueError, match="position"):
        kcl.MultiHeadedSpatialAttention(6, 3, heads=2, position="learned")
    with pytest.raises(ValueError, match="kernel_size"):
        kcl.MultiHeadedSpatialAttention(4, 0)
    layer = kcl.MultiHeadedSpatialAttention(4, 3, heads=2, data_format="channels_last")
    with pytest.raises(ValueError, match=r"MultiHeadedSpatialAttention.*heads"):
        layer(np.zeros((1, 5, 5, 3), "float32"))
    layer = kcl.MultiHeadedSpatialAttention(4, 3, data_format="channels_last")
    with pytest.raises(ValueError, match=r"MultiHeadedSpatialAttention.*rank 4"):
        layer(np.zeros((1, 5, 3), "float32"))


def test_weights_and_config():
    layer = kcl.MultiHeadedSpatialAttention(
        8, (3, 5), heads=2, position="learned", data_format="channels_last"
    )
    layer(np.zeros((1, 4, 4, 6), "float32"))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {
        "query_kernel": (1, 1, 3, 8),
        "key_kernel": (1, 1, 3, 8),
        "value_kernel": (1, 1, 3, 8),
        "query_bias": (8,),
        "value_bias": (8,),
        "rel_rows": (2, 3, 2),
        "rel_cols": (2, 5, 2),
    }
    clone = kcl.MultiHeadedSpatialAttention.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("position", ["gaussian", "learned"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_fast_paths_give_the_generic_gradients(position, data_format):
    """The backend fast paths of the blocked path (halos, attention) give the
    generic kernels' values and gradients, with padded blocks and dilation."""
    from keras_cv_layers import backend_kernels

    layer = _make(
        position, "blocked", data_format, filters=8, kernel_size=3, heads=2, dilation_rate=(1, 2)
    )
    x = np.random.default_rng(5).normal(size=(2, 11, 9, 4)).astype("float32")
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, 1)
    layer(x)
    _randomize(layer, np.random.default_rng(6))
    fast = layer_value_and_grads(layer, x)
    backend_kernels.set_fast_paths_enabled(False)
    try:
        generic = layer_value_and_grads(layer, x)
    finally:
        backend_kernels.set_fast_paths_enabled(True)
    for a, e in zip(fast[:3], generic[:3]):
        np.testing.assert_allclose(to_numpy(a), to_numpy(e), rtol=1e-4, atol=1e-4)
    for name in generic[3]:
        np.testing.assert_allclose(
            to_numpy(fast[3][name]), to_numpy(generic[3][name]), rtol=1e-4, atol=1e-4, err_msg=name
        )


# ----------------------------------------------------- kcl.ops.local_attention2d
def _to_format(x, data_format):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if data_format == "channels_first" else x


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("position", ["gaussian", "learned", None])
@pytest.mark.parametrize("size,filters", [((5, 7), 4), ((16, 13), 32)], ids=["direct", "blocked"])
def test_layer_is_its_projections_then_the_op(size, filters, position, data_format):
    """The layer's output is `local_attention2d` of its projections, with the
    gaussian prior as `logit_bias` and the learned embeddings as `key_position`
    (same weights); the size picks the route."""
    rng = np.random.default_rng(7)
    layer = kcl.MultiHeadedSpatialAttention(
        filters, (3, 5), heads=2, dilation_rate=(2, 1), position=position, data_format=data_format
    )
    x = rng.normal(size=(2, *size, 4)).astype("float32")
    layer(_to_format(x, data_format))
    w = _randomize(layer, rng)
    route_blocked = attention_ops.use_blocks(*size, (3, 5), (2, 1), 2, filters)
    assert route_blocked == (filters == 32)
    q, k, v = (
        _to_format(ref.grouped_projection(x, w[f"{n}_kernel"], 2, w.get(f"{n}_bias")), data_format)
        for n in ("query", "key", "value")
    )
    kwargs = {}
    if position == "gaussian":
        kwargs["logit_bias"] = ref.gaussian_bias((3, 5), (2, 1)).astype("float32")
    elif position == "learned":
        p = ref.relative_embeddings(w["rel_rows"], w["rel_cols"])
        kwargs["key_position"] = p.astype("float32")
    y = kcl.ops.local_attention2d(
        q.astype("float32"),
        k.astype("float32"),
        v.astype("float32"),
        (3, 5),
        heads=2,
        dilation_rate=(2, 1),
        data_format=data_format,
        **kwargs,
    )
    np.testing.assert_allclose(to_numpy(y), to_numpy(layer(_to_format(x, data_format))), **TOL)


def _op_inputs(rng, dv):
    q, k = (rng.normal(size=(2, 6, 7, 2 * 4)).astype("float32") for _ in range(2))
    v = rng.normal(size=(2, 6, 7, 2 * dv)).astype("float32")
    bias = rng.normal(size=(2, 3, 3)).astype("float32")
    positions = rng.normal(scale=0.5, size=(2, 3, 3, 4)).astype("float32")
    return q, k, v, bias, positions


@pytest.mark.parametrize("route", ["direct", "blocked"])
@pytest.mark.parametrize("shared_bias", [False, True])
def test_attention_routes_match_numpy_reference(route, shared_bias):
    """Per-head and shared logit biases with key positions, dilated, on both
    routes of the op's computation (the per-head bias takes the generic
    blocked kernel)."""
    q, k, v, bias, positions = _op_inputs(np.random.default_rng(8), 4)
    if shared_bias:
        bias = bias[0]
    expected = ref.local_attention(q, k, v, (3, 3), 2, (1, 2), bias, positions)
    split = [attention_ops.split_heads(t, 2, "channels_last") for t in (q, k, v)]
    y = attention_ops.attend(*split, (3, 3), (1, 2), bias, positions, "channels_last", route=route)
    np.testing.assert_allclose(to_numpy(y), expected, **TOL)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_op_with_other_value_depth_matches_numpy_reference(data_format):
    q, k, v, bias, positions = _op_inputs(np.random.default_rng(9), 3)
    expected = ref.local_attention(q, k, v, (3, 3), 2, (1, 1), bias, positions)
    y = kcl.ops.local_attention2d(
        *(_to_format(t, data_format) for t in (q, k, v)),
        3,
        heads=2,
        logit_bias=bias,
        key_position=positions,
        data_format=data_format,
    )
    assert tuple(y.shape) == tuple(_to_format(expected, data_format).shape)
    np.testing.assert_allclose(to_numpy(y), _to_format(expected, data_format), **TOL)


def test_op_excludes_keys_outside_the_image_without_nan():
    """Huge logits and a large negative bias: finite outputs, and each pixel
    of a constant-key map averages the in-image values of its window."""
    rng = np.random.default_rng(10)
    v = rng.normal(size=(1, 4, 5, 2)).astype("float32")
    zeros = np.zeros_like(v)
    y = to_numpy(kcl.ops.local_attention2d(zeros, zeros, v, 3, data_format="channels_last"))
    np.testing.assert_allclose(y[0, 0, 0], v[0, :2, :2].mean((0, 1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[0, 3, 2], v[0, 2:4, 1:4].mean((0, 1)), rtol=1e-5, atol=1e-6)
    big = rng.normal(size=(1, 4, 5, 2)).astype("float32") * 1e4
    bias = np.full((3, 3), -1e30, "float32")
    y = to_numpy(
        kcl.ops.local_attention2d(big, big, v, 3, logit_bias=bias, data_format="channels_last")
    )
    assert np.all(np.isfinite(y))


def test_op_shape_errors_name_the_op_and_argument():
    cl = "channels_last"
    q = keras.Input((6, 6, 8))
    with pytest.raises(ValueError, match=r"local_attention2d: `query`.*heads"):
        kcl.ops.local_attention2d(q, q, q, 3, heads=3, data_format=cl)
    with pytest.raises(ValueError, match=r"local_attention2d: `key`"):
        kcl.ops.local_attention2d(q, keras.Input((6, 5, 8)), q, 3, heads=2, data_format=cl)
    with pytest.raises(ValueError, match=r"local_attention2d: `value`"):
        kcl.ops.local_attention2d(q, q, keras.Input((5, 6, 8)), 3, heads=2, data_format=cl)
    with pytest.raises(ValueError, match=r"local_attention2d: `logit_bias`"):
        kcl.ops.local_attention2d(
            q, q, q, 3, heads=2, logit_bias=np.zeros((9,), "float32"), data_format=cl
        )
    with pytest.raises(ValueError, match=r"local_attention2d: `key_position`"):
        kcl.ops.local_attention2d(
            q, q, q, 3, heads=2, key_position=np.zeros((2, 3, 3, 8), "float32"), data_format=cl
        )
    with pytest.raises(ValueError, match=r"local_attention2d.*kernel_size"):
        kcl.ops.local_attention2d(q, q, q, 0, data_format=cl)
    y = kcl.ops.local_attention2d(q, q, keras.Input((6, 6, 6)), 3, heads=2, data_format=cl)
    assert tuple(y.shape) == (None, 6, 6, 6)


@pytest.mark.parametrize("path", ["direct", "blocked"])
@pytest.mark.parametrize("position", ["gaussian", "learned"])
def test_mixed_float16_large_inputs_give_finite_values_and_gradients(path, position):
    """Under mixed_float16, inputs of magnitude ~100 make q·k reach ~2e5,
    beyond float16 (65504): the logits and softmax are computed in float32,
    the output is float16 and finite, and so are the gradients (of a loss
    scaled down as a loss-scale optimizer would: this layer's float32 weight
    gradients are ~1e5 times the loss scale, more than float16 holds)."""
    layer = _make(position, path, filters=4, kernel_size=3, heads=2, dtype="mixed_float16")
    x = (100.0 * np.random.default_rng(8).random((2, 8, 8, 4))).astype("float32")
    layer(x)
    for w in (layer.query_kernel, layer.key_kernel):
        w.assign(np.full(w.shape, 2.0, "float32"))
    assert keras.backend.standardize_dtype(layer(x).dtype) == "float16"

    def loss(y):
        return 1e-2 * keras.ops.mean(keras.ops.cast(y, "float32"))

    y, value, g_x, g_w = layer_value_and_grads(layer, x, loss=loss)
    assert_all_finite(y, value, g_x, g_w)
