"""`kcl.utils.fuse_for_inference`: for every layer with a weight transform, the
fused model gives the original's outputs (≤1e-5), holds no transform layer
(the plain-Keras replacements have the expected classes), and round-trips
through `.keras`; other layers, nested models and several outputs are
preserved; subclassed models are refused."""

import doctest
import json

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers.layers.convolutional.base_conv import BaseConvolution
from keras_cv_layers.layers.convolutional.ws_conv import BaseWSConv
from keras_cv_layers.utils import inference

L = keras.layers


def _shape(spatial, channels, group=None):
    """Per-example shape in the default data format."""
    spatial, lead = tuple(spatial), (() if group is None else (group,))
    if keras.config.image_data_format() == "channels_last":
        return spatial + lead + (channels,)
    return lead + (channels,) + spatial


# (id, input shape (spatial, channels), [(layer factory, class expected after fusing)]):
# each case is a chain of layers applied in order.
CASES = [
    (
        "conv1d",
        ((9,), 4),
        [
            (lambda: kcl.Conv1D(4, 3, padding="causal", weightnorm=True, use_bias=True), L.Conv1D),
            (lambda: kcl.Conv1D(4, 3, groups=2, equalize=True, activation="tanh"), L.Conv1D),
            (lambda: kcl.WSConv1D(3, 2, dilation_rate=2), L.Conv1D),
            (lambda: kcl.SWSConv1D(2, 1, preceding_activation="gelu"), L.Conv1D),
        ],
    ),
    (
        "conv2d",
        ((7, 6), 4),
        [
            (lambda: kcl.Conv2D(4, 3, padding="same", groups=2, weightnorm=True), L.Conv2D),
            (lambda: kcl.Conv2D(4, 3, strides=2, equalize=True, use_bias=True), L.Conv2D),
            (lambda: kcl.WSConv2D(3, 1), L.Conv2D),
            (lambda: kcl.SWSConv2D(2, 1, activation="relu"), L.Conv2D),
        ],
    ),
    (
        "depthwise",
        ((6, 6), 3),
        [
            (
                lambda: kcl.DepthwiseConv2D(3, depth_multiplier=2, weightnorm=True, use_bias=True),
                L.DepthwiseConv2D,
            ),
            (lambda: kcl.DepthwiseConv2D(3, padding="same", equalize=True), L.DepthwiseConv2D),
        ],
    ),
    (
        "conv3d",
        ((4, 4, 3), 2),
        [
            (lambda: kcl.Conv3D(2, 2, weightnorm=True, use_bias=True), L.Conv3D),
            (lambda: kcl.Conv3D(2, 1, equalize=True), L.Conv3D),
            (lambda: kcl.WSConv3D(2, (1, 2, 1)), L.Conv3D),
            (lambda: kcl.SWSConv3D(2, 1, learnable_gain=False), L.Conv3D),
        ],
    ),
    (
        "group_c4",
        ((6, 7), 2),
        [
            (lambda: kcl.GroupConv2D(2, 3, group="C4", padding="same", use_bias=True), None),
            (lambda: kcl.GroupConv2D(3, 3, group="C4", weightnorm=True), None),
        ],
    ),
    (
        "group_d4",
        ((5, 5), 2),
        [
            (lambda: kcl.GroupConv2D(2, 3, group="D4", equalize=True, activation="relu"), None),
            (lambda: kcl.GroupConv2D(2, 1, group="D4", use_bias=True), None),
        ],
    ),
    (
        "weight_normalization",
        ((5, 5), 3),
        [
            (lambda: kcl.WeightNormalization(L.Conv2D(4, 3, activation="relu")), L.Conv2D),
            (lambda: kcl.WeightNormalization(L.Dense(3), data_init=True), L.Dense),
        ],
    ),
    (
        "same_class_coord_masked",
        ((6, 6), 2),
        [
            (lambda: kcl.CoordConv2D(3, 3, with_r=True, weightnorm=True), kcl.CoordConv2D),
            (lambda: kcl.PartialConv2D(2, 3, equalize=True, use_bias=True), kcl.PartialConv2D),
        ],
    ),
]


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "float" in str(w.dtype):
            w.assign((0.5 * rng.normal(size=w.shape) + 0.2).astype(w.dtype))


