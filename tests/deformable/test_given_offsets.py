"""DeformableConv2D, second release: the call forms `[x, offsets]` and
`[x, offsets, mask]`, `offset_kernel_initializer` / `_regularizer`,
`offset_lr_multiplier`, and strides > 1 with dilation_rate > 1."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from tests import gradients
from tests.deformable import reference as ref
from tests.harness import to_numpy

CL = "channels_last"
CF = "channels_first"


def _nchw(x):
    return None if x is None else np.moveaxis(x, -1, 1)


def _nhwc(x):
    return None if x is None else np.moveaxis(x, 1, -1)


def _given(rng, shape, strides, padding, dilation, modulated, og=1, k=3):
    """x, offsets and mask (None unless modulated), channels_last."""
    x = rng.normal(size=shape).astype("float32")
    ho = ref.out_size(shape[1], k, strides, dilation, padding)
    wo = ref.out_size(shape[2], k, strides, dilation, padding)
    offsets = rng.normal(scale=1.5, size=(shape[0], ho, wo, og * 2 * k * k)).astype("float32")
    mask = rng.uniform(size=(shape[0], ho, wo, og * k * k)).astype("float32")
    return x, offsets, mask if modulated else None


@pytest.mark.parametrize(
    "data_format,modulated,strides,dilation,padding",
    [
        (CL, False, 1, 1, "same"),
        (CF, True, 1, 1, "valid"),
        (CL, True, 2, 2, "same"),
        (CF, False, 2, 2, "valid"),
    ],
)
def test_given_offsets_equal_the_op(data_format, modulated, strides, dilation, padding):
    """The layer on [x, offsets(, mask)] is `kcl.ops.deform_conv2d` with its
    kernel and bias, and owns only those two weights."""
    rng = np.random.default_rng(0)
    x, offsets, mask = _given(rng, (2, 7, 6, 4), strides, padding, dilation, modulated, og=2)
    if data_format == CF:
        x, offsets, mask = _nchw(x), _nchw(offsets), _nchw(mask)
    layer = kcl.DeformableConv2D(
        4,
        3,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        offset_groups=2,
        groups=2,
        modulated=modulated,
        use_bias=True,
        bias_initializer="random_normal",
        data_format=data_format,
    )
    inputs = [x, offsets] + ([mask] if modulated else [])
    y = to_numpy(layer(inputs))
    assert sorted(w.path.split("/")[-1] for w in layer.weights) == ["bias", "kernel"]
    expected = kcl.ops.deform_conv2d(
        x,
        offsets,
        to_numpy(layer.kernel),
        to_numpy(layer.bias),
        mask,
        strides,
        padding,
        dilation,
        groups=2,
        data_format=data_format,
    )
    assert y.shape == tuple(layer.compute_output_shape([t.shape for t in inputs]))
    np.testing.assert_allclose(y, to_numpy(expected), atol=1e-5, rtol=1e-5)
    # The numpy reference agrees (the same offsets move the samples).
    if data_format == CF:
        x, offsets, mask, y = _nhwc(x), _nhwc(offsets), _nhwc(mask), _nhwc(y)
    want = ref.deform_conv2d(
        x,
        offsets,
        to_numpy(layer.kernel),
        to_numpy(layer.bias),
        mask,
        (strides,) * 2,
        padding,
        (dilation,) * 2,
        2,
    )
    np.testing.assert_allclose(y, want, atol=1e-4, rtol=1e-4)


def test_strided_dilated_predicted_offsets_match_the_reference():
    """strides=2 with dilation_rate=2 (refused by keras.layers.Conv2D) runs
    with predicted offsets: the offset convolution and the deformable
    sampling both follow the strided, dilated geometry."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 7, 6, 2)).astype("float32")
    layer = kcl.DeformableConv2D(
        3,
        3,
        strides=2,
        dilation_rate=2,
        padding="same",
        modulated=True,
        use_bias=True,
        offset_kernel_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=1),
        data_format=CL,
    )
    y = to_numpy(layer(x))
    assert y.shape == (1, 4, 3, 3)
    w = {v.path.split("/")[-1]: to_numpy(v) for v in layer.weights}
    # A plain convolution is the deformable one with zero offsets.
    zeros = np.zeros((1, 4, 3, 18))
    kernel = np.concatenate([w["offset_kernel"], w["mask_kernel"]], axis=-1)
    bias = np.concatenate([w["offset_bias"], w["mask_bias"]])
    predicted = ref.deform_conv2d(x, zeros, kernel, bias, None, (2, 2), "same", (2, 2))
    offsets, mask = predicted[..., :18], 1.0 / (1.0 + np.exp(-predicted[..., 18:]))
    assert np.abs(offsets).max() > 0.3  # the samples really move
    want = ref.deform_conv2d(x, offsets, w["kernel"], w["bias"], mask, (2, 2), "same", (2, 2))
    np.testing.assert_allclose(y, want, atol=1e-4, rtol=1e-4)


