"""Group (p4 / p4m) convolution kernels."""

from __future__ import annotations

from keras import ops

__all__: list[str] = []


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
