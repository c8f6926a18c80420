"""DeformableConv2D and kcl.ops.deform_conv2d: torchvision semantics, the
Conv2D special case, gradients and shape validation."""

from __future__ import annotations

import pathlib

import keras
import numpy as np
import pytest
from keras import ops

import keras_cv_layers as kcl
from tests import gradients
from tests.deformable import reference as ref
from tests.harness import to_numpy

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "torchvision_deform_conv2d.npz"
CL = "channels_last"
CF = "channels_first"


def _nhwc(x):
    return None if x is None else np.moveaxis(x, 1, -1)


def _nchw(x):
    return None if x is None else np.moveaxis(x, -1, 1)


def _load_fixtures():
    data = np.load(FIXTURES)
    names = sorted({k.split("/")[0] for k in data.files if "/" in k})
    cases = []
    for name in names:
        kh, kw, sh, sw, dh, dw, og, groups, mod, same = (int(v) for v in data[f"{name}/meta"])
        cases.append(
            dict(
                name=name,
                x=data[f"{name}/x"],
                offset=data[f"{name}/offset"],
                weight=data[f"{name}/weight"],
                bias=data[f"{name}/bias"],
                mask=data[f"{name}/mask"] if mod else None,
                out=data[f"{name}/out"],
                strides=(sh, sw),
                dilation=(dh, dw),
                padding="same" if same else "valid",
                groups=groups,
                offset_groups=og,
            )
        )
    return cases


FIXTURE_CASES = _load_fixtures()


def _kernel_from_torch(weight):
    """(F, C/groups, kh, kw) -> Keras (kh, kw, C/groups, F)."""
    return np.transpose(weight, (2, 3, 1, 0))


def _op_on_fixture(case, data_format):
    x, offset, mask = case["x"], case["offset"], case["mask"]
    if data_format == CL:
        x, offset, mask = _nhwc(x), _nhwc(offset), _nhwc(mask)
    y = kcl.ops.deform_conv2d(
        x,
        offset,
        _kernel_from_torch(case["weight"]),
        case["bias"],
        mask=mask,
        strides=case["strides"],
        padding=case["padding"],
        dilation_rate=case["dilation"],
        groups=case["groups"],
        data_format=data_format,
    )
    y = to_numpy(y)
    return _nchw(y) if data_format == CL else y


# ------------------------------------------------------------- torchvision
def test_fixtures_cover_the_issue_cases():
    cases = {c["name"]: c for c in FIXTURE_CASES}
    assert any(c["strides"] == (2, 2) for c in cases.values())
    assert any(c["dilation"] == (2, 2) for c in cases.values())
    assert any(c["offset_groups"] == 2 for c in cases.values())
    assert any(c["groups"] == 2 for c in cases.values())
    assert any(c["mask"] is not None for c in cases.values())
    assert any(c["mask"] is None for c in cases.values())
    # Offsets between pixels and pointing outside the input.
    offsets = np.concatenate([c["offset"].ravel() for c in cases.values()])
    assert np.mean(np.abs(offsets - np.round(offsets)) > 0.05) > 0.8
    assert np.max(np.abs(offsets)) > 10


@pytest.mark.parametrize("data_format", [CL, CF])
@pytest.mark.parametrize("case", FIXTURE_CASES, ids=[c["name"] for c in FIXTURE_CASES])
def test_matches_torchvision_fixtures(case, data_format):
    np.testing.assert_allclose(_op_on_fixture(case, data_format), case["out"], atol=1e-4, rtol=1e-4)


def test_numpy_reference_matches_torchvision_fixtures():
    """The loop reference used below is itself torchvision's semantics."""
    for case in FIXTURE_CASES:
        y = ref.deform_conv2d(
            _nhwc(case["x"]),
            _nhwc(case["offset"]),
            _kernel_from_torch(case["weight"]),
            case["bias"],
            _nhwc(case["mask"]),
            case["strides"],
            case["padding"],
            case["dilation"],
            case["groups"],
        )
        np.testing.assert_allclose(_nchw(y), case["out"], atol=1e-4, rtol=1e-4)


