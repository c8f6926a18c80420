"""Harness cases (see tests/harness.py) of the deformable layers."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

CASES: list = [
    LayerCase(
        "DeformableConv2D_same",
        kcl.DeformableConv2D,
        dict(filters=4, kernel_size=3, padding="same", use_bias=True),
        (2, 7, 7, 4),
    ),
    LayerCase(
        "DeformableConv2D_modulated_groups",
        kcl.DeformableConv2D,
        dict(
            filters=4,
            kernel_size=3,
            strides=2,
            padding="same",
            offset_groups=2,
            groups=2,
            modulated=True,
            activation="relu",
        ),
        (2, 8, 7, 4),
    ),
    LayerCase(
        "DeformableConv2D_dilated_valid",
        kcl.DeformableConv2D,
        dict(filters=3, kernel_size=(3, 2), dilation_rate=2, weightnorm=True),
        (2, 7, 6, 2),
    ),
]
