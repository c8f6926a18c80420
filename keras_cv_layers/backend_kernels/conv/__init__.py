"""Fast paths of the convolution ops (`keras_cv_layers.ops.conv`)."""

from keras_cv_layers.backend_kernels import FastPath

conv = FastPath(__name__, "conv")
depthwise_conv = FastPath(__name__, "depthwise_conv")
weight_standardize = FastPath(__name__, "weight_standardize")
