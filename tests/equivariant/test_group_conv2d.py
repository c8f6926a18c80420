"""Math and property tests of kcl.GroupConv2D (SPEC "GroupConv2D")."""

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl
from keras_cv_layers.utils import equivariance
from tests.equivariant import reference as gref
from tests.gradients import assert_all_finite, degenerate_conv_case, layer_value_and_grads
from tests.harness import to_numpy
from tests.keras_reference import run_keras_layer
from tests.numpy_reference import weightnorm_kernel

CL, CF = "channels_last", "channels_first"


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


def to_cf(x):
    """channels_last 4-D/5-D -> channels_first."""
    return np.transpose(x, (0, 3, 1, 2) if x.ndim == 4 else (0, 3, 4, 1, 2))


def to_cl(y):
    return np.transpose(y, (0, 2, 3, 1) if y.ndim == 4 else (0, 3, 4, 1, 2))


def _randomize(layer, seed=1):
    k = rand(*layer.kernel.shape, seed=seed)
    layer.kernel.assign(k)
    b = None
    if layer.bias is not None:
        b = rand(*layer.bias.shape, seed=seed + 1)
        layer.bias.assign(b)
    return k, b


# --------------------------------------------------------------- expansion
@pytest.mark.parametrize(
    "group, lifting, k",
    [("C4", True, 3), ("C4", False, 5), ("D4", True, 5), ("D4", False, 3), ("D4", False, 1)],
)
def test_expanded_kernel_matches_numpy_reference(group, lifting, k):
    order = gref.ORDERS[group]
    layer = kcl.GroupConv2D(3, k, group=group, data_format=CL)
    shape = (1, 7, 7, 2) if lifting else (1, 7, 7, order, 2)
    layer.build(shape)
    w, _ = _randomize(layer)
    expanded = to_numpy(layer.expanded_kernel())
    expected = gref.expand_kernel(w, group, 1 if lifting else order)
    assert expanded.shape == (k, k, (1 if lifting else order) * 2, order * 3)
    np.testing.assert_array_equal(expanded, expected.astype("float32"))


@pytest.mark.parametrize(
    "group, lifting, k", [("C4", True, 3), ("C4", False, 5), ("D4", True, 1), ("D4", False, 3)]
)
def test_group_conv2d_kernel_op_is_the_layers_expanded_kernel(group, lifting, k):
    order = gref.ORDERS[group]
    layer = kcl.GroupConv2D(3, k, group=group, data_format=CL)
    layer.build((1, 7, 7, 2) if lifting else (1, 7, 7, order, 2))
    _randomize(layer)
    op = to_numpy(kcl.ops.group_conv2d_kernel(layer.kernel, group.lower(), lifting=lifting))
    np.testing.assert_array_equal(op, to_numpy(layer.expanded_kernel()))
    # A kernel of the other kind is refused, naming the op and the argument
    # (a lifting kernel fits a group layer only if its channels happen to
    # be a multiple of the group order).
    if lifting:
        with pytest.raises(ValueError, match=r"group_conv2d_kernel: `kernel`"):
            kcl.ops.group_conv2d_kernel(layer.kernel, group)


def test_group_conv2d_kernel_op_errors():
    with pytest.raises(ValueError, match=r"group_conv2d_kernel: `kernel`"):
        kcl.ops.group_conv2d_kernel(np.ones((3, 2, 4, 2), "float32"), "C4", lifting=True)
    with pytest.raises(ValueError, match=r"group_conv2d_kernel: `kernel`"):
        kcl.ops.group_conv2d_kernel(keras.Input((4, 4, 2)), "C4", lifting=True)
    with pytest.raises(ValueError, match=r"group_conv2d_kernel: unknown `group`"):
        kcl.ops.group_conv2d_kernel(np.ones((3, 3, 4, 2), "float32"), "C8")
    with pytest.raises(ValueError, match=r"group_conv2d_kernel: `lifting`"):
        kcl.ops.group_conv2d_kernel(np.ones((3, 3, 4, 2), "float32"), "C4", lifting=1)


def test_expansion_indices_are_a_permutation_of_each_filter_column():
    """Each (g, f) column of the expanded kernel holds every weight of filter f once."""
    idx = equivariance.expansion_indices(3, "D4", 8, 2)
    assert idx.dtype == np.int32 and idx.shape == (3, 3, 16, 8)
    for g in range(8):
        assert sorted(idx[..., g].ravel()) == list(range(3 * 3 * 16))


