from keras_cv_layers.layers.activations.mish import Mish
from keras_cv_layers.layers.activations.swish import Swish
