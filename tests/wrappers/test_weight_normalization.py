"""WeightNormalization: the effective kernel against numpy (output-channel
axes of Dense, ConvTranspose and depthwise kernels), gradients to `g` and
`v`, the initial output, the data-dependent initialisation (once, also in a
jit-compiled `fit`, saved and reloaded) and the argument errors."""

import os

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.gradients import layer_value_and_grads
from tests.harness import assert_close, to_numpy

CL, CF = "channels_last", "channels_first"
EPS = 1e-6


def reference_kernel(v, g, norm_axes, eps=EPS):
    """`g · v / sqrt(sum(v²) + eps)`, the sum over `norm_axes`; `g` flat,
    laid out over the other axes in row-major order."""
    v = v.astype("float64")
    gain_shape = [1 if a in norm_axes else d for a, d in enumerate(v.shape)]
    norm = np.sqrt(np.sum(v**2, axis=tuple(norm_axes), keepdims=True) + eps)
    return (g.astype("float64").reshape(gain_shape) * v / norm).astype("float32")


# (id, factory of the wrapped layer, input shape, kernel axes of the norm)
LAYERS = [
    ("dense", lambda: keras.layers.Dense(3), (2, 5), (0,)),
    (
        "conv2d_transpose",
        lambda: keras.layers.Conv2DTranspose(3, 3, strides=2, data_format=CL),
        (2, 4, 4, 2),
        (0, 1, 3),
    ),
    (
        "keras_depthwise",
        lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2, data_format=CL),
        (2, 5, 5, 2),
        (0, 1),
    ),
    (
        "kcl_depthwise_channels_first",
        lambda: kcl.DepthwiseConv2D(3, depth_multiplier=2, use_bias=True, data_format=CF),
        (2, 2, 5, 5),
        (0, 1),
    ),
]


