"""When the TensorFlow fast paths accept or decline (their numbers are
checked against the generic kernels in test_dispatch.py)."""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow fast paths"
)


def _deform_args():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(1, 5, 5, 2)).astype("float32"))
    offsets = tf.constant(rng.normal(size=(1, 5, 5, 18)).astype("float32"))
    kernel = tf.constant(rng.normal(size=(3, 3, 2, 3)).astype("float32"))
    return x, offsets, kernel, None, (1, 1), "same", (1, 1), 1


def test_deform_fast_path_runs_under_a_tape():
    import tensorflow as tf

    from keras_cv_layers.backend_kernels.deformable import tensorflow as tk

    args = _deform_args()
    assert tk.deform_conv2d(*args) is not NotImplemented
    with tf.GradientTape() as tape:
        tape.watch(args[2])
        out = tk.deform_conv2d(*args)
        assert out is not NotImplemented
    assert tape.gradient(out, args[2]).shape == args[2].shape


def test_deform_fast_path_keeps_static_shapes():
    """In a graph (a user's layer without `compute_output_shape` is traced
    so), the output and the gradients keep the arguments' static shapes,
    though the XLA functions are traced once for every size; a second size
    reuses them."""
    import tensorflow as tf

    from keras_cv_layers.backend_kernels.deformable import tensorflow as tk

    x, offsets, kernel, *rest = _deform_args()
    mask = tf.ones((1, 5, 5, 9))

    @tf.function(autograph=False)
    def step(x, offsets, kernel, mask):
        with tf.GradientTape() as tape:
            tape.watch([x, offsets, kernel, mask])
            out = tk.deform_conv2d(x, offsets, kernel, mask, *rest[1:])
        grads = tape.gradient(out, [x, offsets, kernel, mask])
        assert out.shape == tuple(offsets.shape[:3]) + (3,), out.shape
        for grad, arg in zip(grads, (x, offsets, kernel, mask)):
            assert grad.shape == arg.shape, (grad.shape, arg.shape)
        return out, grads

    out, _ = step(x, offsets, kernel, mask)
    assert out.shape == (1, 5, 5, 3)
    x2, off2, mask2 = (
        tf.tile(x, (2, 2, 1, 1)),
        tf.tile(offsets, (2, 2, 1, 1)),
        tf.ones((2, 10, 5, 9)),
    )
    out2, grads2 = step(x2, off2, kernel, mask2)
    assert out2.shape == (2, 10, 5, 3) and grads2[0].shape == x2.shape
    forward, backward = next(v for k, v in tk._DEFORM_XLA.items() if not k[4])
    assert forward.experimental_get_tracing_count() == 1
    assert backward.experimental_get_tracing_count() == 1


def test_deform_fast_path_declines_mixed_precision():
    import tensorflow as tf

    from keras_cv_layers.backend_kernels.deformable import tensorflow as tk

    x, offsets, kernel, *rest = _deform_args()
    half = (tf.cast(x, "float16"), offsets, tf.cast(kernel, "float16"), *rest)
    assert tk.deform_conv2d(*half) is NotImplemented


def test_conv_declines_channels_last():
    import tensorflow as tf

    from keras_cv_layers.backend_kernels.conv import tensorflow as tk

    x = tf.zeros((1, 4, 4, 2))
    k = tf.zeros((3, 3, 2, 1))
    assert tk.conv(x, k, (1, 1), "same", (1, 1), "channels_last") is NotImplemented
    first = tk.conv(tf.zeros((1, 2, 4, 4)), k, (1, 1), "same", (1, 1), "channels_first")
    assert first is NotImplemented or tuple(first.shape) == (1, 1, 4, 4)


def test_depthwise_conv_takes_unequal_strides():
    """TF's CPU kernel rejects them; the fast path does not (same numbers as
    the XLA-compiled generic op)."""
    import tensorflow as tf

    from keras_cv_layers.backend_kernels import conv
    from keras_cv_layers.backend_kernels.conv import tensorflow as tk

    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(2, 7, 6, 3)).astype("float32"))
    k = tf.constant(rng.normal(size=(4, 4, 3, 2)).astype("float32"))
    for padding in ("same", "valid"):
        args = (x, k, (1, 3), padding, (1, 1), "channels_last")
        expected = tf.function(conv.depthwise_conv.generic, jit_compile=True)(*args)
        np.testing.assert_allclose(tk.depthwise_conv(*args), expected, rtol=1e-5, atol=1e-5)


def test_attention_fast_path_survives_repeats():
    """`MultiHeadedSpatialAttention(64, 7, position="learned")` on (8, 16,
    16, 64) segfaulted on TF 2.21 (broadcast batch matmul in the fast path):
    20 calls in a fresh process now return the same finite result."""
    import os
    import subprocess
    import sys

    # oneDNN on, as on the CPUs where the crash was seen.
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_ENABLE_ONEDNN_OPTS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.backend_kernels.tf_attention_crash_worker", "20"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ok 20" in proc.stdout
