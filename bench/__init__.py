"""Benchmarks (`make bench`): print figures; never assert on wall-clock time."""
