"""WeightNormalization: weight normalization of any Keras layer with a kernel."""

from __future__ import annotations

import copy

import keras
from keras import ops

from keras_cv_layers.layers.convolutional.base_conv import (
    BaseConvolution,
    WeightNormEqualizeMixin,
)
from keras_cv_layers.ops.conv import normalize_kernel
from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register

_NAME = "WeightNormalization"

#: Keras layers whose kernel has its output channels at axis -2.
_TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
#: Keras layers with a depthwise kernel `(*kernel_size, C, M)`.
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)

_MISSING = object()


def _norm_axes(layer, rank: int) -> tuple:
    """The kernel axes the norm runs over (all but the output-channel axes)."""
    if isinstance(layer, BaseConvolution):
        return tuple(layer.fan_in_axes)
    if isinstance(layer, _DEPTHWISE):
        return tuple(range(rank - 2))
    if isinstance(layer, _TRANSPOSED):
        return tuple(a for a in range(rank) if a != rank - 2)
    return tuple(range(rank - 1))


def _check_no_kernel_transform(layer) -> None:
    """Our convolutions with a kernel transform of their own (weight
    standardization, `weightnorm`, `equalize`) would undo or double the
    normalization."""
    if not isinstance(layer, BaseConvolution):
        return
    own_transform = type(layer).transform_kernel not in (
        BaseConvolution.transform_kernel,
        WeightNormEqualizeMixin.transform_kernel,
    )
    flags = [f for f in ("weightnorm", "equalize") if getattr(layer, f, False)]
    if own_transform or flags:
        what = f"`{flags[0]}=True`" if flags else "a kernel transform of its own"
        raise ValueError(
            f"{_NAME}: the wrapped layer {type(layer).__name__} ('{layer.name}') has "
            f"{what}; wrap it with its kernel options off (or a plain convolution)."
        )


def _no_kernel_error(layer) -> ValueError:
    return ValueError(
        f"{_NAME}: the wrapped layer {type(layer).__name__} ('{layer.name}') has no "
        "`kernel` weight to normalize."
    )


