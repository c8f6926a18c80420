"""Harness cases (see tests/harness.py) of the layer wrappers.

The wrapped layer is given as a config, so that each `case.make()` builds
its own layer; the Keras convolutions get no `data_format`, so they take
`keras.config.image_data_format()` as the harness expects."""

import keras_cv_layers as kcl
from tests.harness import LayerCase


def keras_layer(class_name: str, **config) -> dict:
    """The config of `keras.layers.<class_name>(**config)`."""
    return {"module": "keras.layers", "class_name": class_name, "config": config}


CASES: list = [
    LayerCase(
        "WeightNormalization_dense",
        kcl.WeightNormalization,
        dict(layer=keras_layer("Dense", units=3)),
        (2, 5),
        spatial=False,
    ),
    LayerCase(
        "WeightNormalization_conv2d",
        kcl.WeightNormalization,
        dict(layer=keras_layer("Conv2D", filters=3, kernel_size=3, padding="same")),
        (2, 6, 6, 2),
    ),
    LayerCase(
        "WeightNormalization_conv2d_transpose_data_init",
        kcl.WeightNormalization,
        dict(
            layer=keras_layer("Conv2DTranspose", filters=3, kernel_size=3, strides=2),
            data_init=True,
        ),
        (2, 4, 4, 2),
    ),
]
