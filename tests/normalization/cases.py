"""Harness cases (see tests/harness.py) of the normalization layers."""

import keras_cv_layers as kcl
from tests.harness import LayerCase

IMG = (2, 9, 9, 4)

CASES = [
    LayerCase("LayerNormalization", kcl.LayerNormalization, {}, IMG),
    LayerCase("InstanceNormalization", kcl.InstanceNormalization, {}, IMG),
    LayerCase("PFLayerNorm", kcl.PFLayerNorm, {}, IMG),
    LayerCase("CLayerNorm", kcl.CLayerNorm, {}, IMG),
]
