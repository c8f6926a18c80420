"""Harness cases (see tests/harness.py) of the equivariant layers."""

CASES: list = []
