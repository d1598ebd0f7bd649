"""Small helpers to time things and print figures the same way in every benchmark."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable

_IMPORT = """
import sys, time
sys.path.insert(0, sys.argv[1])
start = time.perf_counter()
import handler  # noqa: F401
print(time.perf_counter() - start)
"""


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


def cold_import_seconds(folder: str, runs: int = 7) -> list[float]:
    """Import lambdas/<folder>'s staged bundle in a fresh interpreter each run, as a cold start does."""
    from stacks.constructs.lambda_function import stage_function_code

    bundle = stage_function_code(folder).path
    samples = []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - our interpreter, our bundle
            [sys.executable, "-c", _IMPORT, str(bundle)], capture_output=True, text=True, check=True
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return samples
