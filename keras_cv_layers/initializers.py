"""Convolution kernel initializers (`kcl.initializers`).

Keras' variance-scaling initializers (`keras.initializers.HeNormal`, ...)
take the fan-in of a kernel `(*kernel_size, in, out)` as
`prod(kernel_size) * in`, which is right for `ConvND` (a grouped kernel
already has `in / groups` on that axis) but wrong by a factor `in` for a
depthwise kernel `(*kernel_size, in, depth_multiplier)`, where each output
sees one input channel.  `ConvHeNormal` and `ConvHeUniform` take the fan-in
of the kind of kernel they initialize; `kcl.DepthwiseConv2D` and
`kcl.PartialDepthwiseConv2D` tell them that their kernel is depthwise.

`NormalInit` and `UniformInit` draw unit-variance raw weights for
equalized learning rate (`equalize=True`), which scales the kernel by
`sqrt(2 / fan_in)` at run time (Karras et al., 2018, arXiv:1710.10196):
`NormalInit()` is the default kernel initializer of a layer built with
`equalize=True`.

Every initializer is registered under the package `"keras_cv_layers"`, so
`keras.initializers.deserialize` and `.keras` files (with `safe_mode=True`)
restore it.
"""

from __future__ import annotations

import copy
import math
import random as python_random

import keras

from keras_cv_layers.utils.serialization import register

__all__ = [
    "ConvHeNormal",
    "ConvHeUniform",
    "NormalInit",
    "UniformInit",
    "conv_fan_in",
    "for_depthwise_kernel",
]

# `ConvHeNormal` truncates at two standard deviations (as Keras' `HeNormal`);
# `NormalInit` clips at three.
_HE_BOUND = 2.0
_NORMAL_BOUND = 3.0


def _truncated_std(bound: float) -> float:
    """Standard deviation of a unit normal truncated to [-bound, bound]."""
    density = math.exp(-0.5 * bound**2) / math.sqrt(2.0 * math.pi)
    return math.sqrt(1.0 - 2.0 * bound * density / math.erf(bound / math.sqrt(2.0)))


def _truncated_normal(shape, bound: float, dtype: str, seed):
    """Unit normal truncated to [-bound, bound] (values outside resampled),
    by inverse-CDF sampling: exact and the same on every backend (no
    rejection loop; `keras.random.truncated_normal` truncates at 2 only)."""
    limit = math.erf(bound / math.sqrt(2.0))
    u = keras.random.uniform(shape, minval=-limit, maxval=limit, dtype=dtype, seed=seed)
    return keras.ops.clip(math.sqrt(2.0) * keras.ops.erfinv(u), -bound, bound)


def _float_dtypes(dtype) -> tuple[str, str]:
    """(dtype asked for, dtype to draw in): float32 unless float64 is asked."""
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    if "float" not in dtype:
        raise ValueError(
            f"kcl.initializers only produce floating-point tensors; received dtype={dtype!r}."
        )
    return dtype, ("float64" if dtype == "float64" else "float32")


def conv_fan_in(shape, depthwise: bool = False) -> int:
    """Inputs seen by one output unit of a kernel of shape `shape`.

    Args:
        shape: kernel shape. A convolution kernel `(*kernel_size, in / groups,
            out)` (or a dense kernel `(in, out)`) has fan-in `prod(shape[:-1])`;
            a depthwise kernel `(*kernel_size, in, depth_multiplier)` has
            fan-in `prod(kernel_size)`.
        depthwise: whether `shape` is a depthwise kernel.

    Returns:
        The fan-in, an int >= 1.
    """
    shape = tuple(int(d) for d in shape)
    if depthwise:
        if len(shape) < 3:
            raise ValueError(
                "A depthwise kernel has shape (*kernel_size, in, depth_multiplier); "
                f"received shape={shape}."
            )
        return max(1, math.prod(shape[:-2]))
    if len(shape) <= 1:
        return max(1, shape[0] if shape else 1)
    return max(1, math.prod(shape[:-1]))


