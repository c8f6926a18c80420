"""DropBlock2D: structured dropout of contiguous square regions."""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_cv_layers.utils import argument_validation as av
from keras_cv_layers.utils.serialization import register


def check_rate(value, arg_name: str = "rate", layer_name: str | None = None) -> float:
    """`value` as a float in `[0, 1)`; `ValueError` naming the argument otherwise."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(float(value))
        and 0 <= value < 1
    )
    if not ok:
        prefix = f"{layer_name}: " if layer_name else ""
        raise ValueError(
            f"{prefix}`{arg_name}` must be a float in [0, 1); received {arg_name}={value!r}."
        )
    return float(value)


def check_seed(value, layer_name: str | None = None) -> int | None:
    """`value` if it is an int or None; `ValueError` naming `seed` otherwise."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        prefix = f"{layer_name}: " if layer_name else ""
        raise ValueError(f"{prefix}`seed` must be an int or None; received seed={value!r}.")
    return value


def _spatial_axes(data_format: str) -> tuple:
    return (1, 2) if data_format == "channels_last" else (2, 3)


def _work_dtype(dtype) -> str:
    """float32 for half-precision compute dtypes (the rescaling factor can be
    large), the dtype itself otherwise."""
    dtype = keras.backend.standardize_dtype(dtype)
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def clamped_block_size(height, width, block_size: int) -> tuple:
    """`(min(block_size, height), min(block_size, width))`: python ints when
    the sizes are static, scalar tensors otherwise."""
    if isinstance(height, int) and isinstance(width, int):
        return min(block_size, height), min(block_size, width)
    return ops.minimum(block_size, height), ops.minimum(block_size, width)


def seed_probability(rate: float, block_size: int, height, width):
    """γ of Ghiasi et al. (2018, eq. 1), with the block clamped to the map:
    `rate / (b_h b_w) · HW / ((H − b_h + 1)(W − b_w + 1))`, a float32 scalar
    (clipped to [0, 1])."""
    bh, bw = clamped_block_size(height, width, block_size)
    h, w = ops.cast(height, "float32"), ops.cast(width, "float32")
    bh, bw = ops.cast(bh, "float32"), ops.cast(bw, "float32")
    gamma = rate / (bh * bw) * (h * w) / ((h - bh + 1.0) * (w - bw + 1.0))
    return ops.clip(gamma, 0.0, 1.0)


def valid_seed_region(height, width, block_size: int, data_format: str):
    """float32 0/1 map, shaped to broadcast against the input (`(1, H, W, 1)`
    or `(1, 1, H, W)`): 1 where a seed's block (top-left corner at the seed,
    block clamped to the map) lies wholly inside the image, i.e. at rows
    `i <= H - b_h` and columns `j <= W - b_w`."""
    bh, bw = clamped_block_size(height, width, block_size)
    rows = ops.cast(ops.arange(0, height) <= height - bh, "float32")
    cols = ops.cast(ops.arange(0, width) <= width - bw, "float32")
    region = ops.expand_dims(rows, 1) * ops.expand_dims(cols, 0)
    if data_format == "channels_last":
        return region[None, :, :, None]
    return region[None, None, :, :]


def block_keep_mask(seeds, block_size: int, data_format: str):
    """The keep mask `M` (float32, 1 = kept) of a 0/1 seed map.

    Seeds outside `valid_seed_region` are ignored; each remaining seed at
    `(i, j)` zeroes the block `[i, i + b_h) × [j, j + b_w)` (`b_h, b_w` the
    block clamped to the map), which therefore lies inside the image.  This
    is a stride-1 max pooling of the seed map with window `block_size`
    (zeros padded `block_size − 1` before each spatial axis, so the output
    has the input's size); a window larger than the map covers only the
    single valid seed position, so the static window also gives the clamped
    block.  Equivalent to the paper's seeds at block centres restricted to
    the central region (a one-to-one shift of the seed positions).

    Works with unknown (traced) spatial sizes: the pooling window is static.
    """
    seeds = ops.cast(seeds, "float32")
    axes = _spatial_axes(data_format)
    shape = ops.shape(seeds)
    seeds = seeds * valid_seed_region(shape[axes[0]], shape[axes[1]], block_size, data_format)
    if block_size == 1:
        return 1.0 - seeds
    pad = [[0, 0]] * 4
    pad[axes[0]] = [block_size - 1, 0]
    pad[axes[1]] = [block_size - 1, 0]
    dropped = ops.max_pool(
        ops.pad(seeds, pad),
        pool_size=(block_size, block_size),
        strides=(1, 1),
        padding="valid",
        data_format=data_format,
    )
    return 1.0 - dropped


