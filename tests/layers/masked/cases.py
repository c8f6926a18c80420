"""Harness cases (see tests/harness.py) of the masked layers."""

CASES: list = []
