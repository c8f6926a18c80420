"""Harness cases (see tests/harness.py) of the activations."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

IMG = (2, 9, 9, 4)

CASES = [
    LayerCase("Mish", kcl.Mish, {}, IMG, spatial=False),
    LayerCase("Swish_trainable", kcl.Swish, dict(beta=1.5, trainable=True), IMG, spatial=False),
]
