"""Group-equivariant layers (p4 / p4m): GroupConv2D and GroupPooling2D, and
`check_equivariance` to measure a model's deviation from the equivariance law."""

from keras_cv_layers.layers.equivariant.group_conv2d import GroupConv2D
from keras_cv_layers.layers.equivariant.group_pooling2d import GroupPooling2D
from keras_cv_layers.utils.equivariance import check_equivariance

__all__: list[str] = ["GroupConv2D", "GroupPooling2D", "check_equivariance"]
