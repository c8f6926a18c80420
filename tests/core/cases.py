"""Harness cases (see tests/harness.py) of the utility layers."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

IMG = (2, 9, 9, 4)

CASES = [
    LayerCase("Scale", kcl.Scale, {}, IMG),
    LayerCase("Split", kcl.Split, dict(num_or_size_splits=[1, 3]), IMG, spatial=False),
    LayerCase("Resize2D", kcl.Resize2D, dict(size=(4, 6)), IMG),
]
