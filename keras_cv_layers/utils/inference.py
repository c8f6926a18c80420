"""The inference form of a model: weight transforms baked into plain kernels.

`fuse_for_inference(model)` returns an equivalent Functional / Sequential
model in which every layer that recomputes its kernel on each call (weight
normalization, equalized learning rate, weight standardization, the group
convolution's kernel expansion, the `WeightNormalization` wrapper) is
replaced by a layer holding the effective kernel, so that an exported graph
carries no per-call weight arithmetic.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

__all__ = ["fuse_for_inference"]

_PLAIN_ARGS = ("strides", "padding", "data_format", "dilation_rate", "activation", "use_bias")


def _is_graph_model(model) -> bool:
    """Sequential or Functional (a graph of layers that `clone_model` rebuilds)."""
    if isinstance(model, keras.Sequential):
        return True
    return any(cls.__name__ == "Functional" for cls in type(model).__mro__)


def _classes():
    """The package's classes (imported here: the layers import `utils`)."""
    from keras_cv_layers.layers.convolutional import base_conv
    from keras_cv_layers.layers.convolutional.conv1d import Conv1D
    from keras_cv_layers.layers.convolutional.conv2d import Conv2D
    from keras_cv_layers.layers.convolutional.conv3d import Conv3D
    from keras_cv_layers.layers.convolutional.depthwise_conv2d import DepthwiseConv2D
    from keras_cv_layers.layers.convolutional.sws_conv import SWSConv1D, SWSConv2D, SWSConv3D
    from keras_cv_layers.layers.convolutional.ws_conv import WSConv1D, WSConv2D, WSConv3D
    from keras_cv_layers.layers.equivariant.group_conv2d import GroupConv2D
    from keras_cv_layers.layers.wrappers.weight_normalization import WeightNormalization

    plain = {
        Conv1D: keras.layers.Conv1D,
        Conv2D: keras.layers.Conv2D,
        Conv3D: keras.layers.Conv3D,
        WSConv1D: keras.layers.Conv1D,
        WSConv2D: keras.layers.Conv2D,
        WSConv3D: keras.layers.Conv3D,
        SWSConv1D: keras.layers.Conv1D,
        SWSConv2D: keras.layers.Conv2D,
        SWSConv3D: keras.layers.Conv3D,
        DepthwiseConv2D: keras.layers.DepthwiseConv2D,
    }
    return base_conv, plain, GroupConv2D, WeightNormalization


def _has_transform(layer, base_conv) -> bool:
    """Whether a package convolution computes its kernel from `kernel` per call."""
    if not isinstance(layer, base_conv.BaseConvolution):
        return False
    if getattr(layer, "weightnorm", False) or getattr(layer, "equalize", False):
        return True
    return type(layer).transform_kernel not in (
        base_conv.BaseConvolution.transform_kernel,
        base_conv.WeightNormEqualizeMixin.transform_kernel,
    )


def _input_shape(layer):
    config = layer.get_build_config()
    if not config or "input_shape" not in config:
        raise ValueError(
            f"fuse_for_inference: layer {type(layer).__name__} ('{layer.name}') was "
            "not built from an input shape; call the model once before fusing it."
        )
    return config["input_shape"]


def _baked_kernel(layer):
    """The effective kernel, float32, computed by the layer's own transform."""
    return layer.transform_kernel(ops.cast(layer.kernel, "float32"))


def _assign(variable, value) -> None:
    # Through numpy: a copy, never the original's buffer (JAX's `predict`
    # donates the model's state, which would delete a shared array).
    variable.assign(np.array(ops.convert_to_numpy(ops.cast(value, variable.dtype))))