def test_group_tables_match_the_formulas():
    for group, order in gref.ORDERS.items():
        table = equivariance.multiplication_table(group)
        inverse = equivariance.inverse_elements(group)
        probe = np.arange(12).reshape(3, 4)
        for a in range(order):
            assert inverse[a] == gref.inv(a)
            assert equivariance.element_name(a) == (
                ["identity", "rot90", "rot180", "rot270"][a]
                if a < 4
                else ["flip", "flip_rot90", "flip_rot180", "flip_rot270"][a - 4]
            )
            for b in range(order):
                assert table[a, b] == gref.mul(a, b)
                np.testing.assert_array_equal(
                    gref.act(gref.act(probe, b), a), gref.act(probe, gref.mul(a, b))
                )


# ------------------------------------------------------------------ output
# (layer arguments, lifting, data_format)
CONV_CASES = [
    (dict(group="C4", padding="same"), False, CL),
    (dict(group="D4", padding="valid", use_bias=True), True, CF),
    (dict(group="D4", padding="valid", use_bias=True), False, CL),
    (dict(group="C4", padding="same", strides=2, use_bias=True, activation="relu"), True, CL),
    (dict(group="C4", padding="same", strides=2, use_bias=True, activation="relu"), False, CF),
    (dict(group="D4", padding="same", dilation_rate=2), False, CF),
    (dict(group="C4", padding="valid", strides=(2, 1), kernel_size=5), True, CL),
]
CONV_IDS = [
    "-".join(f"{k}={v}" for k, v in c.items()).replace(" ", "")
    + ("-lifting-" if lifting else "-group-")
    + fmt
    for c, lifting, fmt in CONV_CASES
]


@pytest.mark.parametrize("case, lifting, data_format", CONV_CASES, ids=CONV_IDS)
def test_output_matches_numpy_reference(case, lifting, data_format):
    case = dict(case)
    k = case.pop("kernel_size", 3)
    order = gref.ORDERS[case["group"]]
    x = rand(2, 9, 8, 2) if lifting else rand(2, 9, 8, order, 2)
    layer = kcl.GroupConv2D(3, k, data_format=data_format, **case)
    x_in = x if data_format == CL else to_cf(x)
    layer(x_in)
    w, b = _randomize(layer)
    y = to_numpy(layer(x_in))
    expected = gref.group_conv2d(
        x,
        w,
        case["group"],
        b,
        strides=case.get("strides", 1),
        padding=case["padding"],
        dilation_rate=case.get("dilation_rate", 1),
    )
    if case.get("activation") == "relu":
        expected = np.maximum(expected, 0)
    if data_format == CF:
        expected = to_cf(expected)
    assert y.shape == expected.shape == tuple(layer.compute_output_shape(x_in.shape))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "case, lifting, data_format",
    [
        (dict(group="C4", padding="same", use_bias=True, activation="relu"), True, CL),
        (dict(group="D4", padding="valid", strides=2, use_bias=True, weightnorm=True), False, CF),
        (dict(group="D4", padding="same", dilation_rate=2), False, CL),
    ],
    ids=["C4-bias-relu-lifting-cl", "D4-stride2-wn-group-cf", "D4-dilated-group-cl"],
)
def test_to_conv2d_equals_layer(case, lifting, data_format):
    order = gref.ORDERS[case["group"]]
    x = rand(2, 9, 9, 3, seed=3) if lifting else rand(2, 9, 9, order, 3, seed=3)
    x_in = x if data_format == CL else to_cf(x)
    layer = kcl.GroupConv2D(4, 3, data_format=data_format, **case)
    layer(x_in)
    _randomize(layer)
    if layer.weightnorm:
        layer.wn_g.assign(np.linspace(-1.0, 2.0, 4).astype("float32"))
    y = to_numpy(layer(x_in))
    conv = layer.to_conv2d()
    assert type(conv) is keras.layers.Conv2D and conv.built
    assert conv.filters == order * 4 and conv.data_format == data_format
    flat = x_in
    if not lifting:
        shape = x_in.shape[:3] + (-1,) if data_format == CL else (2, -1) + x_in.shape[3:]
        flat = x_in.reshape(shape)
    y_conv = to_numpy(run_keras_layer(conv, flat))
    np.testing.assert_allclose(y_conv.reshape(y.shape), y, rtol=1e-5, atol=1e-5)
    if layer.use_bias:
        np.testing.assert_array_equal(to_numpy(conv.bias), np.tile(to_numpy(layer.bias), order))