def apply_keep_mask(x, mask):
    """`x · M · numel(M) / sum(M)`, the sum over the whole batch; zeros (never
    NaN/Inf) when everything is dropped (or the batch is empty).  Computed in
    float32 for half-precision `x`, returned in `x`'s dtype."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    work = _work_dtype(dtype)
    mask = ops.cast(mask, "float32")
    kept = ops.mean(mask)  # sum(M) / numel(M)
    safe = ops.where(kept > 0, kept, ops.ones_like(kept))
    scaled = ops.cast(mask / safe, work)
    return ops.cast(ops.cast(x, work) * scaled, dtype)


def drop_block2d(
    x,
    rate: float,
    block_size: int = 7,
    seed=None,
    training=None,
    data_format: str = "channels_last",
):
    """DropBlock of a 4D tensor (see `DropBlock2D`); `x` when not `training`
    or `rate == 0`.  `seed` is anything `keras.random.uniform` accepts (pass
    a `keras.random.SeedGenerator` inside jit-compiled functions)."""
    if not training or rate <= 0:
        return x
    axes = _spatial_axes(data_format)
    shape = ops.shape(x)
    gamma = seed_probability(rate, block_size, shape[axes[0]], shape[axes[1]])
    noise = keras.random.uniform(shape, dtype="float32", seed=seed)
    seeds = ops.cast(noise < gamma, "float32")
    return apply_keep_mask(x, block_keep_mask(seeds, block_size, data_format))


@register
class DropBlock2D(keras.layers.Layer):
    """DropBlock: drops contiguous `block_size × block_size` regions of
    feature maps during training (Ghiasi, Lin & Le, 2018, "DropBlock: A
    regularization method for convolutional networks", arXiv:1810.12890).

    In training, seed points are drawn independently per (example, channel)
    with probability `γ = rate / b² · HW / ((H − b + 1)(W − b + 1))`, only at
    positions where a whole block fits inside the image; each seed zeroes
    its `b × b` block, giving the keep mask `M`, and the output is
    `x · M · numel(M) / sum(M)` (the sum over the whole batch, so the
    expected value is kept).  When every unit is dropped the output is zeros
    (never NaN/Inf).  When `block_size` is larger than the height or width,
    the block is clamped to the feature-map size along that axis (so the
    block then spans the whole axis); this also works when the spatial size
    is only known at run time.  At inference (`training` False or None) and
    with `rate=0`, the layer is the identity.  No weights.

    Args:
        rate: float in [0, 1), the fraction of units to drop (approximately:
            overlapping blocks make the dropped fraction somewhat smaller).
        block_size: positive int, the side of the dropped squares. Default 7.
        data_format: `"channels_last"`, `"channels_first"` or None.
        seed: optional int, seed of the random seed points.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, height, width, channels)` (channels_last) or
            `(batch, channels, height, width)` (channels_first).
        training: bool, whether to drop blocks (the layer is the identity
            otherwise).

    Returns:
        A tensor of the input's shape, in the layer's compute dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> layer = kcl.DropBlock2D(0.2, block_size=3, seed=1, data_format="channels_last")
    >>> x = np.ones((2, 8, 8, 3), "float32")
    >>> bool(np.all(np.asarray(layer(x)) == x))  # identity at inference
    True
    >>> y = np.asarray(layer(x, training=True))
    >>> y.shape, bool(np.all(np.isfinite(y)))
    ((2, 8, 8, 3), True)
    """

    def __init__(
        self,
        rate: float,
        block_size: int = 7,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cls = self.__class__.__name__
        self.rate = check_rate(rate, "rate", cls)
        self.block_size = av.positive_int(block_size, "block_size", cls)
        self.data_format = av.normalize_data_format(data_format, cls)
        self.seed = check_seed(seed, cls)
        if self.rate > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _check_input(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        av.check_input_rank(self, input_shape, 4, av.spatial_description(2, self.data_format))
        return input_shape

    def build(self, input_shape):
        self._check_input(input_shape)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs, training=None):
        x = ops.cast(inputs, self.compute_dtype)
        if not training or self.rate <= 0:
            return x
        return drop_block2d(
            x, self.rate, self.block_size, self.seed_generator, True, self.data_format
        )

    def compute_output_shape(self, input_shape):
        return self._check_input(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rate": self.rate,
                "block_size": self.block_size,
                "data_format": self.data_format,
                "seed": self.seed,
            }
        )
        return config