@register
class WeightNormalization(keras.layers.Wrapper):
    """Weight normalization of a layer's kernel: the wrapped layer computes
    with `g · v / sqrt(sum(v²) + eps)` and training updates `g` and `v`.

    The wrapped layer's kernel becomes the weight `v` (its raw direction; the
    wrapped layer's initializer, regularizer and constraint apply to it) and
    the wrapper owns `g`, one gain per output channel, initialised to
    `sqrt(sum(v²) + eps)` so that the initial effective kernel is the
    wrapped layer's initial kernel.  The sum runs over every kernel axis but
    the output-channel axes: the last axis (`Dense`, `ConvND`, the
    package's convolutions), axis -2 (`ConvNDTranspose`), or the `(C, M)`
    pair of a depthwise kernel (`g` of shape `(C·M,)`, index `c·M + m`).
    The effective kernel is computed in the forward pass, so gradients reach
    `g` and `v` (nothing is assigned to the kernel).  The bias and the other
    weights of the wrapped layer are unchanged.

    `data_init=True` (Salimans & Kingma 2016, §3): on the first call with
    `training=True` (inside `fit` too, jit-compiled or not), `g` and the
    bias (if any) are set so that the pre-activations (the wrapped layer's
    output before its activation) of that batch have zero mean and unit
    (population) variance per channel; the non-trainable weight
    `initialized` (0.0 / 1.0) records that it happened, and it is saved.  With
    `data_init=True` the wrapper also has the non-trainable weights
    `g_offset` and `bias_offset` (zeros): the layer computes with
    `g + g_offset` and `bias + bias_offset`.  Keras' JAX trainer keeps only
    the optimizer's update of trainable weights, so on JAX the data-dependent
    values go to the offsets (the effective gain and bias are the same);
    on TensorFlow and PyTorch they go to `g` and the bias themselves (and
    the offsets are reset to zero).

    Args:
        layer: an unbuilt Keras layer with a `kernel` weight (`Dense`,
            `Conv1D/2D/3D`, `Conv1D/2D/3DTranspose`, `DepthwiseConv1D/2D`,
            the package's convolutions without `weightnorm` / `equalize` /
            weight standardization), or its config
            (`keras.layers.serialize(layer)`), from which each wrapper makes
            its own layer.  Its dtype policy follows the wrapper's (a
            `dtype` given to the wrapper is given to the layer; without one,
            the wrapper takes the layer's).
        data_init: bool, data-dependent initialisation. Default False.
        eps: float > 0 under the square root (and added to the variance of
            the data-dependent initialisation). Default 1e-6.

    Call arguments:
        inputs: the wrapped layer's inputs.
        training: bool; the first `True` call does the data-dependent
            initialisation when `data_init=True`.

    Returns:
        The wrapped layer's output.

    Raises:
        ValueError: when `layer` is not a Keras layer, is already built, has
            a kernel transform of its own, or (at build) has no `kernel`.

    Example:

    >>> import keras, numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.WeightNormalization(
    ...     keras.layers.Dense(2, kernel_initializer="ones"))
    >>> y = layer(np.ones((1, 3), "float32"))
    >>> np.round(keras.ops.convert_to_numpy(y), 4).tolist()
    [[3.0, 3.0]]
    >>> sorted(w.name for w in layer.weights)
    ['bias', 'g', 'v']

    Reference: Salimans & Kingma, "Weight Normalization: A Simple
    Reparameterization to Accelerate Training of Deep Neural Networks"
    (2016), arXiv:1602.07868.
    """

    def __init__(self, layer, data_init: bool = False, eps: float = 1e-6, **kwargs):
        if isinstance(layer, dict):
            config = copy.deepcopy(layer)
            # Each wrapper builds its layer itself (see `build`).
            config.pop("build_config", None)
            layer = keras.layers.deserialize(config)
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                f"{_NAME}: `layer` must be a Keras layer (or its config); received {layer!r}."
            )
        if layer.built and not layer.weights:
            # Layers without weights are built from the start.
            raise _no_kernel_error(layer)
        if layer.built:
            raise ValueError(
                f"{_NAME}: `layer` {type(layer).__name__} ('{layer.name}') is already "
                "built; pass an unbuilt layer (its kernel becomes the weight `v` when "
                "the wrapper builds it)."
            )
        _check_no_kernel_transform(layer)
        data_init = av.check_bool(data_init, "data_init", _NAME)
        eps = av.check_float(eps, "eps", _NAME)
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = layer.dtype_policy
        # The wrapper's own weights are read in float32, and so is the wrapped
        # layer's bias here (the wrapped layer autocasts in its own call).
        kwargs["autocast"] = False
        super().__init__(layer, **kwargs)
        layer.dtype_policy = self.dtype_policy
        self.data_init = data_init
        self.eps = eps

    # ------------------------------------------------------------------ build
    def build(self, input_shape):
        layer = self.layer
        if layer.built:
            raise ValueError(
                f"{_NAME} ('{self.name}'): the wrapped layer '{layer.name}' was built "
                "elsewhere; pass an unbuilt layer."
            )
        # The wrapped layer creates its kernel as the weight `v`, read in
        # float32 (no autocast): the norm is computed in full precision.
        created = []
        add_weight = layer.add_weight

        def add_weight_as_v(*args, **kwargs):
            if kwargs.get("name") == "kernel" and not created:
                kwargs.update(name="v", autocast=False)
                created.append(add_weight(*args, **kwargs))
                return created[0]
            return add_weight(*args, **kwargs)

        layer.__dict__["add_weight"] = add_weight_as_v
        try:
            layer.build(input_shape)
        finally:
            layer.__dict__.pop("add_weight", None)
        kernel_attr = next(
            (n for n, value in vars(layer).items() if created and value is created[0]), None
        )
        if kernel_attr is None:
            raise _no_kernel_error(layer)
        self._kernel_attr = kernel_attr
        v = created[0]
        rank = len(v.shape)
        self._norm_axes = _norm_axes(layer, rank)
        self._gain_shape = tuple(1 if a in self._norm_axes else d for a, d in enumerate(v.shape))
        units = av.prod(self._gain_shape)
        norm_axes, eps = self._norm_axes, self.eps

        def g_initializer(shape, dtype=None):
            norm = ops.sqrt(ops.sum(ops.square(ops.cast(v, "float32")), axis=norm_axes) + eps)
            return ops.cast(ops.reshape(norm, shape), dtype or "float32")

        self.g = self.add_weight(
            name="g", shape=(units,), initializer=g_initializer, autocast=False
        )
        bias = getattr(layer, "bias", None)
        self._has_bias = isinstance(bias, keras.Variable)
        if self.data_init:
            if self._has_bias and tuple(bias.shape) != (units,):
                raise ValueError(
                    f"{_NAME} ('{self.name}'): `data_init=True` needs one bias per output "
                    f"channel ({units}); the wrapped layer's bias has shape {tuple(bias.shape)}."
                )
            self.initialized = self.add_weight(
                name="initialized",
                shape=(),
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
            )
            self.g_offset = self.add_weight(
                name="g_offset",
                shape=(units,),
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
            )
            if self._has_bias:
                self.bias_offset = self.add_weight(
                    name="bias_offset",
                    shape=(units,),
                    initializer="zeros",
                    dtype="float32",
                    trainable=False,
                    autocast=False,
                )
        # Errors for another input name the wrapper.
        self.input_spec = layer.input_spec

    @property
    def v(self):
        """The raw kernel (the wrapped layer's kernel weight)."""
        return getattr(self.layer, self._kernel_attr)

    # -------------------------------------------------------------------- call
    def _channel_axis(self) -> int:
        return 1 if getattr(self.layer, "data_format", None) == "channels_first" else -1

    def _effective_kernel(self, g):
        """`g · v / sqrt(sum(v²) + eps)` in float32, cast to the compute dtype."""
        gain = ops.reshape(ops.cast(g, "float32"), self._gain_shape)
        kernel = normalize_kernel(ops.cast(self.v, "float32"), gain, self._norm_axes, self.eps)
        return ops.cast(kernel, self.layer.compute_dtype)

    def effective_kernel(self):
        """The kernel the wrapped layer computes with, `(g [+ g_offset]) · v /
        sqrt(sum(v²) + eps)`, in float32 (for `kcl.utils.fuse_for_inference`)."""
        g = ops.cast(self.g, "float32")
        if self.data_init:
            g = g + self.g_offset
        gain = ops.reshape(g, self._gain_shape)
        return normalize_kernel(ops.cast(self.v, "float32"), gain, self._norm_axes, self.eps)

    def effective_bias(self):
        """The wrapped layer's bias as used in the call (`bias [+ bias_offset]`),
        float32, or None when it has none."""
        if not self._has_bias:
            return None
        bias = ops.cast(self.layer.bias, "float32")
        return bias + self.bias_offset if self.data_init else bias

    def _run_layer(self, inputs, kernel, bias=None, pre_activation=False):
        """The wrapped layer on `inputs` with its kernel (and bias, and for
        `pre_activation` its activation) temporarily replaced by tensors."""
        layer = self.layer
        replace = {self._kernel_attr: kernel}
        if bias is not None:
            replace["bias"] = ops.cast(bias, layer.compute_dtype)
        if pre_activation and hasattr(layer, "activation"):
            replace["activation"] = keras.activations.linear
        attrs = layer.__dict__
        saved = {name: attrs.get(name, _MISSING) for name in replace}
        attrs.update(replace)
        try:
            if pre_activation:
                # Plain `call` (no losses or other state recorded): this runs
                # inside `ops.cond`.
                dtype = layer.compute_dtype
                inputs = keras.tree.map_structure(
                    lambda t: (
                        ops.cast(t, dtype)
                        if "float" in keras.backend.standardize_dtype(t.dtype)
                        else t
                    ),
                    inputs,
                )
                return layer.call(inputs)
            return layer(inputs)
        finally:
            for name, value in saved.items():
                if value is _MISSING:
                    attrs.pop(name, None)
                else:
                    attrs[name] = value

    def _data_dependent_values(self, inputs):
        """(g, bias) giving the batch's pre-activations zero mean and unit
        variance per channel (float32, no gradient)."""
        unit = self._effective_kernel(ops.ones(self.g.shape, "float32"))
        zeros = ops.zeros(self.g.shape, "float32") if self._has_bias else None
        t = ops.cast(self._run_layer(inputs, unit, zeros, pre_activation=True), "float32")
        axis = self._channel_axis() % len(t.shape)
        axes = tuple(a for a in range(len(t.shape)) if a != axis)
        mean = ops.mean(t, axis=axes)
        inv_std = ops.rsqrt(ops.var(t, axis=axes) + self.eps)
        g = ops.stop_gradient(inv_std)
        b = ops.stop_gradient(-mean * inv_std)
        return (g, b) if self._has_bias else (g,)

    def _initialize_from_data(self, inputs):
        """The data-dependent initialisation, on the first training call
        only: sets `g`, the bias (on JAX, their offsets) and `initialized`."""
        pairs = [(self.g, self.g_offset)]
        if self._has_bias:
            pairs.append((self.layer.bias, self.bias_offset))
        done = ops.greater(self.initialized, 0.5)
        if keras.backend.backend() == "jax":
            # Keras' JAX trainer drops assignments to trainable weights made
            # in the forward pass; those to non-trainable ones are kept.
            values = ops.cond(
                done,
                lambda: tuple(ops.zeros(w.shape, "float32") for w, _ in pairs),
                lambda: self._data_dependent_values(inputs),
            )
            for (weight, offset), value in zip(pairs, values):
                weight_value = ops.stop_gradient(ops.cast(weight, "float32"))
                offset.assign(ops.where(done, offset.value, value - weight_value))
        else:

            def initialize():
                values = self._data_dependent_values(inputs)
                for (weight, offset), value in zip(pairs, values):
                    weight.assign(ops.cast(value, weight.dtype))
                    offset.assign(ops.zeros(offset.shape, "float32"))
                return ops.zeros((), "float32")

            ops.cond(done, lambda: ops.zeros((), "float32"), initialize)
        self.initialized.assign(ops.ones((), "float32"))

    def call(self, inputs, training=None):
        if not self.data_init:
            return self._run_layer(inputs, self._effective_kernel(self.g))
        if training:
            self._initialize_from_data(inputs)
        g = ops.cast(self.g, "float32") + self.g_offset
        bias = None
        if self._has_bias:
            bias = ops.cast(self.layer.bias, "float32") + self.bias_offset
        return self._run_layer(inputs, self._effective_kernel(g), bias)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    # ----------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        # The layer is saved unbuilt: the wrapper builds it (`build`).
        config["layer"] = {k: v for k, v in config["layer"].items() if k != "build_config"}
        config.update({"data_init": self.data_init, "eps": self.eps})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = config.pop("layer")
        if isinstance(layer, dict):
            layer = {k: v for k, v in layer.items() if k != "build_config"}
            with keras.saving.CustomObjectScope(custom_objects or {}):
                layer = keras.layers.deserialize(layer)
        return cls(layer, **config)
