"""Constructor values a hostile (or careless) user passes: non-finite or
non-positive `eps`/`gamma`, non-bool flags.  Each is a `ValueError` naming
the argument, at construction and when a tampered `.keras` file is loaded
(accepted, they gave NaN or silently different outputs)."""

from __future__ import annotations

import json
import os
import zipfile

import keras
import numpy as np
import pytest

import keras_cv_layers as kcl

#: Every layer taking `eps`, with its other required arguments.
EPS_LAYERS = {
    "Conv1D": lambda **kw: kcl.Conv1D(2, 3, **kw),
    "Conv2D": lambda **kw: kcl.Conv2D(2, 3, **kw),
    "Conv3D": lambda **kw: kcl.Conv3D(2, 3, **kw),
    "DepthwiseConv2D": lambda **kw: kcl.DepthwiseConv2D(3, **kw),
    "WSConv1D": lambda **kw: kcl.WSConv1D(2, 3, **kw),
    "WSConv2D": lambda **kw: kcl.WSConv2D(2, 3, **kw),
    "WSConv3D": lambda **kw: kcl.WSConv3D(2, 3, **kw),
    "SWSConv1D": lambda **kw: kcl.SWSConv1D(2, 3, **kw),
    "SWSConv2D": lambda **kw: kcl.SWSConv2D(2, 3, **kw),
    "SWSConv3D": lambda **kw: kcl.SWSConv3D(2, 3, **kw),
    "CoordConv2D": lambda **kw: kcl.CoordConv2D(2, 3, **kw),
    "GroupConv2D": lambda **kw: kcl.GroupConv2D(2, 3, **kw),
    "DeformableConv2D": lambda **kw: kcl.DeformableConv2D(2, 3, **kw),
    "PartialConv1D": lambda **kw: kcl.PartialConv1D(2, 3, **kw),
    "PartialConv2D": lambda **kw: kcl.PartialConv2D(2, 3, **kw),
    "PartialConv3D": lambda **kw: kcl.PartialConv3D(2, 3, **kw),
    "SparseConv1D": lambda **kw: kcl.SparseConv1D(2, 3, **kw),
    "SparseConv2D": lambda **kw: kcl.SparseConv2D(2, 3, **kw),
    "SparseConv3D": lambda **kw: kcl.SparseConv3D(2, 3, **kw),
    "PartialDepthwiseConv2D": lambda **kw: kcl.PartialDepthwiseConv2D(3, **kw),
    "LayerNormalization": lambda **kw: kcl.LayerNormalization(**kw),
    "InstanceNormalization": lambda **kw: kcl.InstanceNormalization(**kw),
    "PFLayerNorm": lambda **kw: kcl.PFLayerNorm(**kw),
    "CLayerNorm": lambda **kw: kcl.CLayerNorm(**kw),
}
BAD_POSITIVE = [float("nan"), float("inf"), -float("inf"), 0, 0.0, -1e-6, "1e-6", True, None]

#: (layer, flag): every bool argument of a public layer.
FLAGS = [
    ("Conv2D", "use_bias"),
    ("Conv2D", "weightnorm"),
    ("Conv2D", "equalize"),
    ("DepthwiseConv2D", "weightnorm"),
    ("WSConv2D", "use_bias"),
    ("SWSConv2D", "learnable_gain"),
    ("CoordConv2D", "with_r"),
    ("GroupConv2D", "equalize"),
    ("DeformableConv2D", "modulated"),
    ("PartialConv2D", "binary"),
    ("SparseConv2D", "binary"),
    ("PartialDepthwiseConv2D", "use_bias"),
]
OTHER_FLAGS = {
    "AddCoords2D": (lambda **kw: kcl.AddCoords2D(**kw), "with_r"),
    "Scale_use_shift": (lambda **kw: kcl.Scale(**kw), "use_shift"),
    "Scale_use_scale": (lambda **kw: kcl.Scale(**kw), "use_scale"),
    "MBConv": (lambda **kw: kcl.MBConv(4, **kw), "residual"),
    "MultiHeadedSpatialAttention": (
        lambda **kw: kcl.MultiHeadedSpatialAttention(4, 3, **kw),
        "use_bias",
    ),
}
BAD_FLAGS = ["False", "True", 0, 1, None, 1.0]


