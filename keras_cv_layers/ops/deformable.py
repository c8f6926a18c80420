"""Deformable convolution as a function: `deform_conv2d`."""

__all__: list[str] = []
