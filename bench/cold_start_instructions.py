"""Cold imports counted in CPU instructions: the `cold_start` layout, measured by valgrind instead of a clock.

CPU time of an import still inflates on a loaded machine (cache and frequency contention: a bare
`import boto3` reads 170-190 ms of CPU minutes apart on this shared 2-core machine), so comparisons between two
revisions made at different moments mean little. The number of instructions an import executes does not
depend on load: each import runs once under `valgrind --tool=callgrind` in exactly the Lambda-like layout of
`bench.cold_start` (read-only staged bundle, the layer built for this machine with byte-code, the runtime's
boto3, Lambda's environment variables, `-I -S -B`), minus an empty interpreter's count.

It also prints the floor that the project's conventions set: boto3 plus pydantic's BaseModel plus the
Powertools Logger, Metrics and Tracer every handler wears. No handler importing those can be cheaper.

Includes everything the handler's import runs; excludes the interpreter's start, Lambda's runtime client and
the first invocation. Skipped (with a line saying so) where valgrind is not installed. Each import takes
20-60 s under valgrind, so `make bench` runs this section only when named: `python -m bench cold_start_instructions`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.cold_start import (
    GOAL_RATIO,
    host_layer,
    lambda_environment,
    make_writable,
    read_only_copy,
    runtime_packages,
    staged_bundles,
)
from bench.stats import report_value
from stacks.constructs.lambda_function import ASSETS_DIR

_PROBE = "import sys; sys.path[:0] = sys.argv[2:]; sys.argv[1] and __import__(sys.argv[1])"
# What every handler imports by convention (CONVENTIONS.md): the floor under any handler's import.
FLOOR_HANDLER = """import boto3
from pydantic import BaseModel
from aws_lambda_powertools import Logger, Metrics, Tracer

logger, metrics, tracer = Logger(), Metrics(), Tracer(patch_modules=("botocore",))
"""


def instructions(module: str, task_root: Path, function: str) -> int:
    """Instructions (callgrind's Ir) of a fresh Lambda-like interpreter importing `module` ("" for none)."""
    paths = [str(task_root), str(host_layer()), str(runtime_packages())]
    with tempfile.TemporaryDirectory(prefix="oratio-callgrind-") as out:
        run = subprocess.run(  # noqa: S603 - valgrind on our interpreter and bundle
            [
                *("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out"),
                *(sys.executable, "-I", "-S", "-B", "-c", _PROBE, module, *paths),
            ],
            cwd=task_root,
            env=lambda_environment(function, task_root),
            capture_output=True,
            text=True,
            check=False,
        )
    collected = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or collected is None:
        what = module or "nothing"
        raise RuntimeError(f"importing {what} for {function} under valgrind failed:\n{run.stderr[-2000:]}")
    return int(collected.group(1))


def bundle_instructions(bundle: Path, function: str, empty: int) -> int:
    """Instructions of `import handler` from a read-only copy of `bundle`, minus an empty interpreter's."""
    with tempfile.TemporaryDirectory(prefix="oratio-lambda-") as tmp:
        task_root = read_only_copy(bundle, Path(tmp) / "task")
        try:
            return instructions("handler", task_root, function) - empty
        finally:
            make_writable(task_root)


def run(functions: list[str] | None = None, bundles: Path = ASSETS_DIR) -> None:
    print("Lambda cold imports in instructions (valgrind callgrind; same layout as cold_start; load-independent)")
    if shutil.which("valgrind") is None:
        print("  skipped: valgrind is not installed")
        return
    folders = functions or staged_bundles()
    with tempfile.TemporaryDirectory(prefix="oratio-lambda-") as tmp:
        empty = instructions("", Path(tmp), "empty")
        boto3 = instructions("boto3", Path(tmp), "boto3") - empty
        report_value("bare `import boto3`", boto3 / 1e6, "M instr")
        floor = Path(tmp) / "floor"
        floor.mkdir()
        (floor / "handler.py").write_text(FLOOR_HANDLER)
        floor_count = bundle_instructions(floor, "floor", empty)
    floor_label = f"floor: boto3 + pydantic + Powertools ({floor_count / boto3:.2f}x boto3)"
    report_value(floor_label, floor_count / 1e6, "M instr")
    for folder in folders:
        count = bundle_instructions(bundles / folder, folder, empty)
        ratio = count / boto3
        verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
        label = f"{folder}: import handler ({ratio:.2f}x boto3, {verdict} ≤ {GOAL_RATIO}x)"
        report_value(label, count / 1e6, "M instr")


if __name__ == "__main__":
    # `python -m bench.cold_start_instructions [function ...] [--bundles DIR]`: a few functions, or another
    # revision's staged bundles, without the whole section.
    args = sys.argv[1:]
    where = ASSETS_DIR
    if "--bundles" in args:
        at = args.index("--bundles")
        where = Path(args[at + 1])
        del args[at : at + 2]
    run(args or None, where)
