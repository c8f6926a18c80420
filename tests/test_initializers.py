"""Tests of `kcl.initializers` and of the equalized-learning-rate default
kernel initializer (SPEC "Additions (second release)")."""

import doctest
import math

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers import initializers as kinit
from tests.harness import to_numpy

SHAPE = (3, 3, 64, 256)  # 147456 values: the std is known to ~0.2 %
HE_STD = math.sqrt(2.0 / (3 * 3 * 64))


def _truncated_unit_normal_std(bound):
    """Std of N(0, 1) conditioned on |x| <= bound (0.87963 for bound 2)."""
    pdf = math.exp(-0.5 * bound**2) / math.sqrt(2 * math.pi)
    mass = math.erf(bound / math.sqrt(2))
    return math.sqrt(1 - 2 * bound * pdf / mass)


def _clipped_unit_normal_std(bound):
    """Std of N(0, 1) clipped to [-bound, bound] (0.99750 for bound 3)."""
    pdf = math.exp(-0.5 * bound**2) / math.sqrt(2 * math.pi)
    tail = 1 - math.erf(bound / math.sqrt(2))
    return math.sqrt(1 - 2 * bound * pdf - tail + bound**2 * tail)


def _values(init, shape=SHAPE, dtype=None):
    return to_numpy(keras.ops.cast(init(shape, dtype=dtype), "float32")).astype(np.float64)


def _assert_stats(w, std, bound):
    """Mean 0 and standard deviation `std` within 5 standard errors, all
    values within `bound`."""
    n = w.size
    assert abs(w.mean()) < 5 * std / math.sqrt(n), w.mean()
    # The std of a sample std is <= ~std / sqrt(2n) * 1.2 for these shapes.
    assert abs(w.std() / std - 1) < 5 * 1.2 / math.sqrt(2 * n), (w.std(), std)
    assert np.abs(w).max() <= bound * (1 + 1e-6)


@pytest.mark.parametrize(
    "init, std, bound",
    [
        (kinit.ConvHeNormal(seed=1), HE_STD, 2 * HE_STD / _truncated_unit_normal_std(2)),
        (kinit.ConvHeUniform(seed=1), HE_STD, math.sqrt(3) * HE_STD),
        (kinit.NormalInit(seed=1), _clipped_unit_normal_std(3), 3.0),
        (kinit.UniformInit(seed=1), 1.0, math.sqrt(3)),
    ],
    ids=["ConvHeNormal", "ConvHeUniform", "NormalInit", "UniformInit"],
)
def test_mean_std_and_range(init, std, bound):
    """Each initializer has the documented mean, std and range (std
    tolerance ~0.6 %: He's sqrt(2 / 576) is told from Glorot's
    sqrt(2 / 832), a NormalInit truncated by resampling (0.9866) from one
    clipped (0.9975))."""
    _assert_stats(_values(init), std, bound)


def test_stat_check_can_fail():
    with pytest.raises(AssertionError):  # a normal resampled at +-3: std 0.9866
        _assert_stats(_values(kinit.NormalInit(seed=1)), _truncated_unit_normal_std(3), 3.0)
    with pytest.raises(AssertionError):  # Keras' Glorot is not He
        _assert_stats(_values(keras.initializers.GlorotNormal(seed=1)), HE_STD, 1.0)
    with pytest.raises(AssertionError):  # an unclipped unit normal exceeds 3
        _assert_stats(_values(keras.initializers.RandomNormal(stddev=1.0, seed=1)), 1.0, 3.0)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_normal_init_never_exceeds_3(dtype):
    w = _values(kinit.NormalInit(seed=2), (1000, 1000), dtype)
    assert np.abs(w).max() <= 3.0
    # The tails are those of N(0, 1) (not a narrower distribution): P(|x| > 2)
    # = 4.55 %, and the 0.27 % beyond 3 are clipped to +-3.
    assert (np.abs(w) > 2.0).mean() == pytest.approx(0.0455, abs=1.5e-3)
    if dtype == "float32":
        assert (np.abs(w) == 3.0).mean() == pytest.approx(0.0027, abs=4e-4)


def _check_depthwise_std(init, kernel_size=(3, 3), channels=256, multiplier=4):
    """std(init(depthwise kernel)) == sqrt(2 / (kh * kw)) within 2 %."""
    w = _values(init, (*kernel_size, channels, multiplier))
    want = math.sqrt(2.0 / math.prod(kernel_size))
    assert w.std() == pytest.approx(want, rel=0.02), (w.std(), want)