def _package_class(keras_class):
    """The package's plain convolution class of a Keras convolution class
    (`kcl.Conv1D/2D/3D`, `kcl.DepthwiseConv2D`: the same arguments, the
    package's backend fast paths, e.g. torch's channels_last path without
    Keras' layout copies)."""
    from keras_cv_layers.layers.convolutional.conv1d import Conv1D
    from keras_cv_layers.layers.convolutional.conv2d import Conv2D
    from keras_cv_layers.layers.convolutional.conv3d import Conv3D
    from keras_cv_layers.layers.convolutional.depthwise_conv2d import DepthwiseConv2D

    return {
        keras.layers.Conv1D: Conv1D,
        keras.layers.Conv2D: Conv2D,
        keras.layers.Conv3D: Conv3D,
        keras.layers.DepthwiseConv2D: DepthwiseConv2D,
    }[keras_class]


def _plain_conv(layer, keras_class, keras_layers: bool = True):
    """`keras.layers.ConvND` / `DepthwiseConv2D` holding the effective kernel
    (with `keras_layers=False`, the package's class of the same kind)."""
    kwargs = {name: getattr(layer, name) for name in _PLAIN_ARGS}
    if keras_class is keras.layers.DepthwiseConv2D:
        args = (layer.kernel_size,)
        kwargs["depth_multiplier"] = layer.depth_multiplier
    else:
        args = (layer.filters, layer.kernel_size)
        kwargs["groups"] = layer.groups
    cls = keras_class if keras_layers else _package_class(keras_class)
    new = cls(*args, name=layer.name, dtype=layer.dtype_policy, **kwargs)
    new.build(_input_shape(layer))
    _assign(new.kernel, _baked_kernel(layer))
    if layer.use_bias:
        _assign(new.bias, layer.bias)
    return new


def _package_conv(keras_layer, input_shape):
    """`_package_class`'s layer with a built Keras convolution's
    configuration and weights."""
    new = _package_class(type(keras_layer)).from_config(keras_layer.get_config())
    new.build(input_shape)
    _copy_by_name(keras_layer, new, {})
    return new


def _same_class_without_transform(layer):
    """The same class with `weightnorm` / `equalize` off and the effective
    kernel as its `kernel` (layers with no plain Keras equivalent:
    CoordConv2D, the masked and deformable convolutions, subclasses)."""
    config = layer.get_config()
    config.update(weightnorm=False, equalize=False)
    new = type(layer).from_config(config)
    new.build_from_config(layer.get_build_config())
    _copy_by_name(layer, new, {"kernel": _baked_kernel(layer)})
    return new


def _copy_by_name(source, target, values: dict) -> None:
    old = {v.path.split("/")[-1]: v for v in source.weights}
    for variable in target.weights:
        name = variable.path.split("/")[-1]
        _assign(variable, values[name] if name in values else old[name])


def _group_conv(layer, keras_layers: bool = True):
    """`GroupConv2D` → `Sequential([Reshape, to_conv2d(), Reshape])` (plain
    Keras; with `keras_layers=False` the convolution is `kcl.Conv2D`); None
    (kept) when both spatial sizes are unknown."""
    shape = tuple(_input_shape(layer))
    out_shape = tuple(layer.compute_output_shape(shape))
    g_in, g = layer._in_group, layer.group_order
    flat_in = g_in * layer._in_channels
    cl = layer.data_format == "channels_last"

    def target(dims):
        dims = tuple(-1 if d is None else int(d) for d in dims)
        return dims if dims.count(-1) <= 1 else None

    steps = []
    if len(shape) == 5:
        spatial = shape[1:3] if cl else shape[3:]
        steps.append(target(spatial + (flat_in,) if cl else (flat_in,) + spatial))
    spatial_out = out_shape[1:3] if cl else out_shape[3:]
    steps.append(
        target(spatial_out + (g, layer.filters) if cl else (g, layer.filters) + spatial_out)
    )
    if any(t is None for t in steps):
        warnings.warn(
            f"fuse_for_inference: GroupConv2D ('{layer.name}') is kept: its input "
            "has two unknown spatial sizes, which keras.layers.Reshape cannot "
            "flatten. Give the model's Input a static height or width to fuse it.",
            stacklevel=3,
        )
        return None
    dtype = layer.dtype_policy
    layers = []
    if len(shape) == 5:
        layers.append(keras.layers.Reshape(steps[0], dtype=dtype, name=f"{layer.name}_flatten"))
    conv = layer.to_conv2d(name=f"{layer.name}_conv2d")
    if not keras_layers:
        conv = _package_conv(
            conv, (None, None, None, flat_in) if cl else (None, flat_in, None, None)
        )
    layers.append(conv)
    layers.append(keras.layers.Reshape(steps[-1], dtype=dtype, name=f"{layer.name}_unflatten"))
    new = keras.Sequential(layers, name=layer.name)
    new.build(shape)
    return new