class _SeededInitializer(keras.initializers.Initializer):
    """Seed handling of Keras' random initializers: an int or None (then a
    random int drawn once: the same values on every call) or a
    `keras.random.SeedGenerator` (new values on every call)."""

    def __init__(self, seed=None):
        self._init_seed = seed
        if seed is None:
            seed = python_random.randint(1, int(1e9))
        elif isinstance(seed, dict):
            seed = keras.saving.deserialize_keras_object(seed)
        elif isinstance(seed, bool) or not isinstance(seed, (int, keras.random.SeedGenerator)):
            raise ValueError(
                "`seed` must be an int, a `keras.random.SeedGenerator` or None; "
                f"received seed={seed!r}."
            )
        self.seed = seed

    def get_config(self) -> dict:
        return {"seed": keras.saving.serialize_keras_object(self._init_seed)}


class _ConvHe(_SeededInitializer):
    """He initialization with the fan-in of a convolution kernel."""

    def __init__(self, depthwise: bool = False, seed=None):
        if not isinstance(depthwise, bool):
            raise ValueError(
                f"{self.__class__.__name__}: `depthwise` must be a bool; "
                f"received depthwise={depthwise!r}."
            )
        self.depthwise = depthwise
        super().__init__(seed=seed)

    def stddev(self, shape) -> float:
        """The standard deviation of the values, `sqrt(2 / fan_in)`."""
        return math.sqrt(2.0 / conv_fan_in(shape, self.depthwise))

    def get_config(self) -> dict:
        return {"depthwise": self.depthwise, **super().get_config()}


@register
class ConvHeNormal(_ConvHe):
    """He normal initializer with the fan-in of a convolution kernel.

    Draws from a truncated normal distribution (values beyond two standard
    deviations are redrawn, as `keras.initializers.HeNormal`) with standard
    deviation `sqrt(2 / fan_in)`, where `fan_in = prod(kernel_size) * in /
    groups` for a kernel `(*kernel_size, in / groups, out)` and
    `prod(kernel_size)` for a depthwise kernel `(*kernel_size, in,
    depth_multiplier)` (Keras' initializers count `prod(kernel_size) * in`
    there).  `kcl.DepthwiseConv2D` and `kcl.PartialDepthwiseConv2D` use it
    with `depthwise=True` for their kernel.

    Reference: He et al., 2015, "Delving Deep into Rectifiers"
    (arXiv:1502.01852).

    Args:
        depthwise: bool, the kernel is depthwise. Default False.
        seed: int, `keras.random.SeedGenerator` or None, as in Keras'
            initializers (an int or None gives the same values on every
            call).

    Returns:
        Called with `(shape, dtype=None)`: a tensor of that shape and
        (floating-point) dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> init = kcl.initializers.ConvHeNormal(depthwise=True, seed=1)
    >>> w = np.asarray(init((3, 3, 64, 256)))
    >>> round(float(w.std() ** 2 * 9), 1)  # variance 2 / (3 * 3)
    2.0
    """

    def __call__(self, shape, dtype=None):
        dtype, draw = _float_dtypes(dtype)
        scale = self.stddev(shape) / _truncated_std(_HE_BOUND)
        values = _truncated_normal(shape, _HE_BOUND, draw, self.seed) * scale
        return keras.ops.cast(values, dtype)


