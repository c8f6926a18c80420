"""A small EfficientNet-like model built from kcl.MBConv learns a synthetic task."""

import keras
import numpy as np

import keras_cv_layers as kcl

SIZE, CLASSES = 8, 4


def _data(n, seed):
    """Class = the quadrant holding a bright 2×2 blob, on Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.5, size=(n, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=n)
    half = SIZE // 2
    for i, label in enumerate(y):
        r0, c0 = (label // 2) * half, (label % 2) * half
        r, c = r0 + rng.integers(0, half - 1), c0 + rng.integers(0, half - 1)
        x[i, r : r + 2, c : c + 2] += 2.5
    if keras.config.image_data_format() == "channels_first":
        x = np.moveaxis(x, -1, 1)
    return x, y.astype("int32")


def _model():
    shape = (SIZE, SIZE, 3)
    if keras.config.image_data_format() == "channels_first":
        shape = (3, SIZE, SIZE)
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(axis=1 if shape[0] == 3 else -1)(x)
    x = keras.layers.Activation("swish")(x)
    x = kcl.MBConv(8, expand_ratio=1, seed=0)(x)
    x = kcl.MBConv(12, strides=2, expand_ratio=3, seed=1)(x)
    x = kcl.MBConv(12, expand_ratio=3, drop_rate=0.1, seed=2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_efficientnet_like_model_trains():
    keras.utils.set_random_seed(0)
    x_train, y_train = _data(256, seed=0)
    x_test, y_test = _data(128, seed=1)
    model = _model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=16, epochs=15, verbose=0, shuffle=True)
    # Inference mode: BatchNormalization moving statistics, no stochastic depth.
    accuracy = float(model.evaluate(x_test, y_test, batch_size=128, verbose=0)[1])
    assert accuracy >= 0.9, accuracy
