"""Argument normalization and convolution arithmetic shared by every layer.

Kept in the package (rather than imported from ``keras.src``) because Keras'
private modules move between releases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import keras
import numpy as np

_DATA_FORMATS = ("channels_last", "channels_first")


def _name(layer_name: str | None) -> str:
    return f"{layer_name}: " if layer_name else ""


def normalize_data_format(value: str | None, layer_name: str | None = None) -> str:
    """Returns `"channels_last"` or `"channels_first"` (None → Keras config)."""
    if value is None:
        value = keras.config.image_data_format()
    if not isinstance(value, str) or value.lower() not in _DATA_FORMATS:
        raise ValueError(
            f"{_name(layer_name)}invalid `data_format`={value!r}; expected one "
            f"of {_DATA_FORMATS} or None."
        )
    return value.lower()


def normalize_tuple(
    value, n: int, arg_name: str, allow_zero: bool = False, layer_name=None
) -> tuple:
    """Turns an int or an iterable of `n` ints into a tuple of `n` ints."""
    if isinstance(value, bool):
        raise ValueError(
            f"{_name(layer_name)}`{arg_name}` must be an int or a tuple of "
            f"{n} ints; received {value!r}."
        )
    if isinstance(value, int):
        value_tuple = (value,) * n
    else:
        try:
            value_tuple = tuple(value)
        except TypeError:
            raise ValueError(
                f"{_name(layer_name)}`{arg_name}` must be an int or a tuple "
                f"of {n} ints; received {value!r}."
            ) from None
        if len(value_tuple) != n or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value_tuple
        ):
            raise ValueError(
                f"{_name(layer_name)}`{arg_name}` must be an int or a tuple "
                f"of {n} ints; received {value!r}."
            )
    lower = 0 if allow_zero else 1
    if any(v < lower for v in value_tuple):
        raise ValueError(f"{_name(layer_name)}`{arg_name}` must be >= {lower}; received {value!r}.")
    return value_tuple


def normalize_padding(
    value: str, allowed: Iterable[str] = ("valid", "same"), layer_name=None
) -> str:
    """Lower-cases and validates a padding name."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(
            f"{_name(layer_name)}invalid `padding`={value!r}; expected one of {allowed}."
        )
    return value.lower()


def positive_int(value, arg_name: str, layer_name=None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{_name(layer_name)}`{arg_name}` must be a positive integer; "
            f"received {arg_name}={value!r}."
        )
    return value