def _chain_model(spec, steps):
    (spatial, channels) = spec
    inputs = keras.Input(_shape(spatial, channels), batch_size=None)
    x = inputs
    for make, _ in steps:
        x = make()(x)
        if isinstance(x, list):  # masked convolutions: [y, mask_out]
            x = x[0]
    return keras.Model(inputs, x)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        if hasattr(layer, "layer"):
            yield layer.layer


def _assert_no_transform(model):
    for layer in _all_layers(model):
        assert not isinstance(layer, (kcl.WeightNormalization, kcl.GroupConv2D, BaseWSConv))
        if isinstance(layer, BaseConvolution):
            assert not (layer.weightnorm or layer.equalize), layer.name


def _predict(model, x):
    out = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, list) else [out])]


def _assert_same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spec, steps", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fused_model_equals_original_and_round_trips(spec, steps, tmp_path):
    model = _chain_model(spec, steps)
    _randomize(model)
    x = np.random.default_rng(1).normal(size=(2,) + model.input.shape[1:]).astype("float32")
    expected = _predict(model, x)
    fused = kcl.utils.fuse_for_inference(model)
    _assert_same(expected, _predict(fused, x))
    _assert_no_transform(fused)
    # Names are kept; each replaced layer has the expected class.
    originals = model.layers[1:]
    replaced = fused.layers[1:]
    assert [la.name for la in replaced] == [la.name for la in originals]
    for layer, (_, cls) in zip(replaced, steps):
        if cls is None:  # GroupConv2D: Sequential of Reshape / Conv2D / Reshape
            assert isinstance(layer, keras.Sequential)
            assert {type(la) for la in layer.layers} <= {L.Reshape, L.Conv2D}
        else:
            assert type(layer) is cls
    if all(cls is not None and cls.__module__.startswith("keras.") for _, cls in steps):
        assert "keras_cv_layers" not in json.dumps(fused.get_config())
    # The original is untouched, and the fused model saves and reloads.
    _assert_same(expected, _predict(model, x))
    path = str(tmp_path / "fused.keras")
    fused.save(path)
    _assert_same(expected, _predict(keras.saving.load_model(path), x))


def test_mixed_graph_nested_models_and_two_outputs_are_preserved():
    cl = keras.config.image_data_format() == "channels_last"
    inputs = keras.Input(_shape((8, 8), 3))
    block = keras.Sequential(
        [kcl.WSConv2D(4, 3, padding="same"), L.ReLU()], name="block"
    )  # nested Sequential
    x = block(inputs)
    pooled, indices = kcl.MaxPoolingWithArgmax2D(2)(x)
    y = kcl.Conv2D(4, 1, weightnorm=True, name="wn")(pooled)
    up = kcl.MaxUnpooling2D(2)([y, indices])
    kept = kcl.Conv2D(4, 1, name="plain")(up)  # no transform: kept as kcl.Conv2D
    shared = L.Dense(2, name="shared")  # shared layer, applied twice
    out1 = shared(kept if cl else L.Permute((2, 3, 1))(kept))
    out2 = shared(L.GlobalAveragePooling2D()(pooled))
    model = keras.Model(inputs, [out1, out2])
    _randomize(model)
    x = np.random.default_rng(2).normal(size=(2,) + _shape((8, 8), 3)).astype("float32")
    expected = _predict(model, x)
    fused = inference.fuse_for_inference(model)
    _assert_same(expected, _predict(fused, x))
    _assert_no_transform(fused)
    assert type(fused.get_layer("block").layers[0]) is L.Conv2D
    assert type(fused.get_layer("wn")) is L.Conv2D
    assert type(fused.get_layer("plain")) is kcl.Conv2D
    assert fused.get_layer("plain") is not model.get_layer("plain")
    assert {type(la) for la in fused.layers} >= {kcl.MaxPoolingWithArgmax2D, kcl.MaxUnpooling2D}
    assert sum(la.name == "shared" for la in fused.layers) == 1


