"""What the TensorFlow fast paths need to know of the graph being traced."""

from __future__ import annotations

import tensorflow as tf


def in_xla_context() -> bool:
    """Whether the current graph is being compiled by XLA (`jit_compile=True`),
    which has no kernel for `MaxPoolWithArgmax`.  When this cannot be told
    (a TF internal moved), answers True so that the generic path runs."""
    if tf.executing_eagerly():
        return False
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:
        return True
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
