"""Deformable convolutions (DCN v1 / v2)."""

from keras_cv_layers.layers.deformable.deformable_conv2d import DeformableConv2D

__all__: list[str] = ["DeformableConv2D"]