@pytest.mark.parametrize("cls", [kinit.ConvHeNormal, kinit.ConvHeUniform])
def test_depthwise_fan_in_is_kernel_size(cls):
    _check_depthwise_std(cls(depthwise=True, seed=3))
    _check_depthwise_std(cls(depthwise=True, seed=3), kernel_size=(5, 3), channels=128)
    # Without depthwise=True the fan-in counts the channels, as in Keras.
    with pytest.raises(AssertionError):
        _check_depthwise_std(cls(seed=3))


@pytest.mark.parametrize("keras_init", [keras.initializers.HeNormal, keras.initializers.HeUniform])
def test_depthwise_check_fails_with_keras_he(keras_init):
    """Keras' He initializers take fan_in = kh * kw * C for a depthwise kernel."""
    with pytest.raises(AssertionError):
        _check_depthwise_std(keras_init(seed=3))


def test_grouped_kernel_fan_in():
    """fan_in = prod(kernel_size) * in / groups: a (3, 3, 8, 256) kernel, e.g.
    of `Conv2D(256, 3, groups=4)` on 32 channels, has std sqrt(2 / 72)."""
    w = _values(kinit.ConvHeNormal(seed=4), (3, 3, 8, 256))
    assert w.std() == pytest.approx(math.sqrt(2.0 / 72), rel=0.02)
    layer = kcl.Conv2D(
        256, 3, groups=4, kernel_initializer=kinit.ConvHeNormal(seed=4), data_format="channels_last"
    )
    layer.build((None, 8, 8, 32))
    assert tuple(layer.kernel.shape) == (3, 3, 8, 256)
    k = to_numpy(layer.kernel)
    assert k.std() == pytest.approx(math.sqrt(2.0 / 72), rel=0.02)
    # Not the fan-in of the ungrouped convolution (prod(kernel_size) * in).
    assert k.std() != pytest.approx(math.sqrt(2.0 / 288), rel=0.1)


@pytest.mark.parametrize("cls_name", ["DepthwiseConv2D", "PartialDepthwiseConv2D"])
@pytest.mark.parametrize("init_cls", [kinit.ConvHeNormal, kinit.ConvHeUniform])
def test_depthwise_layer_tells_initializer(cls_name, init_cls):
    """`kcl.DepthwiseConv2D(3, kernel_initializer=ConvHeNormal())` draws its
    kernel with std sqrt(2 / 9); `get_config` keeps the initializer as given."""
    user_init = init_cls(seed=5)
    layer = getattr(kcl, cls_name)(
        3, depth_multiplier=4, kernel_initializer=user_init, data_format="channels_last"
    )
    layer.build((None, 16, 16, 256))
    k = to_numpy(layer.kernel)
    assert k.shape == (3, 3, 256, 4)
    assert k.std() == pytest.approx(math.sqrt(2.0 / 9), rel=0.02)
    assert user_init.depthwise is False  # the user's object is not changed
    assert layer.depthwise_initializer is user_init
    config = layer.get_config()["depthwise_initializer"]
    assert config["config"] == {"depthwise": False, "seed": 5}
    clone = getattr(kcl, cls_name).from_config(layer.get_config())
    clone.build((None, 16, 16, 256))
    np.testing.assert_array_equal(to_numpy(clone.kernel), k)


def test_depthwise_layer_check_can_fail():
    # Keras' own He initializer in the same layer: std sqrt(2 / (9 * 256)).
    layer = kcl.DepthwiseConv2D(
        3, depth_multiplier=4, kernel_initializer="he_normal", data_format="channels_last"
    )
    layer.build((None, 16, 16, 256))
    assert to_numpy(layer.kernel).std() == pytest.approx(math.sqrt(2.0 / (9 * 256)), rel=0.02)


ALL = [
    kinit.ConvHeNormal(seed=6),
    kinit.ConvHeNormal(depthwise=True, seed=6),
    kinit.ConvHeUniform(depthwise=True, seed=6),
    kinit.NormalInit(seed=6),
    kinit.UniformInit(seed=6),
]
ALL_IDS = ["ConvHeNormal", "ConvHeNormal-depthwise", "ConvHeUniform-depthwise", "Normal", "Uniform"]


