"""`kcl.ops.partial_conv`, `sparse_conv` and `partial_depthwise_conv2d` equal
their layers (the layers compute through them), and their shape errors name
the op and the argument."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from tests.masked import checks
from tests.masked import helpers as h

CL, CF = "channels_last", "channels_first"
OPS = {
    "partial": kcl.ops.partial_conv,
    "sparse": kcl.ops.sparse_conv,
    "depthwise": kcl.ops.partial_depthwise_conv2d,
}
LAYERS = {
    ("partial", 1): kcl.PartialConv1D,
    ("partial", 2): kcl.PartialConv2D,
    ("partial", 3): kcl.PartialConv3D,
    ("sparse", 1): kcl.SparseConv1D,
    ("sparse", 2): kcl.SparseConv2D,
    ("sparse", 3): kcl.SparseConv3D,
    ("depthwise", 2): kcl.PartialDepthwiseConv2D,
}

# (variant, rank, layer kwargs, mask kind: "full" | "one" | "none", float mask)
CONFIGS = [
    ("partial", 1, dict(strides=2, binary=False, use_bias=True), "full", True),
    ("partial", 2, dict(padding="same", use_bias=True), "full", False),
    ("partial", 2, dict(groups=2, dilation_rate=2, binary=False, use_bias=True), "full", True),
    ("partial", 2, dict(padding="same", groups=2, weightnorm=True), "one", False),
    ("partial", 3, dict(padding="same", strides=2), "none", False),
    ("sparse", 1, dict(padding="same", dilation_rate=2, use_bias=True), "one", False),
    ("sparse", 2, dict(strides=2, binary=False, equalize=True, use_bias=True), "one", True),
    ("sparse", 2, dict(padding="same", groups=2), "none", False),
    ("sparse", 3, dict(padding="same", use_bias=True), "one", False),
    ("depthwise", 2, dict(padding="same", depth_multiplier=2, use_bias=True), "full", False),
    ("depthwise", 2, dict(strides=2, binary=False, weightnorm=True), "one", True),
    ("depthwise", 2, dict(depth_multiplier=3, use_bias=True), "none", False),
]
IDS = [
    f"{v}{r}D-{kind}-{'float' if fm else 'bin'}-"
    + "-".join(f"{k}={a}" for k, a in kw.items()).replace(" ", "")
    for v, r, kw, kind, fm in CONFIGS
]


def _make(variant, rank, kwargs, data_format):
    if variant == "depthwise":
        kwargs = {"kernel_size": 3, **kwargs}
    else:
        kwargs = {"filters": 4, "kernel_size": 3, **kwargs}
    return LAYERS[variant, rank](data_format=data_format, **kwargs)


def _cf(a):
    return None if a is None else np.ascontiguousarray(np.moveaxis(a, -1, 1))


@pytest.mark.parametrize("data_format", [CL, CF])
@pytest.mark.parametrize("variant, rank, kwargs, kind, float_mask", CONFIGS, ids=IDS)
def test_op_equals_layer(variant, rank, kwargs, kind, float_mask, data_format):
    layer = _make(variant, rank, kwargs, CL)
    x, mask = checks.make_inputs(type(layer), rank, kind, float_mask)
    if data_format == CF:
        x, mask = _cf(x), _cf(mask)
        layer = _make(variant, rank, kwargs, CF)
    layer.build(x.shape if mask is None else [x.shape, mask.shape])
    h.randomize(layer, np.random.default_rng(1))
    y, m = h.call(layer, x, mask)
    y_op, m_op = OPS[variant](
        x,
        mask,
        layer.effective_kernel(),
        layer.bias,
        strides=layer.strides,
        padding=layer.padding,
        dilation_rate=layer.dilation_rate,
        binary=layer.binary,
        data_format=data_format,
        eps=layer.eps,
    )
    np.testing.assert_allclose(h.to_numpy(y_op), y, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(h.to_numpy(m_op), m)


def _called(layer, rank, kind, seed):
    """`(x, mask, y, mask_out)` of `layer` (random weights) on random inputs
    in the Keras config's data format."""
    x, mask = checks.make_inputs(type(layer), rank, kind, False)
    if keras.config.image_data_format() == CF:
        x, mask = _cf(x), _cf(mask)
    layer.build([x.shape, mask.shape])
    h.randomize(layer, np.random.default_rng(seed))
    return (x, mask, *h.call(layer, x, mask))