def test_offset_lr_multiplier_scales_only_the_offset_gradients():
    """0.1 scales the gradients of offset_kernel/bias and mask_kernel/bias
    by exactly 0.1; the output, the kernel's and the input's gradients are
    those of the default layer."""
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype("float32")

    def make(multiplier):
        return kcl.DeformableConv2D(
            4,
            3,
            strides=2,
            dilation_rate=2,
            padding="same",
            modulated=True,
            use_bias=True,
            offset_kernel_initializer=keras.initializers.RandomNormal(stddev=0.1),
            offset_lr_multiplier=multiplier,
            data_format=CL,
        )

    base, scaled = make(1.0), make(0.1)
    base(x)
    scaled(x)
    rng = np.random.default_rng(3)
    values = [
        w + rng.normal(scale=0.05, size=w.shape).astype("float32") for w in base.get_weights()
    ]
    base.set_weights(values)
    scaled.set_weights(values)
    y0, _, gx0, gw0 = gradients.layer_value_and_grads(base, x)
    y1, _, gx1, gw1 = gradients.layer_value_and_grads(scaled, x)
    np.testing.assert_allclose(y1, y0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-6, atol=1e-7)
    g0 = {p.split("/")[-1]: g for p, g in gw0.items()}
    g1 = {p.split("/")[-1]: g for p, g in gw1.items()}
    assert (
        sorted(g0)
        == sorted(g1)
        == sorted(["kernel", "bias", "offset_kernel", "offset_bias", "mask_kernel", "mask_bias"])
    )
    for name in ("kernel", "bias"):
        np.testing.assert_allclose(g1[name], g0[name], rtol=1e-6, atol=1e-7, err_msg=name)
    for name in ("offset_kernel", "offset_bias", "mask_kernel", "mask_bias"):
        assert np.abs(g0[name]).max() > 1e-3, name  # non-trivial gradients
        np.testing.assert_allclose(g1[name], 0.1 * g0[name], rtol=1e-6, atol=0, err_msg=name)


def test_offset_initializer_and_regularizer_apply_to_offset_and_mask_kernels():
    layer = kcl.DeformableConv2D(
        2,
        3,
        modulated=True,
        offset_kernel_initializer="ones",
        offset_kernel_regularizer=keras.regularizers.L2(0.5),
        data_format=CL,
    )
    layer(np.zeros((1, 5, 5, 2), "float32"))
    for name in ("offset_kernel", "mask_kernel"):
        np.testing.assert_array_equal(to_numpy(getattr(layer, name)), 1.0)
    for name in ("offset_bias", "mask_bias"):
        np.testing.assert_array_equal(to_numpy(getattr(layer, name)), 0.0)
    # 0.5 * (3*3*2*18 + 3*3*2*9) ones.
    losses = sorted(float(to_numpy(v)) for v in layer.losses)
    assert losses == [0.5 * 162, 0.5 * 324]


def test_config_has_the_new_arguments_and_old_configs_load():
    layer = kcl.DeformableConv2D(
        4,
        3,
        strides=2,
        dilation_rate=2,
        offset_kernel_initializer="he_normal",
        offset_kernel_regularizer="l2",
        offset_lr_multiplier=0.25,
    )
    config = layer.get_config()
    assert config["offset_lr_multiplier"] == 0.25
    assert config["strides"] == (2, 2) and config["dilation_rate"] == (2, 2)
    clone = kcl.DeformableConv2D.from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.offset_kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(clone.offset_kernel_regularizer, keras.regularizers.L2)
    old = {
        k: v
        for k, v in kcl.DeformableConv2D(4, 3).get_config().items()
        if not k.startswith("offset_kernel_") and k != "offset_lr_multiplier"
    }
    loaded = kcl.DeformableConv2D.from_config(old)
    assert loaded.offset_lr_multiplier == 1.0 and loaded.offset_kernel_regularizer is None
    assert isinstance(loaded.offset_kernel_initializer, keras.initializers.Zeros)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, float("nan"), float("inf"), "0.1", True, None])
def test_offset_lr_multiplier_must_be_finite_and_positive(bad):
    with pytest.raises(ValueError, match="DeformableConv2D.*`offset_lr_multiplier`"):
        kcl.DeformableConv2D(4, 3, offset_lr_multiplier=bad)


