"""Benchmarks of the masked layers (see run.py)."""

from bench_utils import Benchmark

BENCHMARKS: list[Benchmark] = []