@pytest.mark.parametrize(
    "make, shape, norm_axes", [c[1:] for c in LAYERS], ids=[c[0] for c in LAYERS]
)
def test_effective_kernel_matches_numpy_and_gradients_reach_g_and_v(make, shape, norm_axes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")
    layer = kcl.WeightNormalization(make())
    y0 = layer(x)
    v = to_numpy(layer.v)
    assert layer.v.name == "v" and layer.g.name == "g"
    assert layer.layer.kernel is layer.v
    units = int(np.prod([d for a, d in enumerate(v.shape) if a not in norm_axes]))
    assert tuple(layer.g.shape) == (units,)

    # An unwrapped twin computing with a given kernel and the same bias.
    twin = make()
    twin(x)
    if layer.layer.bias is not None:
        twin.bias.assign(to_numpy(layer.layer.bias) + 0.0)

    # Initially the effective kernel is the raw one: the same output.
    twin.kernel.assign(v)
    assert_close(y0, twin(x), atol=1e-5)

    # Another g: the output is the twin's with the numpy kernel, so `g` is
    # laid out as the reference says (c·M + m for depthwise, axis -2 for
    # the transposed convolution).
    g = rng.uniform(0.5, 2.0, size=(units,)).astype("float32")
    layer.g.assign(g)
    twin.kernel.assign(reference_kernel(v, g, norm_axes))
    assert_close(layer(x), twin(x), atol=1e-5)

    _, _, _, grads = layer_value_and_grads(layer, x)
    by_name = {path.split("/")[-1]: grad for path, grad in grads.items()}
    for name in ("g", "v"):
        assert by_name[name] is not None and np.all(np.isfinite(by_name[name]))
        assert np.abs(by_name[name]).max() > 1e-6, f"no gradient reaches {name}"


def _effective(layer):
    """(effective kernel, effective bias) of a built wrapper, numpy."""
    g = to_numpy(layer.g)
    bias = to_numpy(layer.layer.bias) if layer.layer.bias is not None else None
    if layer.data_init:
        g = g + to_numpy(layer.g_offset)
        if bias is not None:
            bias = bias + to_numpy(layer.bias_offset)
    return reference_kernel(to_numpy(layer.v), g, layer._norm_axes), bias


def _dense_pre_activations(layer, x):
    kernel, bias = _effective(layer)
    return x @ kernel + bias


def _assert_standardized(t, axis, tol=1e-3):
    axes = tuple(a for a in range(t.ndim) if a != axis % t.ndim)
    np.testing.assert_allclose(t.mean(axis=axes), 0.0, atol=tol)
    np.testing.assert_allclose(t.var(axis=axes), 1.0, atol=tol)


def test_data_init_standardizes_the_first_training_batch_once():
    rng = np.random.default_rng(1)
    x1 = (rng.normal(size=(16, 5)) * 3 + 1).astype("float32")
    x2 = (rng.normal(size=(16, 5)) * 0.5 - 2).astype("float32")
    layer = kcl.WeightNormalization(keras.layers.Dense(4, activation="relu"), data_init=True)
    # Inference calls do not initialise.
    before = to_numpy(layer(x1, training=False))
    assert float(to_numpy(layer.initialized)) == 0.0
    y = to_numpy(layer(x1, training=True))
    assert float(to_numpy(layer.initialized)) == 1.0
    t = _dense_pre_activations(layer, x1)
    _assert_standardized(t, -1)
    # The output is the activation of those pre-activations (the forward
    # pass of the init call already uses the new values).
    np.testing.assert_allclose(y, np.maximum(t, 0.0), atol=1e-4)
    assert not np.allclose(y, before)
    # Once: another training batch changes nothing.
    kernel, bias = _effective(layer)
    layer(x2, training=True)
    kernel2, bias2 = _effective(layer)
    np.testing.assert_array_equal(kernel2, kernel)
    np.testing.assert_array_equal(bias2, bias)


def test_data_init_depthwise_channels_first():
    """Per-channel statistics on axis 1, one channel per (c, m) pair."""
    x = np.random.default_rng(2).normal(size=(4, 2, 6, 6)).astype("float32") * 2
    inner = kcl.DepthwiseConv2D(3, depth_multiplier=2, use_bias=True, data_format=CF)
    layer = kcl.WeightNormalization(inner, data_init=True)
    layer(x, training=True)
    kernel, bias = _effective(layer)
    twin = kcl.DepthwiseConv2D(3, depth_multiplier=2, use_bias=True, data_format=CF)
    twin(x)
    twin.kernel.assign(kernel)
    twin.bias.assign(bias)
    _assert_standardized(to_numpy(twin(x)), 1)


def test_data_init_once_in_fit_and_survives_save_load(tmp_path):
    rng = np.random.default_rng(3)
    batch1 = (rng.normal(size=(4, 5, 5, 2)) * 2 + 1).astype("float32")
    batch2 = (rng.normal(size=(4, 5, 5, 2)) * 0.3 - 1).astype("float32")
    x = np.concatenate([batch1, batch2])
    inner = keras.layers.Conv2D(3, 3, activation="relu", data_format=CL)
    wrapper = kcl.WeightNormalization(inner, data_init=True)
    inputs = keras.Input((5, 5, 2))
    model = keras.Model(inputs, wrapper(inputs))
    # lr 0: only the initialisation changes the weights.
    jit = keras.backend.backend() in ("jax", "tensorflow")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", jit_compile=jit)
    model.fit(x, np.zeros((8, 3, 3, 3), "float32"), batch_size=4, shuffle=False, verbose=0)
    assert float(to_numpy(wrapper.initialized)) == 1.0

    def pre_activations(layer, batch):
        kernel, bias = _effective(layer)
        twin = keras.layers.Conv2D(3, 3, data_format=CL)
        twin(batch)
        twin.kernel.assign(kernel)
        twin.bias.assign(bias)
        return to_numpy(twin(batch))

    _assert_standardized(pre_activations(wrapper, batch1), -1)
    # Not again on the second batch.
    t2 = pre_activations(wrapper, batch2)
    assert (
        np.abs(t2.mean(axis=(0, 1, 2))).max() > 0.05
        or np.abs(t2.var(axis=(0, 1, 2)) - 1).max() > 0.05
    )

    path = os.path.join(str(tmp_path), "wn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    saved = {w.path: to_numpy(w) for w in model.weights}
    assert {w.path for w in loaded.weights} == set(saved)
    for w in loaded.weights:
        np.testing.assert_array_equal(to_numpy(w), saved[w.path], err_msg=w.path)
    assert_close(loaded(batch2), model(batch2))
    # The reloaded flag prevents a second initialisation.
    loaded.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", jit_compile=jit)
    loaded.fit(batch2, np.zeros((4, 3, 3, 3), "float32"), verbose=0)
    reloaded = loaded.layers[-1]
    for a, b in zip(_effective(reloaded), _effective(wrapper)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_config_round_trip_keeps_arguments():
    layer = kcl.WeightNormalization(keras.layers.Dense(2), data_init=True, eps=1e-4)
    layer(np.ones((1, 3), "float32"))
    clone = kcl.WeightNormalization.from_config(layer.get_config())
    assert (clone.data_init, clone.eps) == (True, 1e-4)
    assert isinstance(clone.layer, keras.layers.Dense) and not clone.layer.built


@pytest.mark.parametrize(
    "make",
    [
        lambda: keras.layers.Activation("relu"),
        lambda: keras.layers.SeparableConv2D(2, 3, data_format=CL),
    ],
    ids=["activation", "separable_conv"],
)
def test_layer_without_kernel_is_a_value_error(make):
    # At construction (a layer without weights is built from the start) or
    # at the first call.
    with pytest.raises(ValueError, match="no `kernel`"):
        kcl.WeightNormalization(make())(np.ones((1, 5, 5, 2), "float32"))


def test_argument_errors():
    with pytest.raises(ValueError, match="`layer`"):
        kcl.WeightNormalization("dense")
    built = keras.layers.Dense(2)
    built.build((None, 3))
    with pytest.raises(ValueError, match="already built"):
        kcl.WeightNormalization(built)
    with pytest.raises(ValueError, match="weightnorm"):
        kcl.WeightNormalization(kcl.Conv2D(2, 3, weightnorm=True))
    with pytest.raises(ValueError, match="kernel transform"):
        kcl.WeightNormalization(kcl.WSConv2D(2, 3))
    with pytest.raises(ValueError, match="data_init"):
        kcl.WeightNormalization(keras.layers.Dense(2), data_init=1)
    with pytest.raises(ValueError, match="eps"):
        kcl.WeightNormalization(keras.layers.Dense(2), eps=0.0)
