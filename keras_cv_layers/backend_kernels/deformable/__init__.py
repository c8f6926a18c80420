"""Fast paths of the deformable convolution (`keras_cv_layers.ops.deformable`)."""

from keras_cv_layers.backend_kernels import FastPath

deform_conv2d = FastPath(__name__, "deform_conv2d")
