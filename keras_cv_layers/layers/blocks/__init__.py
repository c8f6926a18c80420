"""Building blocks: squeeze-excitation, MBConv and local self-attention."""

from keras_cv_layers.layers.blocks.mb_conv import MBConv
from keras_cv_layers.layers.blocks.multi_headed_spatial_attention import (
    MultiHeadedSpatialAttention,
)
from keras_cv_layers.layers.blocks.se_block import SEBlock

__all__: list[str] = ["MBConv", "MultiHeadedSpatialAttention", "SEBlock"]
