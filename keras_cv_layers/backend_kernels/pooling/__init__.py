"""Fast paths of argmax pooling and unpooling (`keras_cv_layers.ops.pooling`)."""

from keras_cv_layers.backend_kernels import FastPath

max_pool_with_argmax2d = FastPath(__name__, "max_pool_with_argmax2d")
max_unpool2d = FastPath(__name__, "max_unpool2d")
