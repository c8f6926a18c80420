"""Harness cases (see tests/harness.py) of the blocks layers."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

IMG = (2, 9, 9, 4)

CASES: list = [
    LayerCase("SEBlock_ratio2", kcl.SEBlock, dict(ratio=2), IMG),
    LayerCase(
        "MBConv_residual_drop",
        kcl.MBConv,
        dict(filters=4, expand_ratio=2, drop_rate=0.2, seed=1),
        IMG,
    ),
    LayerCase(
        "MBConv_stride2_noexpand_nose",
        kcl.MBConv,
        dict(filters=6, kernel_size=5, strides=2, expand_ratio=1, se_ratio=0.0),
        IMG,
    ),
    LayerCase(
        "MultiHeadedSpatialAttention_gaussian",
        kcl.MultiHeadedSpatialAttention,
        dict(filters=4, kernel_size=3, heads=2),
        IMG,
    ),
    LayerCase(
        "MultiHeadedSpatialAttention_none_dilated",
        kcl.MultiHeadedSpatialAttention,
        dict(filters=6, kernel_size=(3, 2), heads=1, dilation_rate=2, position=None),
        IMG,
    ),
    # 16x16 with 16 channels per head: the blocked (halo) path; the unknown-size
    # check's second size (19x19) takes the direct path.
    LayerCase(
        "MultiHeadedSpatialAttention_learned_blocked",
        kcl.MultiHeadedSpatialAttention,
        dict(filters=32, kernel_size=3, heads=2, position="learned"),
        (2, 16, 16, 4),
    ),
]
