"""Masked convolutions: sparse and partial convolutions with mask propagation."""

from keras_cv_layers.layers.masked.partial_conv import PartialConv1D, PartialConv2D, PartialConv3D
from keras_cv_layers.layers.masked.partial_depthwise_conv2d import PartialDepthwiseConv2D
from keras_cv_layers.layers.masked.sparse_conv import SparseConv1D, SparseConv2D, SparseConv3D

__all__: list[str] = [
    "PartialConv1D",
    "PartialConv2D",
    "PartialConv3D",
    "PartialDepthwiseConv2D",
    "SparseConv1D",
    "SparseConv2D",
    "SparseConv3D",
]