def test_causal_layer_is_the_op_on_left_padded_inputs():
    """The ops take "valid"/"same"; the layers' 1D "causal" is the op on
    inputs padded with zeros (invalid) on the left."""
    layer = kcl.PartialConv1D(4, 3, padding="causal", dilation_rate=2, use_bias=True)
    x, mask, y, m = _called(layer, 1, "full", seed=2)
    pad = [(0, 0), (4, 0), (0, 0)] if layer.data_format == CL else [(0, 0), (0, 0), (4, 0)]
    y_op, m_op = kcl.ops.partial_conv(
        np.pad(x, pad), np.pad(mask, pad), layer.kernel, layer.bias, dilation_rate=2
    )
    np.testing.assert_allclose(h.to_numpy(y_op), y, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(h.to_numpy(m_op), m)


def test_layer_activation_applies_to_the_valid_outputs():
    layer = kcl.SparseConv2D(3, 3, padding="same", use_bias=True, activation="relu")
    x, mask, y, m = _called(layer, 2, "one", seed=3)
    y_op, m_op = kcl.ops.sparse_conv(x, mask, layer.kernel, layer.bias, padding="same")
    np.testing.assert_allclose(np.maximum(h.to_numpy(y_op), 0.0), y, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(h.to_numpy(m_op), m)


def test_symbolic_shape_errors_name_the_op_and_argument():
    x = keras.Input((6, 6, 4))
    kernel = np.ones((3, 3, 4, 2), "float32")
    with pytest.raises(ValueError, match=r"partial_conv: `mask`"):
        kcl.ops.partial_conv(x, keras.Input((6, 6, 3)), kernel, data_format=CL)
    with pytest.raises(ValueError, match=r"sparse_conv: `mask`"):
        kcl.ops.sparse_conv(x, keras.Input((6, 6, 4)), kernel, data_format=CL)
    with pytest.raises(ValueError, match=r"partial_conv: `kernel`"):
        kcl.ops.partial_conv(x, None, np.ones((3, 3, 3, 2), "float32"), data_format=CL)
    with pytest.raises(ValueError, match=r"sparse_conv: `x`"):
        kcl.ops.sparse_conv(keras.Input((6, 4)), None, kernel, data_format=CL)
    with pytest.raises(ValueError, match=r"partial_conv: `bias`"):
        kcl.ops.partial_conv(x, None, kernel, np.ones((3,), "float32"), data_format=CL)
    with pytest.raises(ValueError, match=r"partial_depthwise_conv2d: `kernel`"):
        kcl.ops.partial_depthwise_conv2d(x, None, np.ones((3, 3, 2, 2), "float32"), data_format=CL)
    with pytest.raises(ValueError, match=r"partial_conv: `kernel` must have rank"):
        kcl.ops.partial_conv(x, None, np.ones((3, 4, 2, 2, 2, 1), "float32"), data_format=CL)
    with pytest.raises(ValueError, match=r"sparse_conv: invalid `padding`"):
        kcl.ops.sparse_conv(x, None, kernel, padding="causal")
    with pytest.raises(ValueError, match=r"partial_conv: `binary`"):
        kcl.ops.partial_conv(x, None, kernel, binary=1)
    y, m = kcl.ops.partial_conv(x, keras.Input((6, 6, 1)), kernel, strides=2, data_format=CL)
    assert tuple(y.shape) == (None, 2, 2, 2) and tuple(m.shape) == (None, 2, 2, 2)
    y, m = kcl.ops.sparse_conv(x, None, kernel, padding="same", data_format=CL)
    assert tuple(y.shape) == (None, 6, 6, 2) and tuple(m.shape) == (None, 6, 6, 1)