@pytest.mark.parametrize("bad", BAD_POSITIVE, ids=repr)
@pytest.mark.parametrize("name", list(EPS_LAYERS))
def test_eps_must_be_finite_and_positive(name, bad):
    with pytest.raises(ValueError, match=f"{name}.*`eps`"):
        EPS_LAYERS[name](eps=bad)


@pytest.mark.parametrize("name", list(EPS_LAYERS))
def test_good_eps_is_kept(name):
    assert EPS_LAYERS[name](eps=1e-3).get_config()["eps"] == 1e-3
    assert EPS_LAYERS[name](eps=np.float32(0.5)).eps == 0.5


@pytest.mark.parametrize("bad", BAD_POSITIVE, ids=repr)
def test_sws_gamma_must_be_finite_and_positive(bad):
    if bad is None:  # None: from preceding_activation
        assert kcl.SWSConv2D(2, 3, gamma=None).get_config()["gamma"] is None
        return
    with pytest.raises(ValueError, match="SWSConv2D.*`gamma`"):
        kcl.SWSConv2D(2, 3, gamma=bad)


@pytest.mark.parametrize("bad", BAD_FLAGS, ids=repr)
@pytest.mark.parametrize("name, flag", FLAGS, ids=[f"{n}-{f}" for n, f in FLAGS])
def test_conv_flags_must_be_bools(name, flag, bad):
    make = EPS_LAYERS[name]
    with pytest.raises(ValueError, match=f"`{flag}` must be a bool"):
        make(**{flag: bad})
    assert make(**{flag: np.bool_(False)}).get_config()[flag] is False


@pytest.mark.parametrize("bad", BAD_FLAGS, ids=repr)
@pytest.mark.parametrize("name", list(OTHER_FLAGS))
def test_other_flags_must_be_bools(name, bad):
    make, flag = OTHER_FLAGS[name]
    with pytest.raises(ValueError, match=f"`{flag}` must be a bool"):
        make(**{flag: bad})


def test_masked_ops_threshold_eps():
    """The ops' `eps` is only the validity threshold `norm > eps`: 0 is
    allowed there; NaN, inf and negatives are not."""
    x = np.ones((1, 4, 4, 2), "float32")
    mask = np.ones((1, 4, 4, 1), "float32")
    kernel = np.ones((3, 3, 2, 1), "float32")
    kcl.ops.partial_conv(x, mask, kernel, data_format="channels_last", eps=0.0)
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="`eps`"):
            kcl.ops.partial_conv(x, mask, kernel, data_format="channels_last", eps=bad)
    for bad in (0.0, float("nan")):
        with pytest.raises(ValueError, match="`eps`"):
            kcl.ops.weight_normalize(kernel, np.ones((1,), "float32"), eps=bad)


def _tamper(path: str, layer_name: str, key: str, value) -> str:
    """A copy of the `.keras` file with one config entry of a layer replaced."""
    tampered = path.replace(".keras", "_tampered.keras")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    if layer["config"]["name"] == layer_name:
                        layer["config"][key] = value
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    return tampered


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("eps", float("nan"), "`eps`"),
        ("eps", 0.0, "`eps`"),
        ("use_bias", "False", "`use_bias`"),
        ("weightnorm", 1, "`weightnorm`"),
    ],
)
def test_tampered_keras_file_is_rejected(tmp_path, key, value, match):
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, kcl.Conv2D(2, 3, name="conv", data_format="channels_last")(inputs))
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    keras.saving.load_model(path, safe_mode=True)  # the untampered file loads
    with pytest.raises((ValueError, TypeError), match=match):
        keras.saving.load_model(_tamper(path, "conv", key, value), safe_mode=True)