def test_form_errors():
    x = np.zeros((2, 6, 6, 3), "float32")
    offsets = np.zeros((2, 6, 6, 18), "float32")
    mask = np.zeros((2, 6, 6, 9), "float32")

    def make(**kw):
        return kcl.DeformableConv2D(4, 3, padding="same", data_format=CL, **kw)

    with pytest.raises(ValueError, match=r"\[x, offsets\] with modulated=True.*mask"):
        make(modulated=True)([x, offsets])
    with pytest.raises(ValueError, match=r"\[x, offsets, mask\] requires modulated=True"):
        make()([x, offsets, mask])
    with pytest.raises(ValueError, match=r"\[x, offsets\] or \[x, offsets, mask\]"):
        make()([x, offsets, mask, mask])
    # The form is fixed at build: another one later is refused.
    layer = make()
    layer(x)
    with pytest.raises(ValueError, match=layer.name):
        layer([x, offsets])
    layer = make()
    layer([x, offsets])
    with pytest.raises(ValueError, match=layer.name):
        layer(x)
    layer = make()
    layer.build([(None, None, None, 3), (None, None, None, 18)])
    assert [w.name for w in layer.weights] == ["kernel"]
    with pytest.raises(ValueError, match=layer.name):
        layer(x)


@pytest.mark.parametrize(
    "data_format,offsets_shape,mask_shape,match",
    [
        (CL, (2, 6, 6, 16), None, r"`offsets` must have shape \(2, 6, 6, 18\)"),
        (CL, (2, 5, 6, 18), None, r"`offsets` must have shape \(2, 6, 6, 18\)"),
        (CL, (2, 6, 6, 18), (2, 6, 6, 18), r"`mask` must have shape \(2, 6, 6, 9\)"),
        (CF, (2, 6, 6, 18), None, r"`offsets` must have shape \(2, 18, 6, 6\)"),
        (CF, (2, 18, 6, 6), (2, 9, 6, 5), r"`mask` must have shape \(2, 9, 6, 6\)"),
    ],
)
def test_bad_offsets_or_mask_shape(data_format, offsets_shape, mask_shape, match):
    """Checked before any kernel runs, eagerly and on symbolic inputs; the
    message names the expected shape in the layer's data_format."""
    modulated = mask_shape is not None
    x = np.zeros((2, 6, 6, 3) if data_format == CL else (2, 3, 6, 6), "float32")
    extras = [np.zeros(offsets_shape, "float32")]
    if modulated:
        extras.append(np.zeros(mask_shape, "float32"))

    def make():
        return kcl.DeformableConv2D(
            4, 3, padding="same", modulated=modulated, data_format=data_format
        )

    with pytest.raises(ValueError, match=match):
        make()([x, *extras])
    symbolic = [keras.Input(t.shape[1:], batch_size=2) for t in [x, *extras]]
    with pytest.raises(ValueError, match=match):
        make()(symbolic)
    # A built layer checks every call (another size of the same form).
    layer = make()
    good = [np.zeros(t.shape, "float32") for t in [x, *extras]]
    good[1] = np.zeros((2, 6, 6, 18) if data_format == CL else (2, 18, 6, 6), "float32")
    if modulated:
        good[2] = np.zeros((2, 6, 6, 9) if data_format == CL else (2, 9, 6, 6), "float32")
    layer(good)
    with pytest.raises(ValueError, match=match):
        layer([x, *extras])


def test_window_too_small_with_given_offsets():
    layer = kcl.DeformableConv2D(4, 5, data_format=CL)
    with pytest.raises(ValueError, match="DeformableConv2D.*zero or negative"):
        layer([np.zeros((1, 3, 3, 2), "float32"), np.zeros((1, 1, 1, 50), "float32")])


def test_given_offsets_mixed_precision_output_dtype():
    """Under mixed_float16 the given-offset layer computes in float16 with
    float32 weights, and stays close to the float32 layer."""
    rng = np.random.default_rng(5)
    x, offsets, mask = _given(rng, (1, 5, 5, 2), 1, "same", 1, True)
    layer = kcl.DeformableConv2D(
        3, 3, padding="same", modulated=True, dtype="mixed_float16", data_format=CL
    )
    y = layer([x, offsets, mask])
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
    reference = kcl.DeformableConv2D(3, 3, padding="same", modulated=True, data_format=CL)
    reference([x, offsets, mask])
    reference.set_weights(layer.get_weights())
    want = to_numpy(reference([x, offsets, mask]))
    np.testing.assert_allclose(to_numpy(ops.cast(y, "float32")), want, atol=2e-2, rtol=2e-2)
