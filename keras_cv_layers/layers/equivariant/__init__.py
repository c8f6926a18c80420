"""Group-equivariant layers (p4 / p4m): GroupConv2D and GroupPooling2D."""

__all__: list[str] = []
