"""Scaled weight-standardized convolutions (SWSConv1D/2D/3D)."""

from __future__ import annotations

import math

from keras import ops

from keras_cv_layers.layers.convolutional.ws_conv import BaseWSConv
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

#: `gamma` for each `preceding_activation` (SPEC; NF-Nets' constants with
#: relu in closed form). timm computes slightly different empirical values.
ACTIVATION_GAMMAS = {
    "relu": math.sqrt(2.0 / (1.0 - 1.0 / math.pi)),
    "silu": 1.7872,
    "swish": 1.7872,
    "gelu": 1.7009,
    "mish": 1.5920,
    "linear": 1.0,
    None: 1.0,
}


class BaseSWSConv(BaseWSConv):
    """Scaled weight standardization, as timm's `ScaledStdConv2d`.

    `k_eff = gain * gamma * (kernel - mean) / sqrt(var + eps) / sqrt(fan_in)`
    (Brock et al., 2021, "Characterizing signal propagation to close the
    performance gap in unnormalized ResNets", arXiv:2101.08692).
    """

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        *args,
        preceding_activation="relu",
        gamma=None,
        learnable_gain=True,
        **kwargs,
    ):
        super().__init__(rank, filters, kernel_size, *args, **kwargs)
        cls = self.__class__.__name__
        if gamma is None:
            key = (
                preceding_activation.lower()
                if isinstance(preceding_activation, str)
                else preceding_activation
            )
            if key not in ACTIVATION_GAMMAS:
                raise ValueError(
                    f"{cls}: unknown `preceding_activation`="
                    f"{preceding_activation!r}; expected one of "
                    f"{[k for k in ACTIVATION_GAMMAS if k]} or None, or pass "
                    "`gamma` as a float."
                )
            self._gamma = ACTIVATION_GAMMAS[key]
        else:
            self._gamma = av.check_float(gamma, "gamma", cls)
        self.preceding_activation = preceding_activation
        self.gamma = gamma
        self.learnable_gain = av.check_bool(learnable_gain, "learnable_gain", cls)

    def build_extra_weights(self):
        if self.learnable_gain:
            self.gain = self.add_weight(
                name="gain", shape=(self.filters,), initializer="ones", autocast=False
            )

    def transform_kernel(self, kernel):
        scale = self._gamma / math.sqrt(self.fan_in)
        kernel = self.standardized(kernel) * scale
        if self.learnable_gain:
            kernel = kernel * ops.cast(self.gain, "float32")
        return kernel

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "preceding_activation": self.preceding_activation,
                "gamma": self.gamma,
                "learnable_gain": self.learnable_gain,
            }
        )
        return config


_SWS_DOC = """Scaled weight-standardized {n}D convolution (timm `ScaledStdConv2d`).

    `k_eff = gain * gamma * (kernel - mean) / sqrt(var + eps) / sqrt(fan_in)`
    per output filter. Reference: Brock et al., 2021, arXiv:2101.08692.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate,
        groups, activation, use_bias (default True), initializers,
        regularizers, constraints: as `keras_cv_layers.Conv{n}D`.
        preceding_activation: the activation feeding this layer, which sets
            `gamma`: `"relu"` (sqrt(2/(1-1/pi)) ≈ 1.7129), `"silu"`/`"swish"`
            (1.7872), `"gelu"` (1.7009), `"mish"` (1.5920), `"linear"`/None
            (1.0). Default `"relu"`.
        gamma: float overriding `preceding_activation`. Default None.
        learnable_gain: bool, adds the weight `gain` (filters,), ones. When
            False the gain is 1.
        eps: float added to the variance. Default 1e-6.

    Call arguments:
        inputs: a rank-{r} tensor (batch, *spatial, channels) or channels_first.

    Returns:
        The convolved tensor with `filters` channels.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.SWSConv{n}D(4, 3, preceding_activation="silu",
    ...                        data_format="channels_last")
    >>> tuple(layer(np.ones({shape}, "float32")).shape)[-1]
    4
    """

_SHAPES = {1: "(1, 8, 2)", 2: "(1, 8, 8, 2)", 3: "(1, 5, 5, 5, 2)"}


@register
class SWSConv1D(BaseSWSConv):
    __doc__ = _SWS_DOC.format(n=1, r=3, shape=_SHAPES[1])

    def __init__(self, filters, kernel_size, *args, **kwargs):
        super().__init__(1, filters, kernel_size, *args, **kwargs)


@register
class SWSConv2D(BaseSWSConv):
    __doc__ = _SWS_DOC.format(n=2, r=4, shape=_SHAPES[2])

    def __init__(self, filters, kernel_size, *args, **kwargs):
        super().__init__(2, filters, kernel_size, *args, **kwargs)


@register
class SWSConv3D(BaseSWSConv):
    __doc__ = _SWS_DOC.format(n=3, r=5, shape=_SHAPES[3])

    def __init__(self, filters, kernel_size, *args, **kwargs):
        super().__init__(3, filters, kernel_size, *args, **kwargs)
