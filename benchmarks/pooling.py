"""Benchmarks of the pooling layers (see run.py)."""

from bench_utils import Benchmark

BENCHMARKS: list[Benchmark] = []