def _weight_normalization(wrapper, fuse):
    """The wrapped layer (a fresh copy) holding the effective kernel and bias."""
    inner = wrapper.layer
    config = keras.layers.serialize(inner)
    config.pop("build_config", None)
    config["config"]["name"] = wrapper.name
    new = keras.layers.deserialize(config)
    new.build(_input_shape(wrapper))
    if len(new.weights) != len(inner.weights):
        raise ValueError(
            f"fuse_for_inference: cannot rebuild the layer wrapped by "
            f"WeightNormalization ('{wrapper.name}')."
        )
    bias = getattr(inner, "bias", None)
    for old, variable in zip(inner.weights, new.weights):
        if old is wrapper.v:
            value = wrapper.effective_kernel()
        elif bias is not None and old is bias:
            value = wrapper.effective_bias()
        else:
            value = old
        _assign(variable, value)
    fused = fuse(new)  # e.g. a GroupConv2D inside the wrapper
    return new if fused is None else fused


def _fuse_layer(layer, keras_layers: bool = True):
    """A built replacement of `layer` holding its effective kernel, or None."""
    base_conv, plain, group_conv, weight_normalization = _classes()
    if isinstance(layer, weight_normalization):
        return _weight_normalization(layer, lambda inner: _fuse_layer(inner, keras_layers))
    if isinstance(layer, group_conv):
        return _group_conv(layer, keras_layers)
    if not _has_transform(layer, base_conv):
        return None
    keras_class = plain.get(type(layer))
    if keras_class is not None:
        return _plain_conv(layer, keras_class, keras_layers)
    if isinstance(layer, base_conv.WeightNormEqualizeMixin):
        own = type(layer).transform_kernel is base_conv.WeightNormEqualizeMixin.transform_kernel
        if own:
            return _same_class_without_transform(layer)
    return None


