"""Synth wall time for 1 and for N tenants, each in a fresh interpreter (as `cdk synth` runs it)."""

from __future__ import annotations

import os
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
    (directory / "knowledge").symlink_to(EXAMPLE.parent / "knowledge")  # the example's source files
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


def synth_seconds(tenant_count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tenants, out = Path(tmp) / "tenants", Path(tmp) / "cdk.out"
        tenants.mkdir()
        make_tenants(tenants, tenant_count)
        start = time.perf_counter()
        subprocess.run(  # noqa: S603 - our interpreter, our script
            [sys.executable, "-c", _SYNTH, str(tenants), str(out)],
            cwd=ROOT,
            check=True,
            env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
        )
        return time.perf_counter() - start


def run() -> None:
    print("synth (fresh interpreter each, includes jsii start-up; platform + N tenant stacks)")
    for count in (1, 20):
        report_value(f"synth wall time, {count} tenant(s)", synth_seconds(count), "s")
