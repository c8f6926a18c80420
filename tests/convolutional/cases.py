"""Harness cases (see tests/harness.py) of the convolutions and coordinate layers."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

IMG = (2, 9, 9, 4)

CASES = [
    LayerCase(
        "Conv1D_causal",
        kcl.Conv1D,
        dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2, use_bias=True),
        (2, 9, 4),
    ),
    LayerCase(
        "Conv1D_weightnorm",
        kcl.Conv1D,
        dict(filters=4, kernel_size=3, strides=2, weightnorm=True),
        (2, 9, 4),
    ),
    LayerCase(
        "Conv2D_weightnorm",
        kcl.Conv2D,
        dict(filters=6, kernel_size=3, padding="same", weightnorm=True, use_bias=True),
        IMG,
    ),
    LayerCase(
        "Conv2D_equalize_groups",
        kcl.Conv2D,
        dict(filters=4, kernel_size=3, strides=2, groups=2, equalize=True),
        IMG,
    ),
    LayerCase(
        "Conv3D_weightnorm",
        kcl.Conv3D,
        dict(filters=3, kernel_size=3, padding="same", weightnorm=True),
        (2, 5, 5, 5, 2),
    ),
    LayerCase(
        "DepthwiseConv2D_weightnorm",
        kcl.DepthwiseConv2D,
        dict(kernel_size=3, depth_multiplier=2, padding="same", weightnorm=True, use_bias=True),
        IMG,
    ),
    LayerCase(
        "DepthwiseConv2D_equalize",
        kcl.DepthwiseConv2D,
        dict(kernel_size=3, strides=2, equalize=True),
        IMG,
    ),
    LayerCase("WSConv1D", kcl.WSConv1D, dict(filters=4, kernel_size=3), (2, 9, 4)),
    LayerCase(
        "WSConv2D_groups",
        kcl.WSConv2D,
        dict(filters=4, kernel_size=3, padding="same", groups=2),
        IMG,
    ),
    LayerCase("WSConv3D", kcl.WSConv3D, dict(filters=3, kernel_size=3), (2, 5, 5, 5, 2)),
    LayerCase(
        "SWSConv1D",
        kcl.SWSConv1D,
        dict(filters=4, kernel_size=3, preceding_activation="gelu"),
        (2, 9, 4),
    ),
    LayerCase(
        "SWSConv2D_silu",
        kcl.SWSConv2D,
        dict(filters=4, kernel_size=3, padding="same", preceding_activation="silu"),
        IMG,
    ),
    LayerCase(
        "SWSConv3D_fixed_gain",
        kcl.SWSConv3D,
        dict(filters=3, kernel_size=3, learnable_gain=False, gamma=1.5),
        (2, 5, 5, 5, 2),
    ),
    LayerCase("AddCoords2D_with_r", kcl.AddCoords2D, dict(with_r=True), IMG),
    LayerCase(
        "CoordConv2D_with_r",
        kcl.CoordConv2D,
        dict(filters=4, kernel_size=3, with_r=True, padding="same"),
        IMG,
    ),
]
