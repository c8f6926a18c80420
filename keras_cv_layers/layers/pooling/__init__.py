"""Pooling, unpooling and anti-aliasing layers."""

__all__: list[str] = []
