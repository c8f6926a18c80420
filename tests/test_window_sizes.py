"""A window that does not fit its input is a `ValueError` naming the layer.

Every layer whose output size comes from a window (convolutions of every
family, pooling, blur, deformable, attention, blocks) computes its output
size with Keras' arithmetic and raises when a size is zero or negative: at
build for symbolic input, at build and at every later call for eager input,
before any kernel runs (TensorFlow's CPU kernels return uninitialised memory
of the wrong shape for such inputs instead of raising).  The functional ops
do the same, naming the op.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl

CL = "channels_last"

#: (id, layer factory, a too-small input shape, a fitting input shape); all
#: channels_last (the layers are built with data_format="channels_last").
LAYERS = [
    (
        "Conv1D_dilated",
        lambda: kcl.Conv1D(1, 2, dilation_rate=10, data_format=CL),
        (2, 10, 3),
        (2, 11, 3),
    ),
    ("Conv2D_valid", lambda: kcl.Conv2D(6, 5, data_format=CL), (3, 4, 4, 4), (3, 5, 5, 4)),
    ("Conv3D_valid", lambda: kcl.Conv3D(2, 3, data_format=CL), (1, 2, 4, 4, 2), (1, 3, 3, 3, 2)),
    (
        "DepthwiseConv2D_strided",
        lambda: kcl.DepthwiseConv2D(5, strides=2, data_format=CL),
        (2, 4, 4, 3),
        (2, 5, 5, 3),
    ),
    ("WSConv2D", lambda: kcl.WSConv2D(4, 3, data_format=CL), (2, 2, 5, 3), (2, 3, 5, 3)),
    ("SWSConv1D", lambda: kcl.SWSConv1D(4, 3, data_format=CL), (2, 2, 3), (2, 3, 3)),
    ("CoordConv2D", lambda: kcl.CoordConv2D(4, 3, data_format=CL), (2, 2, 2, 3), (2, 3, 3, 3)),
    (
        "GroupConv2D_lifting",
        lambda: kcl.GroupConv2D(2, 3, group="C4", data_format=CL),
        (2, 2, 2, 3),
        (2, 3, 3, 3),
    ),
    ("PartialConv2D", lambda: kcl.PartialConv2D(4, 3, data_format=CL), (2, 2, 2, 3), (2, 3, 3, 3)),
    ("SparseConv2D", lambda: kcl.SparseConv2D(4, 3, data_format=CL), (2, 2, 9, 3), (2, 3, 9, 3)),
    (
        "PartialDepthwiseConv2D",
        lambda: kcl.PartialDepthwiseConv2D(3, strides=2, data_format=CL),
        (2, 2, 2, 3),
        (2, 3, 3, 3),
    ),
    (
        "DeformableConv2D",
        lambda: kcl.DeformableConv2D(4, 3, dilation_rate=2, data_format=CL),
        (2, 4, 4, 2),
        (2, 5, 5, 2),
    ),
    (
        "MaxPoolingWithArgmax2D_valid",
        lambda: kcl.MaxPoolingWithArgmax2D(3, strides=2, padding="valid", data_format=CL),
        (2, 2, 8, 3),
        (2, 3, 8, 3),
    ),
    ("Blur2D_valid", lambda: kcl.Blur2D(4, data_format=CL), (2, 3, 3, 2), (2, 4, 4, 2)),
    # Windows centred on each pixel ("same", stride 1): only an empty
    # spatial axis gives a zero output size.
    (
        "MaxPoolingWithRelativePosition2D",
        lambda: kcl.MaxPoolingWithRelativePosition2D(3, data_format=CL),
        (2, 0, 4, 2),
        (2, 1, 4, 2),
    ),
    (
        "MultiHeadedSpatialAttention",
        lambda: kcl.MultiHeadedSpatialAttention(4, 3, data_format=CL),
        (2, 4, 0, 4),
        (2, 1, 1, 4),
    ),
    ("MBConv", lambda: kcl.MBConv(4, strides=2, data_format=CL), (2, 0, 3, 4), (2, 1, 1, 4)),
    (
        "Conv2D_same_empty_axis",
        lambda: kcl.Conv2D(4, 3, padding="same", data_format=CL),
        (2, 0, 5, 3),
        (2, 1, 1, 3),
    ),
]
IDS = [case[0] for case in LAYERS]


def _inputs(layer, shape, symbolic: bool):
    """`x` as `keras.Input` (with its batch size) or numpy."""
    if symbolic:
        x = keras.Input(shape[1:], batch_size=shape[0])
    else:
        x = np.random.default_rng(0).normal(size=shape).astype("float32")
    return x


def _assert_names_layer(error: ValueError, layer, shape) -> None:
    """The message names the layer and shows the input shape."""
    message = str(error)
    assert f"({layer.name!r})" in message.replace('"', "'"), message
    assert "zero or negative" in message and str(tuple(shape)) in message, message


@pytest.mark.parametrize("make, small, fits", [c[1:] for c in LAYERS], ids=IDS)
def test_symbolic_input_too_small(make, small, fits):
    layer = make()
    with pytest.raises(ValueError) as info:
        layer(_inputs(layer, small, symbolic=True))
    _assert_names_layer(info.value, layer, small)


@pytest.mark.parametrize("make, small, fits", [c[1:] for c in LAYERS], ids=IDS)
def test_eager_input_too_small(make, small, fits):
    layer = make()
    with pytest.raises(ValueError) as info:
        layer(_inputs(layer, small, symbolic=False))
    _assert_names_layer(info.value, layer, small)


@pytest.mark.parametrize("make, small, fits", [c[1:] for c in LAYERS], ids=IDS)
def test_too_small_after_building_on_a_fitting_input(make, small, fits):
    """Built (and run) on an input that fits, then called eagerly on one
    that does not: the call raises before any kernel runs, on every backend
    (TF would otherwise return a tensor of the wrong shape)."""
    layer = make()
    y = layer(_inputs(layer, fits, symbolic=False))
    for t in y if isinstance(y, (list, tuple)) else [y]:
        assert all(d > 0 for d in t.shape[1:])
    with pytest.raises(ValueError) as info:
        layer(_inputs(layer, small, symbolic=False))
    _assert_names_layer(info.value, layer, small)


def test_the_issue_examples():
    x = np.zeros((3, 4, 4, 4), "float32")
    with pytest.raises(ValueError, match="conv2d.*zero or negative"):
        kcl.Conv2D(6, 5, padding="valid", data_format=CL)(x)
    with pytest.raises(ValueError, match="zero or negative"):
        keras.Model(
            *(lambda i: (i, kcl.Conv1D(1, 2, dilation_rate=10, data_format=CL)(i)))(
                keras.Input((10, 3))
            )
        )
    with pytest.raises(ValueError, match="depthwise_conv2d.*zero or negative"):
        kcl.DepthwiseConv2D(5, strides=2, data_format=CL)(np.zeros((2, 4, 4, 3), "float32"))
    # Keras raises too, for the same arguments.
    with pytest.raises(ValueError):
        keras.layers.Conv2D(6, 5, data_format=CL)(x)


def test_functional_ops_too_small():
    x = np.zeros((1, 2, 2, 4), "float32")
    with pytest.raises(ValueError, match="deform_conv2d.*zero or negative"):
        kcl.ops.deform_conv2d(
            x,
            np.zeros((1, 1, 1, 18), "float32"),
            np.zeros((3, 3, 4, 2), "float32"),
            data_format=CL,
        )
    with pytest.raises(ValueError, match="max_pool_with_argmax2d.*zero or negative"):
        kcl.ops.max_pool_with_argmax2d(x, 3, padding="valid", data_format=CL)
    with pytest.raises(ValueError, match="zero or negative"):
        kcl.ops.blur_pool2d(x, 3, padding="valid", data_format=CL)
    with pytest.raises(ValueError, match="zero or negative"):
        kcl.ops.partial_conv(
            x,
            np.ones((1, 2, 2, 1), "float32"),
            np.zeros((3, 3, 4, 2), "float32"),
            data_format=CL,
        )
    with pytest.raises(ValueError, match="zero or negative"):
        kcl.ops.max_pool_with_argmax2d(keras.Input((2, 2, 4)), 3, padding="valid", data_format=CL)
