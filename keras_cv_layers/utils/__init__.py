"""Shared helpers (argument normalization, conv arithmetic, numerics)."""
