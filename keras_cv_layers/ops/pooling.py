"""Max pooling with argmax and max unpooling as functions."""

__all__: list[str] = []
