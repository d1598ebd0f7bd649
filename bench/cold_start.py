"""Cold starts as Lambda runs them: each handler's import next to a bare `import boto3`, in the same run.

Each import runs in a fresh interpreter laid out like a python3.12 Lambda sandbox: the function's bundle
exactly as synth staged it (`build/assets/<function>`, copied read-only) first on `sys.path`, then the
dependency layer, then the runtime's own boto3; nothing of the repository or of the development
virtualenv is importable (`-I -S`); no byte-code is written (`-B`, as on Lambda's read-only code folder);
Lambda's environment variables are set (function name, region, execution environment, X-Ray daemon,
Powertools service), so Powertools and X-Ray behave as they do on Lambda.

The layer's wheels are arm64 and cannot load on every development machine, so the bench installs the same
pinned `lambdas/requirements.txt` for this machine (`build/bench/layer-<machine>`) and builds it with the
recipe the real layer uses (`scripts/bootstrap.sh`), byte-code included. The runtime's boto3 is the
virtualenv's (installed with its byte-code, as the Lambda runtime ships it).

Not included: the interpreter's own start, Lambda's runtime client, and the handler's first invocation.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.stats import report_value
from stacks.bytecode import compile_tree
from stacks.constructs.lambda_function import ASSETS_DIR, LAMBDAS_DIR, LAYER_DIR

ROOT = Path(__file__).resolve().parents[1]
BENCH_BUILD = ROOT / "build" / "bench"
LAYER_REQUIREMENTS = ROOT / "lambdas" / "requirements.txt"
# What the python3.12 Lambda runtime ships beside the interpreter.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six")
RUNS = 7
GOAL_RATIO = 1.3  # issue 13: each handler's import ≤ 1.3 x a bare `import boto3`

_PROBE = """
import sys, time
sys.path[:0] = sys.argv[2:]
cpu = time.process_time()
__import__(sys.argv[1])
print(time.process_time() - cpu)
"""


def _site_packages() -> Path:
    return Path(next(p for p in sys.path if p.endswith("site-packages")))


def host_layer() -> Path:
    """The layer's pinned packages for this machine, built like the real layer: with byte-code exactly when the
    real layer (`build/layers/deps`) has it. Reused while its pins and that recipe hold."""
    target = BENCH_BUILD / f"layer-{platform.machine()}"
    stamp = target / ".requirements"
    compiled = next((LAYER_DIR / "python").rglob("*.pyc"), None) is not None
    wanted = LAYER_REQUIREMENTS.read_text() + f"\n# byte-code: {compiled}\n"
    if not (stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(  # noqa: S603 - pip of this interpreter, our pinned file
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"),
                *("--target", str(target / "python"), "-r", str(LAYER_REQUIREMENTS)),
            ],
            check=True,
        )
        shutil.rmtree(target / "python" / "bin", ignore_errors=True)
        for cache in (target / "python").rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        if compiled:
            compile_tree(target / "python", strict=False)
        stamp.write_text(wanted)
    return target / "python"


def runtime_packages() -> Path:
    """A folder holding only what the Lambda runtime ships (links to this virtualenv's copies)."""
    target = BENCH_BUILD / "lambda-runtime"
    target.mkdir(parents=True, exist_ok=True)
    site = _site_packages()
    for name in RUNTIME_PACKAGES:
        package, module = site / name, site / f"{name}.py"  # six is a single module
        source, link = (package, target / name) if package.is_dir() else (module, target / module.name)
        if not link.exists():
            link.symlink_to(source)
        if source is module:
            (target / "__pycache__").mkdir(exist_ok=True)
            for pyc in (site / "__pycache__").glob(f"{name}.*.pyc"):
                if not (target / "__pycache__" / pyc.name).exists():
                    (target / "__pycache__" / pyc.name).symlink_to(pyc)
    return target


def lambda_environment(function: str, task_root: Path) -> dict[str, str]:
    """What Lambda sets in a python3.12 function's environment (plus the Oratio factory's Powertools settings)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": f"oratio-bench-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_ACCESS_KEY_ID": "ASIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": "handler.lambda_handler",
        "POWERTOOLS_SERVICE_NAME": f"oratio-{function}",
        "POWERTOOLS_METRICS_NAMESPACE": "OratioBench",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def read_only_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o555 if path.is_dir() else 0o444)
    return target


def make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def import_seconds(module: str, function: str, bundle: Path | None, runs: int = RUNS) -> list[float]:
    """`import module` in `runs` fresh Lambda-like interpreters (bundle, layer, runtime on the path): the CPU
    seconds of each import (robust to other load on this machine; on an idle machine wall time is the same)."""
    layer, runtime = host_layer(), runtime_packages()
    with tempfile.TemporaryDirectory(prefix="oratio-lambda-") as tmp:
        task_root = read_only_copy(bundle, Path(tmp) / "task") if bundle else Path(tmp)
        paths = [str(task_root), str(layer), str(runtime)]
        samples = []
        try:
            for _ in range(runs):
                out = subprocess.run(  # noqa: S603 - our interpreter, our bundle
                    [sys.executable, "-I", "-S", "-B", "-c", _PROBE, module, *paths],
                    cwd=task_root,
                    env=lambda_environment(function, task_root),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode != 0:
                    raise RuntimeError(f"importing {module} for {function} failed:\n{out.stderr[-2000:]}")
                samples.append(float(out.stdout.strip().splitlines()[-1]))
        finally:
            if bundle:
                make_writable(task_root)
    return samples


def staged_bundles() -> list[str]:
    """The function folders as synth stages them (a synth runs first: it restages only what changed)."""
    folders = sorted(p.parent.name for p in LAMBDAS_DIR.glob("*/handler.py"))
    if folders:
        from bench.synth import synth_seconds

        synth_seconds(1)  # stages every bundle into build/assets
    return folders


def handler_import_ms(folder: str, runs: int = RUNS) -> float:
    """Median import of lambdas/<folder>'s staged bundle as Lambda runs it, in milliseconds."""
    staged_bundles()
    return statistics.median(import_seconds("handler", folder, ASSETS_DIR / folder, runs)) * 1e3


def run() -> None:
    print(
        "Lambda cold imports (fresh python3.12 interpreter laid out like Lambda: read-only bundle, layer, runtime; "
        "CPU time of the import)"
    )
    folders = staged_bundles()
    boto3_ms = statistics.median(import_seconds("boto3", "boto3", None)) * 1e3
    report_value("bare `import boto3` (median of 7)", boto3_ms, "ms")
    for folder in folders:
        ms = statistics.median(import_seconds("handler", folder, ASSETS_DIR / folder)) * 1e3
        ratio = ms / boto3_ms
        verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
        report_value(f"{folder}: import handler ({ratio:.2f}x boto3, {verdict} ≤ {GOAL_RATIO}x)", ms, "ms")