def fuse_for_inference(model: keras.Model, keras_layers: bool = True) -> keras.Model:
    """Returns an equivalent model whose kernels are precomputed.

    Every layer that recomputes its kernel on each call is replaced by a layer
    holding the effective kernel, so that the forward pass (and an exported
    graph) carries no per-call weight arithmetic:

    - `kcl.Conv1D/2D/3D` and `kcl.DepthwiseConv2D` with `weightnorm` or
      `equalize`, `kcl.WSConv1D/2D/3D`, `kcl.SWSConv1D/2D/3D` →
      `keras.layers.Conv1D/2D/3D` / `keras.layers.DepthwiseConv2D` with the
      same name, filters, kernel size, strides, padding, data format,
      dilation, groups, activation, bias and dtype policy;
    - `kcl.GroupConv2D` → a `keras.Sequential` (named as the layer) of
      `keras.layers.Reshape` (group-major flatten, for a group input),
      `layer.to_conv2d()` and `Reshape` back to the group feature map.  It
      needs a static height or width (`Reshape` takes one unknown size);
      with both unknown the layer is kept, with a warning;
    - `kcl.WeightNormalization` → a copy of the wrapped layer (named as the
      wrapper) holding `g · v / ‖v‖` (with `g_offset` / `bias_offset` of the
      data-dependent initialisation added);
    - `kcl.CoordConv2D`, the masked (`PartialConv*`, `SparseConv*`,
      `PartialDepthwiseConv2D`) and deformable convolutions with
      `weightnorm` / `equalize`: no plain Keras equivalent, so the same class
      with both options off and the effective kernel as its `kernel`.

    Every other layer (the package's convolutions with their transform off,
    blocks, pooling, Keras layers) is copied with its weights.  Nested
    Functional / Sequential models are fused recursively; shared layers stay
    shared.  The original model is not modified.  Training-only arguments
    (initializers, regularizers, constraints) are not carried over to the
    plain Keras layers: the result is meant for inference and export (it
    saves to and loads from `.keras`; the replaced layers need no
    `keras_cv_layers` to load).

    Mixed precision: the effective kernels are computed in float32 (as the
    layers do) and stored in the new layers' float32 variables; each new
    layer keeps the original's dtype policy and casts the kernel to its
    compute dtype on call, as the original did, so the outputs match under
    `"mixed_float16"` / `"mixed_bfloat16"` too.

    With `keras_layers=False`, the replacements are the package's own plain
    convolutions instead (`kcl.Conv1D/2D/3D`, `kcl.DepthwiseConv2D`, both
    options off, with the same configuration and weights): loading the
    result then needs `keras_cv_layers`, but its forward pass keeps the
    package's backend fast paths.  On torch these are faster than Keras'
    own convolutions, which copy a channels_last input to channels_first
    and back on every call: there the stock layers make the fused model
    slower than the unfused one (`benchmarks/inference.py`).  On JAX and
    TensorFlow both forms run the same convolution.

    Args:
        model: a built Functional or Sequential `keras.Model`.
        keras_layers: True (default): replacements are stock Keras layers;
            False: the package's plain convolutions (see above).

    Returns:
        A new `keras.Model` of the same kind (same inputs, outputs and
        names) whose outputs equal `model`'s (up to float rounding, ≤1e-5).

    Raises:
        ValueError: for a subclassed model (its graph cannot be rebuilt),
            also when nested inside the model, and for an unbuilt model.

    Example:

    >>> import keras, numpy as np, keras_cv_layers as kcl
    >>> inputs = keras.Input((6, 6, 2))
    >>> outputs = kcl.WSConv2D(3, 3, data_format="channels_last")(inputs)
    >>> model = keras.Model(inputs, outputs)
    >>> fused = kcl.utils.fuse_for_inference(model)
    >>> isinstance(fused.layers[-1], kcl.WSConv2D), fused.layers[-1].name == model.layers[-1].name
    (False, True)
    >>> x = np.linspace(-1, 1, 72, dtype="float32").reshape(1, 6, 6, 2)
    >>> bool(np.allclose(model.predict(x, verbose=0), fused.predict(x, verbose=0), atol=1e-5))
    True
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"fuse_for_inference: `model` must be a keras.Model; received {model!r}.")
    if not isinstance(keras_layers, bool):
        raise ValueError(
            f"fuse_for_inference: `keras_layers` must be True or False; received {keras_layers!r}."
        )
    if not _is_graph_model(model):
        raise ValueError(
            f"fuse_for_inference: `model` ('{model.name}', {type(model).__name__}) is a "
            "subclassed model; only Functional and Sequential models can be rebuilt. "
            "Build the model with the functional API (or call the function on its "
            "Functional / Sequential parts)."
        )
    if not model.built:
        raise ValueError(
            f"fuse_for_inference: `model` ('{model.name}') is not built; call it once "
            "or give it an Input first."
        )
    copies = []

    def clone(layer):
        if isinstance(layer, keras.Model):
            return fuse_for_inference(layer, keras_layers)
        fused = _fuse_layer(layer, keras_layers)
        if fused is not None:
            return fused
        copy = layer.__class__.from_config(layer.get_config())
        copies.append((layer, copy))
        return copy

    fused_model = keras.models.clone_model(model, clone_function=clone)
    if not fused_model.built:  # a Sequential built with `build(shape)`, no Input
        fused_model.build_from_config(model.get_build_config())
    for layer, copy in copies:
        copy.set_weights(layer.get_weights())
    return fused_model