@pytest.mark.parametrize("init", ALL, ids=ALL_IDS)
def test_serialize_round_trip(init):
    config = keras.initializers.serialize(init)
    assert config["registered_name"] == f"keras_cv_layers>{type(init).__name__}"
    clone = keras.initializers.deserialize(config)
    assert type(clone) is type(init) and clone.get_config() == init.get_config()
    np.testing.assert_array_equal(_values(clone, (3, 3, 4, 8)), _values(init, (3, 3, 4, 8)))
    assert isinstance(keras.initializers.get(config), type(init))


def test_saved_model_with_safe_mode(tmp_path):
    cl = "channels_last"
    inputs = keras.Input((8, 8, 4))
    x = kcl.Conv2D(8, 3, kernel_initializer=kinit.ConvHeUniform(seed=1), data_format=cl)(inputs)
    x = kcl.DepthwiseConv2D(3, kernel_initializer=kinit.ConvHeNormal(seed=2), data_format=cl)(x)
    x = kcl.Conv2D(4, 1, equalize=True, data_format=cl)(x)  # default NormalInit
    outputs = keras.layers.Dense(2, kernel_initializer=kinit.UniformInit(seed=3))(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "initializers.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    kinds = [
        (type(a.kernel_initializer), a.kernel_initializer.get_config()) for a in loaded.layers[1:]
    ]
    assert kinds == [
        (type(a.kernel_initializer), a.kernel_initializer.get_config()) for a in model.layers[1:]
    ]
    assert [k for k, _ in kinds] == [
        kinit.ConvHeUniform,
        kinit.ConvHeNormal,
        kinit.NormalInit,
        kinit.UniformInit,
    ]
    assert loaded.layers[2].get_config()["depthwise_initializer"]["config"]["depthwise"] is False
    assert loaded.layers[2].kernel_initializer.depthwise is True
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "cls", [kinit.ConvHeNormal, kinit.ConvHeUniform, kinit.NormalInit, kinit.UniformInit]
)
def test_seeded_reproducibility(cls):
    shape = (3, 3, 4, 8)
    a = _values(cls(seed=7), shape)
    np.testing.assert_array_equal(a, _values(cls(seed=7), shape))
    assert not np.array_equal(a, _values(cls(seed=8), shape))
    init = cls(seed=7)  # an int seed: the same values on every call (Keras)
    np.testing.assert_array_equal(_values(init, shape), _values(init, shape))
    init = cls(seed=keras.random.SeedGenerator(7))  # a generator: new values
    assert not np.array_equal(_values(init, shape), _values(init, shape))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("init", ALL, ids=ALL_IDS)
def test_dtypes(init, dtype):
    values = init((3, 3, 4, 8), dtype=dtype)
    assert keras.backend.standardize_dtype(values.dtype) == dtype
    assert np.isfinite(_values(init, (3, 3, 4, 8), dtype)).all()
    with pytest.raises(ValueError, match="dtype"):
        init((3, 3), dtype="int32")


def test_bad_arguments():
    with pytest.raises(ValueError, match="depthwise"):
        kinit.ConvHeNormal(depthwise="yes")
    with pytest.raises(ValueError, match="seed"):
        kinit.NormalInit(seed="0")
    with pytest.raises(ValueError, match="depthwise"):
        kinit.ConvHeNormal(depthwise=True)((3, 3))


