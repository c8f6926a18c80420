"""Harness cases (see tests/harness.py) of the equivariant layers.

Group feature maps are 5-D: `(B, H, W, G, C)` channels_last and
`(B, G, C, H, W)` channels_first, so the 5-D cases use `GroupLayerCase`,
which lays inputs out that way and leaves only H and W unknown in the
unknown-spatial-size check (the group axis size is part of the contract).
"""

import dataclasses

import keras
import numpy as np

import keras_cv_layers as kcl
from tests.harness import LayerCase


@dataclasses.dataclass
class GroupLayerCase(LayerCase):
    """A case whose input is a 5-D group feature map (shapes channels_last)."""

    def to_layout(self, x: np.ndarray) -> np.ndarray:
        return np.transpose(x, (0, 3, 4, 1, 2)) if self.channels_first else x

    def symbolic_inputs(self, unknown_spatial: bool = False, batch_size: int | None = None):
        shape = list(self.to_layout(np.zeros(self.input_shape, "float32")).shape[1:])
        if unknown_spatial:
            for axis in (2, 3) if self.channels_first else (0, 1):
                shape[axis] = None
        return keras.Input(tuple(shape), batch_size=batch_size, dtype="float32")


CASES: list = [
    LayerCase(
        "GroupConv2D_C4_lifting",
        kcl.GroupConv2D,
        dict(filters=3, kernel_size=3, group="C4", padding="same", use_bias=True),
        (2, 7, 7, 2),
    ),
    LayerCase(
        "GroupConv2D_D4_lifting_strided",
        kcl.GroupConv2D,
        dict(filters=2, kernel_size=3, group="D4", strides=2, activation="relu", use_bias=True),
        (2, 9, 8, 3),
    ),
    GroupLayerCase(
        "GroupConv2D_C4_group",
        kcl.GroupConv2D,
        dict(filters=3, kernel_size=3, group="C4", padding="same", use_bias=True),
        (2, 7, 7, 4, 2),
        other_spatial=(10, 9, 4),
    ),
    GroupLayerCase(
        "GroupConv2D_D4_group_weightnorm",
        kcl.GroupConv2D,
        dict(
            filters=2,
            kernel_size=3,
            group="D4",
            dilation_rate=2,
            weightnorm=True,
            use_bias=True,
        ),
        (2, 7, 8, 8, 2),
        other_spatial=(9, 10, 8),
    ),
    GroupLayerCase(
        "GroupPooling2D_max",
        kcl.GroupPooling2D,
        dict(mode="max"),
        (2, 5, 6, 4, 3),
        other_spatial=(7, 4, 4),
    ),
    GroupLayerCase(
        "GroupPooling2D_mean",
        kcl.GroupPooling2D,
        dict(mode="mean"),
        (2, 5, 5, 8, 3),
        other_spatial=(6, 7, 8),
    ),
]
