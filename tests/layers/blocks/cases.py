"""Harness cases (see tests/harness.py) of the blocks layers."""

CASES: list = []
