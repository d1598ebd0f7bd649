"""Small helpers to time things and print figures the same way in every benchmark."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def time_calls(fn: Callable[[], object], iterations: int, warmup: int = 50) -> list[float]:
    """Seconds per call for `iterations` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, samples: list[float], unit: str = "ms") -> None:
    scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[unit]
    print(
        f"  {name:<48} median {statistics.median(samples) * scale:9.3f} {unit}"
        f"   p99 {percentile(samples, 99) * scale:9.3f} {unit}   n={len(samples)}"
    )


def report_value(name: str, value: float, unit: str) -> None:
    print(f"  {name:<48} {value:9.3f} {unit}")
