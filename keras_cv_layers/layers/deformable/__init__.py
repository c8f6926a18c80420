"""Deformable convolutions (DCN v1 / v2)."""

__all__: list[str] = []
