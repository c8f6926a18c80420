"""Fast paths of local self-attention (`keras_cv_layers.ops.attention`)."""

from keras_cv_layers.backend_kernels import FastPath

masked_softmax = FastPath(__name__, "masked_softmax")
local_windows2d = FastPath(__name__, "local_windows2d")
blocked_attention = FastPath(__name__, "blocked_attention")
