"""Building blocks: squeeze-excitation, ECA and CBAM attention, MBConv and
FusedMBConv, and local self-attention."""

from keras_cv_layers.layers.blocks.cbam import CBAM
from keras_cv_layers.layers.blocks.eca import ECA
from keras_cv_layers.layers.blocks.fused_mb_conv import FusedMBConv
from keras_cv_layers.layers.blocks.mb_conv import MBConv
from keras_cv_layers.layers.blocks.multi_headed_spatial_attention import (
    MultiHeadedSpatialAttention,
)
from keras_cv_layers.layers.blocks.se_block import SEBlock

__all__: list[str] = [
    "CBAM",
    "ECA",
    "FusedMBConv",
    "MBConv",
    "MultiHeadedSpatialAttention",
    "SEBlock",
]
