from keras_cv_layers.layers.core.resize2d import Resize2D
from keras_cv_layers.layers.core.scale import Scale
from keras_cv_layers.layers.core.split import Split
