"""Building blocks: squeeze-excitation, MBConv and local self-attention."""

__all__: list[str] = []
