"""Deployment: train, fuse for inference, export to ONNX, run in onnxruntime.

The classifier of the ``classification`` example's data (which quadrant of a
32x32 image holds the blob) is built from layers with weight transforms
(`WSConv2D`, a weight-normalized `Conv2D` and `DepthwiseConv2D`, a
`GroupConv2D`), anti-aliased `Blur2D` downsampling and a `Dense` head.  After
training, `kcl.utils.fuse_for_inference` turns every transformed layer into a
plain Keras layer holding its effective kernel; both the trained and the
fused model are exported with ``model.export(path, format="onnx")`` and run
in onnxruntime, and the outputs are compared with Keras'.  The report gives
the largest differences and the two files' sizes.

Needs the ``export`` extra (``pip install "keras-cv-layers[export]"``: onnx,
onnxruntime and the backend's exporter); ``keras-cv-layers demo`` skips this
example when they are missing, ``--only export`` reports what to install.
"""

from __future__ import annotations

import os

import keras
import numpy as np

import keras_cv_layers as kcl
from keras_cv_layers.examples._skeleton import ExampleReport, ExampleRun
from keras_cv_layers.examples.classification import IMAGE_SIZE, NUM_CLASSES, make_dataset

TITLE = "Deployment: fuse_for_inference, ONNX export, onnxruntime"

#: Modules the example needs beyond the package (the ``export`` extra).
REQUIRES = ("onnx", "onnxruntime")

_CL = "channels_last"


def build_model() -> keras.Model:
    """A small classifier whose convolutions all carry a weight transform.

    Returns:
        An uncompiled `keras.Model` from `(batch, IMAGE_SIZE, IMAGE_SIZE, 3)`
        images to class probabilities.
    """
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="image")
    x = kcl.WSConv2D(8, 3, padding="same", activation="relu", data_format=_CL, name="ws_conv")(
        inputs
    )
    x = kcl.Blur2D(3, strides=2, padding="same", data_format=_CL, name="blur_pool")(x)
    x = kcl.Conv2D(
        8, 3, padding="same", weightnorm=True, use_bias=True, data_format=_CL, name="wn_conv"
    )(x)
    x = kcl.DepthwiseConv2D(
        3, padding="same", weightnorm=True, use_bias=True, data_format=_CL, name="wn_depthwise"
    )(x)
    x = kcl.Swish(name="swish")(x)
    x = kcl.GroupConv2D(4, 3, group="C4", padding="same", data_format=_CL, name="group_conv")(x)
    x = kcl.GroupPooling2D(data_format=_CL, name="group_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=_CL, name="pool")(x)
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="kcl_export_classifier")


def export_and_run(model: keras.Model, images: np.ndarray, path: str) -> np.ndarray:
    """Exports `model` to ONNX at `path` (batch size fixed to `len(images)`)
    and returns onnxruntime's output on `images`."""
    import onnxruntime

    signature = [keras.InputSpec(shape=images.shape, dtype="float32")]
    model.export(path, format="onnx", verbose=False, input_signature=signature)
    session = onnxruntime.InferenceSession(path)
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def run(
    epochs: int = 4,
    out_dir: str | os.PathLike = "kcl_demo_output",
    seed: int = 0,
    verbose: int = 1,
    small: bool = False,
) -> ExampleReport:
    """Trains the classifier (512 training / 128 test images; 128 / 32 with
    `small=True`), fuses it, exports both models to ONNX in `out_dir` and
    compares onnxruntime's outputs with Keras' on the test images.

    Returns:
        The example report: `metric` is the test accuracy; extras:
        `fused_max_abs_diff` (fused vs trained model in Keras),
        `onnx_max_abs_diff` (onnxruntime on the fused file vs the trained
        model), `onnx_bytes` and `onnx_fused_bytes` (file sizes).
    """
    import onnxruntime  # noqa: F401  (fail early with the missing extra)

    session = ExampleRun("export", out_dir, seed=seed, epochs=epochs, verbose=verbose)
    num_train, num_test = (128, 32) if small else (512, 128)
    x_train, y_train = make_dataset(num_train, seed=seed)
    x_test, y_test = make_dataset(num_test, seed=seed + 1)
    model = build_model()
    session.fit(model, x_train, y_train, batch_size=32, about=f"{num_train} training images")
    expected = keras.ops.convert_to_numpy(model(x_test, training=False))
    fused = kcl.utils.fuse_for_inference(model)
    fused_out = keras.ops.convert_to_numpy(fused(x_test, training=False))
    folder = os.fspath(out_dir)
    plain_path = os.path.join(folder, "export.onnx")
    fused_path = os.path.join(folder, "export_fused.onnx")
    export_and_run(model, x_test, plain_path)
    onnx_out = export_and_run(fused, x_test, fused_path)
    sizes = {
        "onnx_bytes": os.path.getsize(plain_path),
        "onnx_fused_bytes": os.path.getsize(fused_path),
    }
    fused_diff = float(np.max(np.abs(fused_out - expected)))
    onnx_diff = float(np.max(np.abs(onnx_out - expected)))
    print(
        f"export: fused vs trained |diff| {fused_diff:.2g}; onnxruntime vs Keras |diff| "
        f"{onnx_diff:.2g}; {plain_path}: {sizes['onnx_bytes']} bytes, "
        f"{fused_path}: {sizes['onnx_fused_bytes']} bytes",
        flush=True,
    )
    if fused_diff > 1e-4 or onnx_diff > 1e-4:
        raise AssertionError(
            f"exported outputs differ from Keras': fused {fused_diff:.3g}, onnx {onnx_diff:.3g}"
        )
    accuracy = float(np.mean(np.argmax(expected, axis=-1) == y_test))
    return session.finish(
        model,
        x_test[:16],
        metric=accuracy,
        metric_name="test accuracy",
        extras={"fused_max_abs_diff": fused_diff, "onnx_max_abs_diff": onnx_diff, **sizes},
    )