def test_weightnorm_and_equalize_apply_before_expansion():
    layer = kcl.GroupConv2D(3, 3, group="C4", weightnorm=True, data_format=CL)
    layer.build((None, 5, 5, 4, 2))
    w, _ = _randomize(layer)
    gain = np.array([0.5, -1.0, 2.0], "float32")
    layer.wn_g.assign(gain)
    expected = gref.expand_kernel(weightnorm_kernel(w, gain, layer.eps), "C4", 4)
    np.testing.assert_allclose(to_numpy(layer.expanded_kernel()), expected, rtol=1e-5, atol=1e-6)

    layer = kcl.GroupConv2D(3, 3, group="D4", equalize=True, data_format=CL)
    layer.build((None, 5, 5, 2))
    w, _ = _randomize(layer)
    expected = gref.expand_kernel(w * np.sqrt(2.0 / (3 * 3 * 2)), "D4", 1)
    np.testing.assert_allclose(to_numpy(layer.expanded_kernel()), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ equivariance
def _stack(group, data_format):
    return keras.Sequential(
        [
            kcl.GroupConv2D(
                4, 3, group=group, padding="same", use_bias=True, data_format=data_format
            ),
            kcl.GroupConv2D(
                3, 5, group=group, padding="same", activation="relu", data_format=data_format
            ),
            kcl.GroupConv2D(2, 3, group=group, padding="same", data_format=data_format),
        ]
    )


@pytest.mark.parametrize("group", ["C4", "D4"])
@pytest.mark.parametrize("data_format", [CL, CF])
def test_three_deep_stack_follows_the_documented_law(group, data_format):
    """rot90 of the input: rot90 of the output with group index (m, i) -> (m, i + 1);
    mirror (D4): mirror of the output with (m, i) -> (1 - m, -i)."""
    model = _stack(group, data_format)
    x = rand(2, 9, 11, 3, seed=5)  # odd sizes, non-square
    x_in = x if data_format == CL else to_cf(x)
    model(x_in)
    for layer in model.layers:
        if layer.bias is not None:
            layer.bias.assign(rand(*layer.bias.shape, seed=9))

    def run(images):
        images = np.ascontiguousarray(images)
        out = to_numpy(model(images if data_format == CL else to_cf(images)))
        return out.astype("float64") if data_format == CL else to_cl(out).astype("float64")

    y = run(x)
    scale = np.max(np.abs(y))
    assert scale > 0.1
    np.testing.assert_allclose(
        run(np.rot90(x, 1, axes=(1, 2))), gref.rotate_group_map(y), atol=1e-5
    )
    # The law is not trivially satisfied: a different group permutation fails.
    assert np.max(np.abs(run(np.rot90(x, 1, axes=(1, 2))) - np.rot90(y, 1, axes=(1, 2)))) > 1e-2
    if group == "D4":
        np.testing.assert_allclose(run(np.flip(x, axis=2)), gref.mirror_group_map(y), atol=1e-5)
    deviations = kcl.check_equivariance(
        model, x_in, group=group, data_format=data_format, return_all=True
    )
    assert len(deviations) == gref.ORDERS[group] - 1
    assert max(deviations.values()) <= 1e-5, deviations


@pytest.mark.parametrize(
    "group, data_format, mode",
    [("C4", CL, "max"), ("C4", CF, "mean"), ("D4", CF, "max"), ("D4", CL, "mean")],
)
def test_group_pooled_stack_is_invariant(group, data_format, mode):
    """max_g f(t(x)) == t(max_g f(x)) for every group element t."""
    stack = _stack(group, data_format)
    model = keras.Sequential([*stack.layers, kcl.GroupPooling2D(mode, data_format=data_format)])
    x = rand(1, 9, 9, 2, seed=6)
    x_in = x if data_format == CL else to_cf(x)
    y = to_numpy(model(x_in))
    assert y.ndim == 4
    y_cl = y if data_format == CL else to_cl(y)
    for g in range(1, gref.ORDERS[group]):
        x_t = np.ascontiguousarray(gref.act(x, g, axes=(1, 2)))
        y_t = to_numpy(model(x_t if data_format == CL else to_cf(x_t)))
        y_t = y_t if data_format == CL else to_cl(y_t)
        np.testing.assert_allclose(y_t, gref.act(y_cl, g, axes=(1, 2)), atol=1e-5)
    assert kcl.check_equivariance(model, x_in, group=group, data_format=data_format) <= 1e-5


def test_c4_layer_is_not_mirror_equivariant():
    """Only D4 has the mirror: a C4 stack fails the mirror law (the check can fail)."""
    model = keras.Sequential(
        [
            kcl.GroupConv2D(4, 3, group="C4", padding="same", data_format=CL),
            kcl.GroupPooling2D(data_format=CL),
        ]
    )
    x = rand(1, 9, 9, 2, seed=8)
    model(x)
    y = to_numpy(model(x))
    y_flip = to_numpy(model(np.ascontiguousarray(np.flip(x, axis=2))))
    assert np.max(np.abs(y_flip - np.flip(y, axis=2))) > 1e-2


# --------------------------------------------------------------- bad input
def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="`group`='P4'"):
        kcl.GroupConv2D(4, 3, group="P4")
    with pytest.raises(ValueError, match="group"):
        kcl.GroupConv2D(4, 3, group=4)
    with pytest.raises(ValueError, match="kernel_size"):
        kcl.GroupConv2D(4, 2, group="C4")
    with pytest.raises(ValueError, match="kernel_size"):
        kcl.GroupConv2D(4, (3, 5), group="C4")
    with pytest.raises(ValueError, match="filters"):
        kcl.GroupConv2D(0, 3)
    with pytest.raises(ValueError, match="`groups`"):
        kcl.GroupConv2D(4, 3, group="C4", groups=2)
    assert kcl.GroupConv2D(4, 3, group="d4").group == "D4"


