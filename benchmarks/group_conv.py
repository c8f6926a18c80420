"""Benchmarks of the group_conv layers (see run.py)."""

from bench_utils import Benchmark

BENCHMARKS: list[Benchmark] = []
