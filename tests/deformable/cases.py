"""Harness cases (see tests/harness.py) of the deformable layers."""

import numpy as np

import keras_cv_layers as kcl
from tests.harness import LayerCase


def _given_offsets(modulated: bool):
    """`extra_inputs` of a 3x3, stride-1 "same" layer with one offset group:
    offsets (and a mask in (0, 1)) at the input's spatial size, in its layout."""

    def extra_inputs(x, rng, channels_first):
        shape = x.shape[2:] if channels_first else x.shape[1:3]

        def make(channels, values):
            array = values(size=(x.shape[0], *shape, channels)).astype("float32")
            return np.moveaxis(array, -1, 1) if channels_first else array

        extras = [make(18, lambda size: rng.normal(scale=1.5, size=size))]
        if modulated:
            extras.append(make(9, lambda size: rng.uniform(size=size)))
        return extras

    return extra_inputs


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
    LayerCase(
        "DeformableConv2D_given_offsets",
        kcl.DeformableConv2D,
        dict(filters=4, kernel_size=3, padding="same", use_bias=True),
        (2, 6, 6, 3),
        extra_inputs=_given_offsets(modulated=False),
    ),
    LayerCase(
        "DeformableConv2D_given_offsets_mask",
        kcl.DeformableConv2D,
        dict(filters=4, kernel_size=3, padding="same", modulated=True),
        (2, 6, 6, 3),
        extra_inputs=_given_offsets(modulated=True),
    ),
    LayerCase(
        "DeformableConv2D_strided_dilated_lr",
        kcl.DeformableConv2D,
        dict(
            filters=4,
            kernel_size=3,
            strides=2,
            dilation_rate=2,
            padding="same",
            modulated=True,
            offset_lr_multiplier=0.1,
        ),
        (2, 7, 6, 3),
    ),
]
