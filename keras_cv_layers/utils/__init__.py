"""Shared helpers (argument normalization, conv arithmetic, numerics).

Public: `fuse_for_inference` (the inference form of a model, see
`keras_cv_layers.utils.inference`).
"""

__all__ = ["fuse_for_inference"]


def __getattr__(name: str):
    # Lazy: the layers import this package, and `inference` imports the layers.
    if name == "fuse_for_inference":
        from keras_cv_layers.utils.inference import fuse_for_inference

        return fuse_for_inference
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