def test_docstring_examples():
    """The examples of `kcl.initializers` (not run by
    tests/test_docstring_examples.py, which skips modules)."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(kinit, globs={}) if t.examples]
    assert len(tests) >= 4
    for test in tests:
        test.globs = {"__name__": "__main__"}
        runner.run(test)
    assert runner.failures == 0


# ------------------------------------------------------ equalize=True default
CL = dict(data_format="channels_last")
EQUALIZED = {
    "Conv1D": lambda **kw: kcl.Conv1D(4, 3, **CL, **kw),
    "Conv2D": lambda **kw: kcl.Conv2D(4, 3, **CL, **kw),
    "Conv3D": lambda **kw: kcl.Conv3D(4, 3, **CL, **kw),
    "DepthwiseConv2D": lambda **kw: kcl.DepthwiseConv2D(3, **CL, **kw),
    "GroupConv2D": lambda **kw: kcl.GroupConv2D(4, 3, group="C4", **CL, **kw),
    "PartialConv2D": lambda **kw: kcl.PartialConv2D(4, 3, **CL, **kw),
    "SparseConv2D": lambda **kw: kcl.SparseConv2D(4, 3, **CL, **kw),
    "PartialDepthwiseConv2D": lambda **kw: kcl.PartialDepthwiseConv2D(3, **CL, **kw),
}


def _initializer_config(layer):
    config = layer.get_config()
    return config.get("kernel_initializer", config.get("depthwise_initializer"))


@pytest.mark.parametrize("name", sorted(EQUALIZED))
def test_equalize_default_kernel_initializer(name):
    make = EQUALIZED[name]
    layer = make(equalize=True)
    assert isinstance(layer.kernel_initializer, kinit.NormalInit)
    config = layer.get_config()
    assert _initializer_config(layer)["registered_name"] == "keras_cv_layers>NormalInit"
    clone = type(layer).from_config(config)
    assert isinstance(clone.kernel_initializer, kinit.NormalInit)
    # Without equalize, and with an explicit initializer (old configs): unchanged.
    assert isinstance(make().kernel_initializer, keras.initializers.GlorotUniform)
    explicit = make(equalize=True, kernel_initializer="glorot_uniform")
    assert isinstance(explicit.kernel_initializer, keras.initializers.GlorotUniform)
    old = dict(config)
    key = "kernel_initializer" if "kernel_initializer" in old else "depthwise_initializer"
    old[key] = keras.initializers.serialize(keras.initializers.GlorotUniform())
    assert isinstance(
        type(layer).from_config(old).kernel_initializer, keras.initializers.GlorotUniform
    )


def test_equalize_default_keeps_keras_positional_order():
    # Conv2D(filters, kernel_size, strides, padding, data_format, dilation_rate,
    # groups, activation, use_bias, kernel_initializer, ...), as keras.layers.Conv2D.
    layer = kcl.Conv2D(4, 3, 1, "same", "channels_last", 1, 1, None, False, "zeros", equalize=True)
    assert isinstance(layer.kernel_initializer, keras.initializers.Zeros)
    layer = kcl.DepthwiseConv2D(3, 1, "same", 1, "channels_last", 1, None, False, "ones")
    assert isinstance(layer.kernel_initializer, keras.initializers.Ones)


def _stack_rms_ratio(stacks=8, **conv_kwargs):
    """RMS of the output of 10 equalized 3x3 ReLU convs over the RMS of their
    (ReLU'd unit normal) input, second moments pooled over `stacks`
    independently initialized stacks; only the output pixels that the zero
    padding does not reach (10 pixels from the border) are counted."""
    second_moments = []
    for seed in range(stacks):
        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        x = np.maximum(rng.normal(size=(2, 32, 32, 32)), 0).astype("float32")
        y = x
        for _ in range(10):
            conv = kcl.Conv2D(
                32, 3, padding="same", equalize=True, activation="relu", **CL, **conv_kwargs
            )
            y = conv(y)
        y = to_numpy(y).astype(np.float64)[:, 10:-10, 10:-10]
        second_moments.append(np.mean(y**2) / np.mean(x.astype(np.float64) ** 2))
    return float(np.sqrt(np.mean(second_moments)))


def test_equalized_stack_keeps_activation_scale():
    """He scaling preserves the second moment of ReLU activations: with
    effective weights of variance 2 / fan_in (NormalInit's raw variance
    0.995 times equalize's 2 / fan_in), E[y²] = 2 E[x²] before the ReLU and
    E[relu(y)²] = E[y²] / 2 = E[x²] after it (y is symmetric over the
    weights), in expectation over the weights.  So the RMS of the last of
    10 `Conv2D(32, 3, "same", equalize=True, activation="relu")` layers
    stays within 2x of the RMS of the input, a ReLU'd unit normal (what
    every later layer sees; its mean is not 0, so the RMS and not the std
    is the preserved quantity).

    One stack of width 32 is a product of 10 random gains (median ~0.65,
    5-95 % ~0.35-1.2 over seeds), so the second moments are pooled over 8
    stacks, which the argument is about (expected ratio 0.995**5 = 0.98;
    0.6-1.0 seen over seeds), on pixels the "same" zero padding does not
    reach.

    With `kernel_initializer="glorot_uniform"` it fails: the effective
    weights are ~17x too small per layer and the ratio is ~1e-12
    (`_stack_rms_ratio(kernel_initializer="glorot_uniform")`, asserted
    below).
    """
    ratio = _stack_rms_ratio()
    assert 0.5 < ratio < 2.0, ratio
    assert _stack_rms_ratio(stacks=1, kernel_initializer="glorot_uniform") < 0.5
