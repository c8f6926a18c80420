"""Masked convolutions: sparse and partial convolutions with mask propagation."""

__all__: list[str] = []
