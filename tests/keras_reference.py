"""Calling Keras' own layers as references on every machine."""

import keras


def run_keras_layer(layer, x):
    """`layer(x)`; on TensorFlow inside XLA, where channels_first (NCHW)
    convolutions and unequal depthwise strides work on any CPU (TF's own
    CPU kernels reject both unless oneDNN is on)."""
    if keras.backend.backend() != "tensorflow":
        return layer(x)
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    if not layer.built:
        layer.build(tuple(x.shape))
    return tf.function(layer, jit_compile=True)(x)
