"""StochasticDepth: per-example dropping of residual branches."""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.layers.regularization.drop_block2d import check_rate, check_seed
from keras_cv_layers.utils.serialization import register


def drop_path(residual, rate: float, seed=None, training=None):
    """Drops `residual` per example (stochastic depth / "drop path").

    In training with `rate > 0`: `residual · keep / (1 − rate)`, with one
    `keep ~ Bernoulli(1 − rate)` per example (noise shape `(batch, 1, ...,
    1)`, broadcast over the other axes; any rank >= 1).  Otherwise
    `residual` unchanged.

    Args:
        residual: the branch to drop, batch first.
        rate: float in [0, 1), the drop probability.
        seed: a `keras.random.SeedGenerator` (needed inside jit-compiled
            functions), an int or None, as `keras.random.uniform` accepts.
        training: bool; False or None return `residual`.

    Returns:
        A tensor of `residual`'s shape and dtype.
    """
    if not training or rate <= 0:
        return residual
    residual = ops.convert_to_tensor(residual)
    shape = ops.shape(residual)
    noise_shape = (shape[0],) + (1,) * (len(shape) - 1)
    keep = keras.random.uniform(noise_shape, dtype="float32", seed=seed) >= rate
    scale = ops.cast(keep, "float32") / (1.0 - rate)
    dtype = keras.backend.standardize_dtype(residual.dtype)
    if dtype in ("float16", "bfloat16"):
        return ops.cast(ops.multiply(ops.cast(residual, "float32"), scale), dtype)
    return ops.multiply(residual, ops.cast(scale, dtype))


@register
class StochasticDepth(keras.layers.Layer):
    """Stochastic depth: the residual branch of a block is dropped per
    example during training (Huang et al., 2016, "Deep Networks with
    Stochastic Depth", arXiv:1603.09382).

    Called on `[shortcut, residual]`; returns `shortcut + residual · keep /
    (1 − rate)` in training, with one `keep ~ Bernoulli(1 − rate)` per
    example (broadcast over every other axis, any rank), and `shortcut +
    residual` at inference (`training` False or None).  The per-example drop
    is `keras_cv_layers.layers.regularization.stochastic_depth.drop_path`.
    No weights.

    Args:
        rate: float in [0, 1), the probability of dropping the residual
            branch of an example.
        seed: optional int, seed of the drop decisions.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: list `[shortcut, residual]` of two tensors of the same shape
            (batch first).
        training: bool, whether to drop.

    Returns:
        A tensor of the inputs' shape, in the layer's compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.StochasticDepth(0.5, seed=1)
    >>> shortcut, residual = np.ones((4, 3), "float32"), np.ones((4, 3), "float32")
    >>> np.asarray(layer([shortcut, residual]))[0].tolist()  # inference: the sum
    [2.0, 2.0, 2.0]
    >>> y = np.asarray(layer([shortcut, residual], training=True))
    >>> sorted(set(y.ravel().tolist()) - {1.0, 3.0})  # 1 (dropped) or 1 + 1/(1 - 0.5)
    []
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        self.rate = check_rate(rate, "rate", cls)
        self.seed = check_seed(seed, cls)
        if self.rate > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)

    def _check_input(self, input_shape) -> tuple:
        """Checks the `[shortcut, residual]` shapes; returns the output shape."""
        owner = f"Layer {self.__class__.__name__} ('{self.name}')"
        if not (
            isinstance(input_shape, (list, tuple))
            and len(input_shape) == 2
            and all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                f"{owner} expects a list of two inputs [shortcut, residual] of the same "
                f"shape (batch, ...); received input shape {input_shape}."
            )
        shortcut, residual = (tuple(s) for s in input_shape)
        compatible = len(shortcut) == len(residual) and all(
            a is None or b is None or a == b for a, b in zip(shortcut, residual)
        )
        if not compatible or len(shortcut) < 1:
            raise ValueError(
                f"{owner} expects [shortcut, residual] of the same shape (batch, ...); "
                f"received shapes {shortcut} and {residual}."
            )
        return tuple(a if a is not None else b for a, b in zip(shortcut, residual))

    def build(self, input_shape):
        self._check_input(input_shape)

    def call(self, inputs, training=None):
        self._check_input([tuple(t.shape) for t in inputs])
        shortcut = ops.cast(inputs[0], self.compute_dtype)
        residual = ops.cast(inputs[1], self.compute_dtype)
        if training and self.rate > 0:
            residual = drop_path(residual, self.rate, self.seed_generator, True)
        return shortcut + residual

    def compute_output_shape(self, input_shape):
        return self._check_input(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
