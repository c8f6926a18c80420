"""Group (p4 / p4m) convolution kernels.

Public: `group_conv2d_kernel`, the expanded kernel of `kcl.GroupConv2D`, as a
Keras operation.  Package-private: `expand_kernel`, the gather that both
compute.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_cv_layers.ops._operation import Operation, register_op, run, static_shape
from keras_cv_layers.utils import equivariance

__all__: list[str] = ["group_conv2d_kernel"]

_NAME = "group_conv2d_kernel"


def expand_kernel(kernel, indices):
    """Expands a group-convolution kernel with one gather.

    `kernel`: `(k, k, C_in, F)`; `indices`: int32 `(k, k, C_in, G)` rows of
    `reshape(kernel, (k * k * C_in, F))` (see
    `keras_cv_layers.utils.equivariance.expansion_indices`).  Returns the
    `(k, k, C_in, G * F)` kernel of the equivalent plain convolution, output
    axis group-major.
    """
    filters = kernel.shape[-1]
    rows = ops.reshape(kernel, (-1, filters))
    expanded = ops.take(rows, indices, axis=0)  # (k, k, C_in, G, F)
    shape = tuple(indices.shape)
    return ops.reshape(expanded, shape[:3] + (shape[3] * filters,))


@register_op
class GroupConv2DKernel(Operation):
    """The operation of `group_conv2d_kernel`."""

    def __init__(self, group: str = "D4", lifting: bool = False, *, name: str | None = None):
        super().__init__(name=name)
        if not isinstance(lifting, bool):
            raise ValueError(f"{_NAME}: `lifting` must be a bool; received {lifting!r}.")
        self.arguments = {"group": equivariance.normalize_group(group, _NAME), "lifting": lifting}

    def _check(self, shape) -> tuple:
        """Validates the raw kernel's shape; returns `(k, in_group,
        in_channels, expanded shape)`."""
        group = self.arguments["group"]
        order = equivariance.group_order(group)
        in_group = 1 if self.arguments["lifting"] else order
        ok = len(shape) == 4 and None not in shape
        if ok:
            k, kw, channels, filters = shape
            ok = k == kw and k % 2 == 1 and channels % in_group == 0
        if not ok:
            layout = "(k, k, channels, filters)"
            if in_group > 1:
                layout = f"(k, k, {in_group} * channels, filters)"
            raise ValueError(
                f"{_NAME}: `kernel` must have a known shape {layout} with k odd (the "
                f"raw kernel of a {'lifting' if in_group == 1 else 'group'} "
                f"GroupConv2D, group={group!r}); received shape {tuple(shape)}."
            )
        return k, in_group, channels // in_group, (k, k, channels, order * filters)

    def call(self, kernel):
        k, in_group, channels, _ = self._check(static_shape(kernel))
        indices = equivariance.expansion_indices(k, self.arguments["group"], in_group, channels)
        return expand_kernel(kernel, indices)

    def compute_output_spec(self, kernel):
        shape = self._check(static_shape(kernel))[-1]
        return keras.KerasTensor(shape, dtype=kernel.dtype)


def group_conv2d_kernel(kernel, group: str = "D4", lifting: bool = False):
    """The p4 / p4m expanded kernel of a group convolution.

    Given the raw kernel `W` of a `kcl.GroupConv2D`, returns the kernel `K`
    of the plain convolution on the flattened, group-major input that gives
    the same numbers (`GroupConv2D.expanded_kernel()` without its weight
    normalization or equalized learning rate): output group `g` uses `W`
    transformed by `g`, spatially and, for a group layer, with its input
    group axis permuted,

        K[:, :, (h, c), (g, f)] = g(W[:, :, (g^-1 * h, c), f])

    (lifting: `K[:, :, c, (g, f)] = g(W[:, :, c, f])`), where group element
    `g = m * 4 + i` mirrors the width axis if `m = 1`, then rotates by
    `i * 90` degrees counter-clockwise.

    Args:
        kernel: `(k, k, G_in * C, filters)`, k odd; the input axis is
            group-major (`G_in` = 1 when `lifting`, else the group order).
        group: `"C4"` (p4, G = 4 rotations) or `"D4"` (p4m, G = 8 rotations
            and mirrors). Default `"D4"`.
        lifting: bool, the kernel of a lifting layer (a 4-D input
            `(batch, H, W, C)`) rather than of a group layer (5-D input
            `(batch, H, W, G, C)`). Default False.

    Returns:
        `(k, k, G_in * C, G * filters)`, output axis group-major, in the
        kernel's dtype.

    Example:

    >>> import numpy as np, keras_cv_layers as kcl
    >>> w = np.random.default_rng(0).normal(size=(3, 3, 2, 5)).astype("float32")
    >>> k = np.asarray(kcl.ops.group_conv2d_kernel(w, "C4", lifting=True))
    >>> k.shape
    (3, 3, 2, 20)
    >>> bool(np.array_equal(k[..., 5:10], np.rot90(w, 1, axes=(0, 1))))
    True

    Reference: Cohen & Welling, "Group Equivariant Convolutional Networks",
    ICML 2016 (arXiv:1602.07576).
    """
    return run(GroupConv2DKernel(group, lifting), kernel)
