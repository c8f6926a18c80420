"""Harness cases (see tests/harness.py) of the deformable layers."""

CASES: list = []