@register
class ConvHeUniform(_ConvHe):
    """He uniform initializer with the fan-in of a convolution kernel.

    Draws from `U(-limit, limit)`, `limit = sqrt(6 / fan_in)` (standard
    deviation `sqrt(2 / fan_in)`), with `fan_in` as in `ConvHeNormal`:
    `prod(kernel_size) * in / groups`, or `prod(kernel_size)` for a depthwise
    kernel.

    Reference: He et al., 2015, "Delving Deep into Rectifiers"
    (arXiv:1502.01852).

    Args:
        depthwise: bool, the kernel is depthwise. Default False.
        seed: int, `keras.random.SeedGenerator` or None, as in Keras'
            initializers.

    Returns:
        Called with `(shape, dtype=None)`: a tensor of that shape and
        (floating-point) dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> init = kcl.initializers.ConvHeUniform(seed=1)
    >>> w = np.asarray(init((3, 3, 8, 16)))
    >>> bool(np.abs(w).max() <= np.sqrt(6 / (3 * 3 * 8)))
    True
    """

    def __call__(self, shape, dtype=None):
        dtype, draw = _float_dtypes(dtype)
        limit = math.sqrt(3.0) * self.stddev(shape)
        values = keras.random.uniform(
            shape, minval=-limit, maxval=limit, dtype=draw, seed=self.seed
        )
        return keras.ops.cast(values, dtype)


@register
class NormalInit(_SeededInitializer):
    """Unit normal raw weights for equalized learning rate.

    Draws from N(0, 1) and clips the values to [-3, 3] (0.27 % of them), so
    that no weight exceeds 3 in magnitude while the variance stays 0.995
    (resampling the values outside would give 0.973, a 24 % loss of
    activation variance over 10 equalized layers).  A layer built with
    `equalize=True` multiplies its kernel by `sqrt(2 / fan_in)` at run time,
    so these raw weights give He-scaled effective weights; it is the
    default kernel initializer of every layer with `equalize=True`.

    Reference: Karras et al., 2018, "Progressive Growing of GANs"
    (arXiv:1710.10196), section 4.1.

    Args:
        seed: int, `keras.random.SeedGenerator` or None, as in Keras'
            initializers.

    Returns:
        Called with `(shape, dtype=None)`: a tensor of that shape and
        (floating-point) dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> w = np.asarray(kcl.initializers.NormalInit(seed=1)((64, 64)))
    >>> bool(np.abs(w).max() <= 3.0), round(float(w.std()), 1)
    (True, 1.0)
    """

    def __call__(self, shape, dtype=None):
        dtype, draw = _float_dtypes(dtype)
        values = keras.random.normal(shape, dtype=draw, seed=self.seed)
        values = keras.ops.clip(values, -_NORMAL_BOUND, _NORMAL_BOUND)
        return keras.ops.cast(values, dtype)


@register
class UniformInit(_SeededInitializer):
    """Unit-variance uniform raw weights for equalized learning rate.

    Draws from `U(-sqrt(3), sqrt(3))` (mean 0, standard deviation 1): the
    uniform counterpart of `NormalInit`.

    Reference: Karras et al., 2018, "Progressive Growing of GANs"
    (arXiv:1710.10196), section 4.1.

    Args:
        seed: int, `keras.random.SeedGenerator` or None, as in Keras'
            initializers.

    Returns:
        Called with `(shape, dtype=None)`: a tensor of that shape and
        (floating-point) dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> w = np.asarray(kcl.initializers.UniformInit(seed=1)((64, 64)))
    >>> bool(np.abs(w).max() <= np.sqrt(3)), round(float(w.std()), 1)
    (True, 1.0)
    """

    def __call__(self, shape, dtype=None):
        dtype, draw = _float_dtypes(dtype)
        limit = math.sqrt(3.0)
        values = keras.random.uniform(
            shape, minval=-limit, maxval=limit, dtype=draw, seed=self.seed
        )
        return keras.ops.cast(values, dtype)


def for_depthwise_kernel(initializer):
    """The initializer to use for a depthwise kernel.

    A depthwise convolution calls this on its kernel initializer: a
    `ConvHeNormal` / `ConvHeUniform` with `depthwise=False` becomes a copy
    with `depthwise=True` (the same seed); any other initializer is
    returned unchanged.

    Args:
        initializer: a `keras.initializers.Initializer` instance.

    Returns:
        An initializer for a kernel `(*kernel_size, in, depth_multiplier)`.
    """
    if isinstance(initializer, _ConvHe) and not initializer.depthwise:
        initializer = copy.copy(initializer)
        initializer.depthwise = True
    return initializer
