"""Registration helper: every public class is registered under our package."""

import keras

PACKAGE = "keras_cv_layers"


def register(cls):
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