def test_matches_torchvision_live():
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 7, 7)).astype("float32")
    weight = rng.normal(size=(6, 2, 3, 3)).astype("float32")
    offset = rng.normal(scale=3.0, size=(2, 2 * 2 * 9, 4, 4)).astype("float32")
    mask = rng.uniform(size=(2, 2 * 9, 4, 4)).astype("float32")
    expected = torchvision.ops.deform_conv2d(
        torch.from_numpy(x),
        torch.from_numpy(offset),
        torch.from_numpy(weight),
        stride=2,
        padding=1,
        mask=torch.from_numpy(mask),
    ).numpy()
    y = kcl.ops.deform_conv2d(
        x,
        offset,
        _kernel_from_torch(weight),
        mask=mask,
        strides=2,
        padding="same",
        groups=2,
        data_format=CF,
    )
    np.testing.assert_allclose(to_numpy(y), expected, atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------- numpy reference
@pytest.mark.parametrize(
    "strides,padding,dilation,og,groups,modulated",
    [
        ((1, 1), "same", (1, 1), 1, 1, False),
        ((2, 1), "valid", (1, 2), 2, 2, True),
        ((2, 2), "same", (1, 1), 4, 1, True),
    ],
)
def test_matches_numpy_reference(strides, padding, dilation, og, groups, modulated):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 7, 4)).astype("float32")
    ho = ref.out_size(6, 3, strides[0], dilation[0], padding)
    wo = ref.out_size(7, 3, strides[1], dilation[1], padding)
    offsets = rng.normal(scale=2.5, size=(2, ho, wo, og * 18)).astype("float32")
    mask = rng.uniform(size=(2, ho, wo, og * 9)).astype("float32") if modulated else None
    kernel = rng.normal(size=(3, 3, 4 // groups, 4)).astype("float32")
    bias = rng.normal(size=(4,)).astype("float32")
    expected = ref.deform_conv2d(x, offsets, kernel, bias, mask, strides, padding, dilation, groups)
    for data_format in (CL, CF):
        conv = (lambda a: a) if data_format == CL else _nchw
        y = kcl.ops.deform_conv2d(
            conv(x),
            conv(offsets),
            kernel,
            bias,
            conv(mask),
            strides,
            padding,
            dilation,
            groups,
            data_format,
        )
        y = to_numpy(y) if data_format == CL else _nhwc(to_numpy(y))
        np.testing.assert_allclose(y, expected, atol=1e-4, rtol=1e-4)


# ------------------------------------------------- zero offsets == Conv2D
CONV_COMBOS = [
    (s, p, d)
    for s in (1, 2)
    for p in ("valid", "same")
    for d in (1, 2)
    if not (s > 1 and d > 1)  # keras.layers.Conv2D refuses strides > 1 with dilation > 1
]


@pytest.mark.parametrize("strides,padding,dilation", CONV_COMBOS)
def test_zero_offsets_equal_keras_conv2d(strides, padding, dilation):
    rng = np.random.default_rng(4)
    shape = (2, 8, 7, 4)
    x = rng.normal(size=shape).astype("float32")
    data_format = keras.config.image_data_format()
    xin = x if data_format == CL else _nchw(x)
    conv = keras.layers.Conv2D(
        5,
        3,
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        use_bias=True,
        data_format=data_format,
    )
    expected = to_numpy(conv(xin))
    for modulated in (False, True):
        layer = kcl.DeformableConv2D(
            5,
            3,
            strides=strides,
            padding=padding,
            dilation_rate=dilation,
            modulated=modulated,
            use_bias=True,
            data_format=data_format,
        )
        layer(xin)
        layer.kernel.assign(to_numpy(conv.kernel))
        layer.bias.assign(to_numpy(conv.bias))
        y = to_numpy(layer(xin))
        # A fresh modulated layer has mask sigmoid(0) = 0.5 on the conv term.
        scale = 0.5 if modulated else 1.0
        bias = to_numpy(conv.bias).reshape((1, 1, 1, -1) if data_format == CL else (1, -1, 1, 1))
        np.testing.assert_allclose(y, scale * (expected - bias) + bias, atol=1e-4, rtol=1e-4)
        if modulated:
            layer.mask_bias.assign(np.full(layer.mask_bias.shape, 30.0, "float32"))
            np.testing.assert_allclose(to_numpy(layer(xin)), expected, atol=1e-4, rtol=1e-4)
    # The functional form with zero offsets and a mask of ones.
    ho, wo = expected.shape[1:3] if data_format == CL else expected.shape[2:]
    offsets = np.zeros((2, ho, wo, 18), "float32")
    mask = np.ones((2, ho, wo, 9), "float32")
    if data_format == CF:
        offsets, mask = _nchw(offsets), _nchw(mask)
    y = kcl.ops.deform_conv2d(
        xin,
        offsets,
        to_numpy(conv.kernel),
        to_numpy(conv.bias),
        mask,
        strides,
        padding,
        dilation,
        data_format=data_format,
    )
    np.testing.assert_allclose(to_numpy(y), expected, atol=1e-4, rtol=1e-4)


def test_weights_and_shapes():
    layer = kcl.DeformableConv2D(
        6,
        (3, 2),
        offset_groups=2,
        modulated=True,
        groups=3,
        use_bias=True,
        data_format=CL,
    )
    y = layer(np.zeros((1, 7, 7, 6), "float32"))
    assert tuple(y.shape) == (1, 5, 6, 6)
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {
        "kernel": (3, 2, 2, 6),
        "bias": (6,),
        "offset_kernel": (3, 2, 6, 24),
        "offset_bias": (24,),
        "mask_kernel": (3, 2, 6, 12),
        "mask_bias": (12,),
    }
    for name in ("offset_kernel", "offset_bias", "mask_kernel", "mask_bias"):
        assert not np.any(to_numpy(getattr(layer, name)))


def test_learned_offsets_move_the_samples():
    """Offsets from the offset bias: a (+1, 0) shift of every tap of a 1x1
    deformable conv reads the next row."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 5, 5, 2)).astype("float32")
    layer = kcl.DeformableConv2D(2, 1, data_format=CL)
    layer(x)
    layer.kernel.assign(np.eye(2, dtype="float32").reshape(1, 1, 2, 2))
    layer.offset_bias.assign(np.array([1.0, 0.0], "float32"))
    y = to_numpy(layer(x))
    np.testing.assert_allclose(y[:, :-1], x[:, 1:], atol=1e-6)
    np.testing.assert_allclose(y[:, -1], 0.0, atol=1e-6)  # below the image: zero


# ---------------------------------------------------------------- gradients
def _fd_grads(fn, arrays, eps=1e-4):
    """Central finite differences of a float64 numpy function."""
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a, dtype=np.float64)
        for idx in np.ndindex(a.shape):
            plus = [np.array(b, np.float64) for b in arrays]
            minus = [np.array(b, np.float64) for b in arrays]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (fn(*plus) - fn(*minus)) / (2 * eps)
        grads.append(g)
    return grads


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(1, 4, 4, 2)).astype("float32")
    # Offsets away from integer sampling positions (bilinear kinks).
    offsets = rng.integers(-2, 3, size=(1, 2, 2, 8)) + rng.uniform(0.2, 0.8, size=(1, 2, 2, 8))
    offsets = offsets.astype("float32")
    mask = rng.uniform(0.2, 1.0, size=(1, 2, 2, 4)).astype("float32")
    kernel = rng.normal(size=(2, 2, 2, 3)).astype("float32")
    w = rng.normal(size=(1, 2, 2, 3))
    kw = dict(strides=2, padding="same", dilation_rate=1, data_format=CL)

    def loss(x_, o_, m_, k_):
        y = kcl.ops.deform_conv2d(x_, o_, k_, mask=m_, **kw)
        return ops.sum(y * ops.convert_to_tensor(w.astype("float32")))

    _, grads = gradients.value_and_grads(loss, x, offsets, mask, kernel)

    def ref_loss(x_, o_, m_, k_):
        return float(np.sum(ref.deform_conv2d(x_, o_, k_, None, m_, (2, 2), "same") * w))

    expected = _fd_grads(ref_loss, [x, offsets, mask, kernel])
    for name, g, e in zip(("inputs", "offsets", "mask", "kernel"), grads, expected):
        assert g is not None, name
        np.testing.assert_allclose(g, e, atol=2e-3, rtol=2e-3, err_msg=name)


@pytest.mark.parametrize("situation", ["zero_kernel", "constant_input", "far_offsets"])
def test_degenerate_inputs_give_finite_values_and_gradients(situation):
    data_format = keras.config.image_data_format()
    layer = kcl.DeformableConv2D(
        3,
        3,
        padding="same",
        modulated=True,
        offset_groups=2,
        use_bias=True,
        data_format=data_format,
    )
    x = np.random.default_rng(9).normal(size=(2, 5, 5, 4)).astype("float32")
    x = x if data_format == CL else _nchw(x)
    if situation == "far_offsets":
        layer(x)
        layer.offset_bias.assign(np.full(layer.offset_bias.shape, 1e4, "float32"))
    else:
        x = gradients.degenerate_conv_case(layer, x, situation)
    y, value, g_x, g_w = gradients.layer_value_and_grads(layer, x)
    gradients.assert_all_finite(
        y,
        value,
        g_x,
        g_w,
        ["kernel", "bias", "offset_kernel", "offset_bias", "mask_kernel", "mask_bias"],
    )
    if situation == "far_offsets":
        # Every sample lies outside the input: only the bias remains.
        bias = to_numpy(layer.bias).reshape((1, 1, 1, -1) if data_format == CL else (1, -1, 1, 1))
        np.testing.assert_allclose(y, np.broadcast_to(bias, y.shape), atol=1e-6)


# ------------------------------------------------------------- validation
def _op_args(**overrides):
    args = dict(
        inputs=np.zeros((1, 6, 6, 4), "float32"),
        offsets=np.zeros((1, 4, 4, 18), "float32"),
        kernel=np.zeros((3, 3, 4, 2), "float32"),
        mask=None,
        data_format=CL,
    )
    args.update(overrides)
    return args


@pytest.mark.parametrize(
    "overrides,match",
    [
        (
            dict(offsets=np.zeros((1, 4, 4, 17), "float32")),
            r"`offsets`.*\(1, 4, 4, offset_groups\*18\)",
        ),
        (dict(offsets=np.zeros((1, 5, 4, 18), "float32")), r"`offsets`.*\(1, 4, 4, 18\)"),
        (dict(mask=np.zeros((1, 4, 4, 8), "float32")), r"`mask`.*\(1, 4, 4, 9\)"),
        (dict(mask=np.zeros((1, 4, 3, 9), "float32")), r"`mask`.*\(1, 4, 4, 9\)"),
        (dict(offsets=np.zeros((1, 4, 4, 54), "float32")), r"divisible by offset_groups"),
        (
            dict(kernel=np.zeros((3, 3, 4, 3), "float32"), groups=2),
            r"`kernel`.*\(3, 3, 2, filters\)",
        ),
        (
            dict(
                inputs=np.zeros((1, 6, 6, 3), "float32"),
                kernel=np.zeros((3, 3, 3, 2), "float32"),
                groups=2,
            ),
            r"divisible by `groups`",
        ),
        (dict(inputs=np.zeros((6, 6, 4), "float32")), r"`inputs`.*rank 4"),
        (dict(padding="full"), r"`padding`"),
    ],
)
def test_op_rejects_bad_input(overrides, match):
    with pytest.raises(ValueError, match=match):
        kcl.ops.deform_conv2d(**_op_args(**overrides))


def test_op_channels_first_error_names_channels_first_shape():
    with pytest.raises(ValueError, match=r"`offsets`.*\(1, 18, 4, 4\)"):
        kcl.ops.deform_conv2d(
            np.zeros((1, 4, 6, 6), "float32"),
            np.zeros((1, 18, 5, 4), "float32"),
            np.zeros((3, 3, 4, 2), "float32"),
            data_format=CF,
        )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(offset_groups=0), "offset_groups"),
        (dict(modulated="yes"), "modulated"),
        (dict(groups=3), "groups"),
        (dict(padding="causal"), "padding"),
        (dict(strides=0), "strides"),
    ],
)
def test_layer_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kcl.DeformableConv2D(4, 3, **kwargs)


def test_layer_rejects_channels_not_divisible_by_offset_groups():
    layer = kcl.DeformableConv2D(4, 3, offset_groups=3, data_format=CL)
    with pytest.raises(ValueError, match=r"DeformableConv2D.*offset_groups.*\(batch, height"):
        layer(np.zeros((1, 5, 5, 4), "float32"))
    layer = kcl.DeformableConv2D(4, 3, groups=2, data_format=CL)
    with pytest.raises(ValueError, match="groups"):
        layer(np.zeros((1, 5, 5, 3), "float32"))


def test_get_config_has_the_deformable_arguments():
    layer = kcl.DeformableConv2D(4, 3, offset_groups=2, modulated=True, groups=2)
    config = layer.get_config()
    assert config["offset_groups"] == 2 and config["modulated"] is True
    assert config["offset_lr_multiplier"] == 1.0
    assert config["offset_kernel_regularizer"] is None
    clone = kcl.DeformableConv2D.from_config(config)
    assert clone.offset_groups == 2 and clone.modulated


def test_strides_with_dilation_are_allowed():
    """Unlike keras.layers.Conv2D (the op's semantics, SPEC second release)."""
    layer = kcl.DeformableConv2D(4, 3, strides=2, dilation_rate=2, data_format=CL)
    assert layer.strides == (2, 2) and layer.dilation_rate == (2, 2)
    assert tuple(layer(np.zeros((1, 9, 8, 2), "float32")).shape) == (1, 3, 2, 4)


def test_cross_backend_fixture():
    """A model saved under JAX (make_model_fixture.py) loads here with the
    same outputs."""
    here = pathlib.Path(__file__).parent / "fixtures"
    data = np.load(here / "deformable_model_io.npz")
    model = keras.saving.load_model(here / "deformable_model.keras", safe_mode=True)
    np.testing.assert_allclose(to_numpy(model(data["x"])), data["y"], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("modulated", [False, True])
def test_mixed_float16_large_inputs_give_finite_values_and_gradients(modulated):
    """Under mixed_float16, on inputs of magnitude ~100 the offset kernel's
    gradient (~1e5 here) exceeds float16: the offsets, the sampling and their
    gradients are computed in float32; the output is float16 and finite, and
    so are all gradients."""
    layer = kcl.DeformableConv2D(
        4, 3, padding="same", modulated=modulated, dtype="mixed_float16", data_format=CL
    )
    x = (100.0 * np.random.default_rng(10).random((2, 8, 8, 4))).astype("float32")
    layer(x)
    rng = np.random.default_rng(11)
    layer.kernel.assign(rng.normal(scale=0.3, size=layer.kernel.shape).astype("float32"))
    layer.offset_kernel.assign(
        rng.normal(scale=0.002, size=layer.offset_kernel.shape).astype("float32")
    )
    assert keras.backend.standardize_dtype(layer(x).dtype) == "float16"

    def loss(y):
        return ops.sum(ops.cast(y, "float32"))

    y, value, g_x, g_w = gradients.layer_value_and_grads(layer, x, loss=loss)
    gradients.assert_all_finite(y, value, g_x, g_w)