def test_sequential_unknown_spatial_size_and_errors():
    # A Sequential model at unknown spatial size: the convolutions fuse; a
    # GroupConv2D (keras.layers.Reshape takes one unknown size) is kept.
    model = keras.Sequential(
        [
            keras.Input(_shape((None, None), 2)),
            kcl.Conv2D(3, 3, equalize=True),
            kcl.GroupConv2D(2, 3, group="C4"),
        ]
    )
    _randomize(model)
    x = np.random.default_rng(3).normal(size=(1,) + _shape((6, 5), 2)).astype("float32")
    with pytest.warns(UserWarning, match="GroupConv2D"):
        fused = kcl.utils.fuse_for_inference(model)
    assert isinstance(fused, keras.Sequential)
    assert [type(la) for la in fused.layers] == [L.Conv2D, kcl.GroupConv2D]
    _assert_same(_predict(model, x), _predict(fused, x))

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = kcl.Conv2D(2, 1, weightnorm=True)

        def call(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match="subclassed"):
        kcl.utils.fuse_for_inference(Sub())
    with pytest.raises(ValueError, match="keras.Model"):
        kcl.utils.fuse_for_inference(kcl.Conv2D(2, 1))


def test_mixed_precision_policy_is_kept():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        inputs = keras.Input(_shape((5, 5), 2))
        model = keras.Model(inputs, kcl.SWSConv2D(3, 3)(kcl.Conv2D(2, 1, weightnorm=True)(inputs)))
        _randomize(model)
        fused = kcl.utils.fuse_for_inference(model)
    finally:
        keras.config.set_dtype_policy(policy)
    assert [la.dtype_policy.name for la in fused.layers[1:]] == ["mixed_bfloat16"] * 2
    assert all(w.dtype == "float32" for w in fused.weights)
    x = np.random.default_rng(4).normal(size=(2,) + _shape((5, 5), 2)).astype("float32")
    a, b = model(x), fused(x)
    assert keras.backend.standardize_dtype(b.dtype) == "bfloat16"
    a, b = (keras.ops.convert_to_numpy(keras.ops.cast(t, "float32")) for t in (a, b))
    np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-2)


def test_docstring_example():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(inference.fuse_for_inference, globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 5


_PACKAGE_CLASS = {
    L.Conv1D: kcl.Conv1D,
    L.Conv2D: kcl.Conv2D,
    L.Conv3D: kcl.Conv3D,
    L.DepthwiseConv2D: kcl.DepthwiseConv2D,
}


#: One case per kind of replacement (the rank only changes the class).
_PACKAGE_CASES = [
    c for c in CASES if c[0] in ("conv2d", "depthwise", "group_c4", "weight_normalization")
]


@pytest.mark.parametrize(
    "spec, steps", [c[1:] for c in _PACKAGE_CASES], ids=[c[0] for c in _PACKAGE_CASES]
)
def test_package_layers_form(spec, steps, tmp_path):
    """`keras_layers=False`: the package's plain convolutions (no transform)
    in place of the stock Keras ones; same outputs; saves and reloads."""
    model = _chain_model(spec, steps)
    _randomize(model)
    x = np.random.default_rng(1).normal(size=(2,) + model.input.shape[1:]).astype("float32")
    expected = _predict(model, x)
    fused = kcl.utils.fuse_for_inference(model, keras_layers=False)
    _assert_same(expected, _predict(fused, x))
    _assert_no_transform(fused)
    for layer, original, (_, cls) in zip(fused.layers[1:], model.layers[1:], steps):
        assert layer.name == original.name
        if cls is None:  # GroupConv2D: Sequential of Reshape / kcl.Conv2D / Reshape
            assert kcl.Conv2D in {type(la) for la in layer.layers}
            assert L.Conv2D not in {type(la) for la in layer.layers}
        elif isinstance(original, kcl.WeightNormalization):
            assert type(layer) is cls  # the wrapped layer's own class
        else:
            assert type(layer) is _PACKAGE_CLASS.get(cls, cls)
    path = str(tmp_path / "fused.keras")
    fused.save(path)
    _assert_same(expected, _predict(keras.saving.load_model(path), x))
    with pytest.raises(ValueError, match="keras_layers"):
        kcl.utils.fuse_for_inference(model, keras_layers="no")
