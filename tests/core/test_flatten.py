"""kcl.Flatten (SPEC "Additions (second release)")."""

import keras

import keras_cv_layers as kcl


def test_flatten_is_keras_flatten():
    """Re-exported, not re-implemented: the same class object."""
    assert kcl.Flatten is keras.layers.Flatten
    assert "Flatten" in kcl.__all__
