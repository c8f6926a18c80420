"""Harness cases (see tests/harness.py) of the blocks layers."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

IMG = (2, 9, 9, 4)
SMALL = (2, 6, 6, 4)

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
        "MBConv_dilated",
        kcl.MBConv,
        dict(filters=4, expand_ratio=2, se_ratio=0.0, dilation_rate=2),
        SMALL,
    ),
    LayerCase(
        "FusedMBConv_residual_se_drop",
        kcl.FusedMBConv,
        dict(filters=4, expand_ratio=2, se_ratio=0.25, drop_rate=0.2, seed=1),
        SMALL,
    ),
    LayerCase(
        "FusedMBConv_stride2_noexpand_se",
        kcl.FusedMBConv,
        dict(filters=6, expand_ratio=1, strides=2, se_ratio=0.5),
        SMALL,
    ),
    # 8 channels: the adaptive kernel size is 3 (4 channels would give 1).
    LayerCase("ECA_adaptive", kcl.ECA, dict(), (2, 6, 6, 8)),
    # ratio 2 on 8 channels: 4 hidden units, so that a ReLU unit is live.
    LayerCase("CBAM_ratio2_k3", kcl.CBAM, dict(ratio=2, kernel_size=3), (2, 6, 6, 8)),
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
