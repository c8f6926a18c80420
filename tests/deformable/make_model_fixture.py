"""Writes `fixtures/deformable_model.keras` and its inputs/outputs
(`fixtures/deformable_model_io.npz`): a small model of DeformableConv2D
layers with non-zero offset weights, saved under one backend, that
`test_cross_backend_fixture` loads under every backend.

    KERAS_BACKEND=jax python -m tests.deformable.make_model_fixture
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np

import keras_cv_layers as kcl

HERE = pathlib.Path(__file__).parent / "fixtures"


def build_model() -> keras.Model:
    inputs = keras.Input((9, 9, 4))
    x = kcl.DeformableConv2D(
        4,
        3,
        padding="same",
        modulated=True,
        offset_groups=2,
        use_bias=True,
        data_format="channels_last",
    )(inputs)
    xt = keras.layers.Permute((3, 1, 2))(x)
    xt = kcl.DeformableConv2D(
        3, 3, strides=2, groups=1, use_bias=True, data_format="channels_first"
    )(xt)
    return keras.Model(inputs, xt)


def main() -> None:
    keras.utils.set_random_seed(0)
    model = build_model()
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    x = rng.normal(size=(2, 9, 9, 4)).astype("float32")
    y = np.asarray(keras.ops.convert_to_numpy(model(x)))
    HERE.mkdir(exist_ok=True)
    model.save(HERE / "deformable_model.keras")
    np.savez_compressed(HERE / "deformable_model_io.npz", x=x, y=y, backend=keras.backend.backend())
    print(f"saved under {keras.backend.backend()}: output {y.shape}")


if __name__ == "__main__":
    main()