def conv_output_length(
    length: int | None,
    kernel: int,
    stride: int,
    padding: str,
    dilation: int = 1,
) -> int | None:
    """Output length of a convolution/pooling along one axis (Keras rules);
    zero or negative when the window does not fit (see `check_output_size`)."""
    if length is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        return -(-length // stride)
    return (length - effective) // stride + 1


def same_padding_amounts(length, kernel: int, stride: int, dilation: int = 1) -> tuple:
    """(before, after) zero padding that TF/Keras "same" applies on one axis.

    Works with python ints and with symbolic/tensor lengths.
    """
    effective = (kernel - 1) * dilation + 1
    if isinstance(length, int):
        out = -(-length // stride)
        total = max((out - 1) * stride + effective - length, 0)
        return total // 2, total - total // 2
    out = keras.ops.floor_divide(length + stride - 1, stride)
    total = keras.ops.maximum((out - 1) * stride + effective - length, 0)
    return keras.ops.floor_divide(total, 2), total - keras.ops.floor_divide(total, 2)


def _format_arguments(arguments: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in arguments.items())


def check_output_size(owner: str, input_shape, output_spatial, **arguments) -> None:
    """Raises `ValueError` when a computed spatial output size is zero or
    negative (a window larger than its input, or an empty spatial axis):
    no kernel may run on such a shape (TensorFlow's CPU kernels return
    uninitialised memory for it).

    `owner` names the layer or op (`"Layer Conv2D ('conv2d')"`); `arguments`
    are the window arguments shown in the message.
    """
    if any(d is not None and d <= 0 for d in output_spatial):
        raise ValueError(
            f"{owner}: computed output size would be zero or negative: input of "
            f"shape {tuple(input_shape)} with {_format_arguments(arguments)} gives "
            f"spatial output size {tuple(output_spatial)}. Use a larger input, "
            f'a smaller window or padding="same".'
        )


def layer_owner(layer) -> str:
    """How error messages name a layer: `Layer Conv2D ('conv2d')`."""
    return f"Layer {layer.__class__.__name__} ('{layer.name}')"


def spatial_dims(shape, data_format: str) -> tuple:
    """The spatial entries of a full (batch, ..., channels) shape."""
    shape = tuple(shape)
    return shape[1:-1] if data_format == "channels_last" else shape[2:]


def conv_output_shape(
    input_shape: Sequence,
    filters: int,
    kernel_size: Sequence[int],
    strides: Sequence[int],
    padding: str,
    dilation_rate: Sequence[int],
    data_format: str,
    owner: str = "Convolution",
) -> tuple:
    """Full output shape of an N-D convolution, as `keras.layers.ConvND`;
    `ValueError` (naming `owner`) when a spatial size is zero or negative."""
    input_shape = tuple(input_shape)
    rank = len(kernel_size)
    spatial = spatial_dims(input_shape, data_format)
    out_spatial = tuple(
        conv_output_length(spatial[i], kernel_size[i], strides[i], padding, dilation_rate[i])
        for i in range(rank)
    )
    check_output_size(
        owner,
        input_shape,
        out_spatial,
        kernel_size=tuple(kernel_size),
        strides=tuple(strides),
        padding=padding,
        dilation_rate=tuple(dilation_rate),
    )
    if data_format == "channels_last":
        return (input_shape[0],) + out_spatial + (filters,)
    return (input_shape[0], filters) + out_spatial


def check_bool(value, arg_name: str, layer_name: str | None = None) -> bool:
    """`value` as a bool; `ValueError` naming the argument unless it is one
    (`"False"` or 0 would silently read as a different setting)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(
        f"{_name(layer_name)}`{arg_name}` must be a bool; received {arg_name}={value!r}."
    )


def check_float(
    value, arg_name: str, layer_name: str | None = None, *, allow_zero: bool = False
) -> float:
    """`value` as a finite float > 0 (>= 0 with `allow_zero`); `ValueError`
    naming the argument otherwise (NaN, inf, a string, a bool)."""
    ok = (
        not isinstance(value, (bool, np.bool_))
        and isinstance(value, (int, float, np.integer, np.floating))
        and math.isfinite(float(value))
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(
            f"{_name(layer_name)}`{arg_name}` must be a finite number {bound}; "
            f"received {arg_name}={value!r}."
        )
    return float(value)


def channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else 1


def check_input_rank(layer, input_shape, ndim: int, description: str) -> None:
    """Raises a ValueError naming the layer and the expected shape."""
    if len(input_shape) != ndim:
        raise ValueError(
            f"Layer {layer.__class__.__name__} ('{layer.name}') expects input of "
            f"rank {ndim}, i.e. shape {description}; received input of shape "
            f"{tuple(input_shape)}."
        )


def spatial_description(rank: int, data_format: str, channels: str = "channels") -> str:
    names = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}[rank]
    if data_format == "channels_last":
        return "(batch, " + ", ".join(names) + f", {channels})"
    return f"(batch, {channels}, " + ", ".join(names) + ")"


def prod(values: Iterable[int]) -> int:
    return int(math.prod(values))


def resolve_aliases(arguments: dict, aliases: dict, layer_name: str | None = None) -> dict:
    """Folds the arguments that have two spellings into one.

    Args:
        arguments: argument name -> value as received, for both spellings
            of each argument; None means "not given".
        aliases: other spelling -> the name the layer uses internally, e.g.
            `{"depthwise_initializer": "kernel_initializer"}` (Keras' name
            for the depthwise kernel initializer).
        layer_name: the layer class named in error messages.

    Returns:
        `arguments` without the alias keys, each internal name holding the
        value given under either spelling (None if neither was given).

    Raises:
        ValueError: both spellings of one argument are given (not None),
            naming both.
    """
    resolved = {k: v for k, v in arguments.items() if k not in aliases}
    for alias, name in aliases.items():
        value, alias_value = arguments.get(name), arguments.get(alias)
        if value is not None and alias_value is not None:
            raise ValueError(
                f"{_name(layer_name)}`{alias}` and `{name}` are two names of the same "
                f"argument; pass only one of them (received {alias}={alias_value!r} "
                f"and {name}={value!r})."
            )
        resolved[name] = value if alias_value is None else alias_value
    return resolved