@pytest.mark.parametrize(
    "group, data_format, shape",
    [
        ("C4", CL, (1, 7, 7, 8, 2)),
        ("D4", CL, (1, 7, 7, 4, 2)),
        ("C4", CF, (1, 8, 2, 7, 7)),
        ("D4", CF, (1, 2, 8, 7, 7)),  # channels_last layout given to a channels_first layer
    ],
)
def test_wrong_group_axis_raises(group, data_format, shape):
    layer = kcl.GroupConv2D(2, 3, group=group, data_format=data_format, name="gc")
    order = gref.ORDERS[group]
    with pytest.raises(ValueError, match=rf"GroupConv2D \('gc'\).*group='{group}'.*size {order}"):
        layer(np.zeros(shape, "float32"))


def test_wrong_rank_raises():
    layer = kcl.GroupConv2D(2, 3, group="C4", data_format=CL, name="gc")
    with pytest.raises(ValueError, match=r"GroupConv2D \('gc'\).*rank 4.*or 5"):
        layer(np.zeros((1, 7, 7), "float32"))
    layer = kcl.GroupConv2D(2, 3, group="C4", data_format=CL)
    layer(np.zeros((1, 7, 7, 4, 2), "float32"))
    with pytest.raises(ValueError):  # input_spec: built for 5-D input
        layer(np.zeros((1, 7, 7, 2), "float32"))


def test_expanded_kernel_before_build_raises():
    with pytest.raises(ValueError, match="build"):
        kcl.GroupConv2D(2, 3).expanded_kernel()


# ------------------------------------------------------- config, gradients
def test_get_config_has_group_not_groups():
    config = kcl.GroupConv2D(2, 3, group="C4", padding="same").get_config()
    assert config["group"] == "C4" and "groups" not in config
    clone = kcl.GroupConv2D.from_config(config)
    assert clone.group == "C4" and clone.padding == "same"


def test_unknown_spatial_size_functional_model():
    inputs = keras.Input((None, None, 4, 2))
    layer = kcl.GroupConv2D(3, 3, group="C4", padding="same", data_format=CL)
    model = keras.Model(inputs, layer(inputs))
    assert tuple(model.output.shape) == (None, None, None, 4, 3)
    for size in [(5, 7), (8, 6)]:
        x = rand(2, *size, 4, 2)
        np.testing.assert_allclose(to_numpy(model(x)), to_numpy(layer(x)), atol=1e-6)
        assert to_numpy(model(x)).shape == (2, *size, 4, 3)


@pytest.mark.parametrize("situation, lifting", [("zero_kernel", False), ("constant_input", True)])
def test_degenerate_inputs_give_finite_values_and_gradients(situation, lifting):
    layer = kcl.GroupConv2D(
        2, 3, group="D4", padding="same", use_bias=True, weightnorm=True, data_format=CL
    )
    x = rand(1, 5, 5, 2) if lifting else rand(1, 5, 5, 8, 2)
    x = degenerate_conv_case(layer, x, situation)
    y, value, g_x, g_w = layer_value_and_grads(layer, x)
    assert_all_finite(y, value, g_x, g_w, expected_weights=["kernel", "wn_g", "bias"])
