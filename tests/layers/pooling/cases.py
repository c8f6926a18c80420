"""Harness cases (see tests/harness.py) of the pooling layers."""

CASES: list = []
