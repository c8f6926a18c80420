from keras_cv_layers.layers.convolutional.add_coords2d import AddCoords2D
from keras_cv_layers.layers.convolutional.base_conv import BaseConv
from keras_cv_layers.layers.convolutional.conv1d import Conv1D
from keras_cv_layers.layers.convolutional.conv2d import Conv2D
from keras_cv_layers.layers.convolutional.conv3d import Conv3D
from keras_cv_layers.layers.convolutional.coord_conv2d import CoordConv2D
from keras_cv_layers.layers.convolutional.depthwise_conv2d import DepthwiseConv2D
from keras_cv_layers.layers.convolutional.sws_conv import SWSConv1D, SWSConv2D, SWSConv3D
from keras_cv_layers.layers.convolutional.ws_conv import WSConv1D, WSConv2D, WSConv3D
