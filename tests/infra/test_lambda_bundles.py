"""Every Lambda bundle imports with only what Lambda will have: the staged handler folder and core package,
the dependency layer, and the python3.12 runtime's own boto3. A handler that quietly needs a package only the
development virtualenv has would fail its first cold start; this catches it at test time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from stacks.constructs import lambda_function
from stacks.constructs.lambda_function import ASSETS_DIR, LAMBDAS_DIR, LAYER_DIR
from stacks.staging import source_digest
from tests.infra.asset_checks import assert_unchecked_pyc_for_python_3_12
from tests.infra.conftest import Synthesized

# Packages the Lambda python3.12 runtime ships (boto3 and its dependencies).
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six")
FOLDERS = sorted(p.parent.name for p in LAMBDAS_DIR.glob("*/handler.py"))

_PROBE = """
import importlib.abc, importlib.machinery, os, sys
bundle, site, allowed = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))

class OnlyLambdaPackages(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in allowed or top in sys.stdlib_module_names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(top)
        if spec is not None and spec.origin and spec.origin.startswith(site):
            raise ImportError(f"{name} is not in the Lambda layer or runtime")
        return None

sys.meta_path.insert(0, OnlyLambdaPackages())
sys.path.insert(0, bundle)
import handler
assert callable(handler.lambda_handler)
"""


def _layer_packages() -> set[str]:
    # Layer wheels are arm64, so they cannot be imported here; their names say what Lambda will find.
    return {entry.split(".")[0].split("-")[0] for entry in os.listdir(LAYER_DIR / "python")}


@pytest.mark.parametrize("folder", FOLDERS)
def test_handler_imports_with_only_layer_and_runtime_packages(
    folder: str, synthesized: Synthesized, tmp_path: Path
) -> None:
    # The bundle exactly as synth staged it (core package plus the function's extra sources).
    bundle = ASSETS_DIR / folder
    assert (bundle / "handler.py").is_file(), f"lambdas/{folder} is not deployed by any stack"
    site = next(p for p in sys.path if p.endswith("site-packages"))
    allowed = _layer_packages() | set(RUNTIME_PACKAGES) | {"oratio", "handler"}
    bundled = {p.name for p in Path(bundle).iterdir() if p.is_dir()}
    result = subprocess.run(  # noqa: S603 - our interpreter, our bundle
        # -P and a neutral working directory: nothing of the repository is importable but the bundle.
        [sys.executable, "-P", "-c", _PROBE, str(bundle), site, ",".join(sorted(allowed | bundled))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "POWERTOOLS_TRACE_DISABLED": "true"},
    )
    assert result.returncode == 0, f"lambdas/{folder}/handler.py cannot import on Lambda:\n{result.stderr[-2000:]}"


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_module_of_a_bundle_and_of_the_layer_ships_python_3_12_byte_code(
    folder: str, synthesized: Synthesized
) -> None:
    # Lambda's code folder is read-only: a module without byte-code is compiled again on every cold start.
    bundle = ASSETS_DIR / folder
    for source in sorted(bundle.rglob("*.py")):
        assert_unchecked_pyc_for_python_3_12(source)
    for module in ("aws_lambda_powertools/logging/logger.py", "pydantic/main.py", "aws_xray_sdk/core/recorder.py"):
        assert_unchecked_pyc_for_python_3_12(LAYER_DIR / "python" / module)


def test_a_bundle_shared_by_every_tenant_is_staged_and_digested_once_per_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the digest counted, When two tenant stacks' functions ask for the same bundle, Then its sources are
    # digested once and both get the same staged folder and asset hash.
    digests: list[Sequence[tuple[Path, str]]] = []

    def counted(entries: Sequence[tuple[Path, str]], *extra: str) -> str:
        digests.append(entries)
        return source_digest(entries, *extra)

    monkeypatch.setattr(lambda_function, "source_digest", counted)
    lambda_function._stage_once.cache_clear()
    first = lambda_function.stage_function_code("call_router")
    second = lambda_function.stage_function_code("call_router", ())
    assert first == second
    assert len(digests) == 1
