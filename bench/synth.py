"""Synth time for 1 and for N tenants, each in a fresh interpreter (as `cdk synth` runs it): wall time, and the
CPU time of the interpreter and its jsii node process (the robust figure on a shared machine). Staged
artifacts are reused across runs when unchanged, as they are across synths in the repository."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.stats import report_value

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tenants" / "cozy-comfort.yaml"

_SYNTH = """
import sys
from pathlib import Path
from stacks.app_builder import build_app, new_app
app = new_app(sys.argv[2])
build_app(app, tenants_dir=Path(sys.argv[1]))
app.synth()
"""


def make_tenants(directory: Path, count: int) -> None:
    base = yaml.safe_load(EXAMPLE.read_text())
    # The example's source files, copied: a symlink out of the tenants folder is refused like any escape.
    shutil.copytree(EXAMPLE.parent / "knowledge", directory / "knowledge")
    for i in range(count):
        data = dict(base)
        data["tenant_id"] = f"tenant-{i:03d}"
        data["connect"] = {**base["connect"], "instance_alias": f"oratio-bench-{i:03d}"}
        # Every tenant needs its own number (synth refuses two files sharing one).
        data["business"] = {
            **base["business"],
            "contact": {**base["business"]["contact"], "phone": f"+1555020{i:04d}"},
        }
        (directory / f"tenant-{i:03d}.yaml").write_text(yaml.safe_dump(data))


GOAL_ONE_TENANT_SECONDS = 8.0  # issue 13: platform + one tenant
GOAL_EXTRA_TENANT_SECONDS = 0.3  # issue 13: each further tenant
COUNTS = (1, 20)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def synth_seconds(tenant_count: int) -> float:
    return synth_times(tenant_count)[0]


def synth_times(tenant_count: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the synth process and its children) for platform + `tenant_count` tenants."""
    with tempfile.TemporaryDirectory() as tmp:
        tenants, out = Path(tmp) / "tenants", Path(tmp) / "cdk.out"
        tenants.mkdir()
        make_tenants(tenants, tenant_count)
        cpu = _children_cpu()
        start = time.perf_counter()
        subprocess.run(  # noqa: S603 - our interpreter, our script
            [sys.executable, "-c", _SYNTH, str(tenants), str(out)],
            cwd=ROOT,
            check=True,
            env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        )
        return time.perf_counter() - start, _children_cpu() - cpu


def run() -> None:
    print("synth (fresh interpreter each, includes jsii start-up; platform + N tenant stacks)")
    synth_times(1)  # stages what changed since the last synth; the runs below measure synth, not staging
    results = {count: synth_times(count) for count in COUNTS}
    for count, (wall, cpu) in results.items():
        report_value(f"synth, {count} tenant(s): wall time", wall, "s")
        report_value(f"synth, {count} tenant(s): CPU time (python + node)", cpu, "s")
    extra = COUNTS[-1] - COUNTS[0]
    for label, index in (("wall", 0), ("CPU", 1)):
        one = results[COUNTS[0]][index]
        per_tenant = (results[COUNTS[-1]][index] - one) / extra
        print(
            f"  {label + ' goals':<48} platform + 1 tenant {one:.1f} s "
            f"({'meets' if one <= GOAL_ONE_TENANT_SECONDS else 'MISSES'} ≤ {GOAL_ONE_TENANT_SECONDS:g} s), "
            f"{per_tenant:.2f} s per extra tenant "
            f"({'meets' if per_tenant <= GOAL_EXTRA_TENANT_SECONDS else 'MISSES'} ≤ {GOAL_EXTRA_TENANT_SECONDS} s)"
        )
