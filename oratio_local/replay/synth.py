"""The tenant stacks a replay runs, synthesized with the CDK app the deploy uses (`stacks.app_builder`).

Synthesis takes seconds (jsii), so the templates and the Lambda code assets the replay loads are kept under
`build/replay/<key>/`, where the key hashes every file synthesis reads (app, stacks, handlers, core package,
flows, tenant files, cdk.json); a change to any of them synthesizes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oratio.config import TenantConfig

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "build" / "replay"
INPUTS = ("app.py", "cdk.json", "stacks", "lambdas", "oratio", "agentcore", "contact_flows")
ENV_ACCOUNT, ENV_REGION = "111122223333", "us-east-1"


@dataclass(frozen=True)
class SynthesizedTenant:
    tenant_id: str
    template: dict[str, Any]
    assets: Path  # the folder holding asset.<hash>/ of the stack's Lambda functions


def _inputs_key(tenants: list[TenantConfig], tenants_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        root = REPO / name
        files = (
            [root]
            if root.is_file()
            else sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        )
        for path in files:
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    for tenant in tenants:
        digest.update(tenant.model_dump_json().encode())
    digest.update(str(tenants_dir).encode())
    return digest.hexdigest()[:16]


def _lambda_assets(template: dict[str, Any]) -> set[str]:
    return {
        str(r["Properties"]["Code"].get("S3Key", "")).removesuffix(".zip")
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::Lambda::Function" and "S3Key" in r.get("Properties", {}).get("Code", {})
    }


def synthesize(
    tenants: list[TenantConfig], tenants_dir: Path, *, use_cache: bool = True
) -> dict[str, SynthesizedTenant]:
    """The tenant stacks of `tenants`, from the cache when their inputs have not changed."""
    from stacks.names import tenant_stack_id

    if not tenants:
        return {}
    key = _inputs_key(tenants, tenants_dir)
    folder = CACHE / key
    if not (use_cache and (folder / "done").exists()):
        _synthesize_into(tenants, folder)
    result = {}
    for tenant in tenants:
        template = json.loads((folder / f"{tenant_stack_id(tenant.tenant_id)}.template.json").read_text())
        result[tenant.tenant_id] = SynthesizedTenant(tenant.tenant_id, template, folder)
    return result


def _synthesize_into(tenants: list[TenantConfig], folder: Path) -> None:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from aws_cdk import Environment, cx_api

    from stacks.app_builder import build_app, new_app
    from stacks.names import tenant_stack_id

    with tempfile.TemporaryDirectory(prefix="oratio-replay-synth-") as tmp:
        app = new_app(tmp)
        build_app(app, tenants=tenants, env=Environment(account=ENV_ACCOUNT, region=ENV_REGION))
        try:
            assembly = app.synth()
        except RuntimeError as e:  # cdk-nag findings fail synth; the assembly is still written
            if "ValidationFailed" not in str(e):
                raise
            assembly = cx_api.CloudAssembly(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for tenant in tenants:
            stack = assembly.get_stack_by_name(tenant_stack_id(tenant.tenant_id))
            (folder / f"{stack.stack_name}.template.json").write_text(json.dumps(stack.template))
            for asset in _lambda_assets(stack.template):
                source = Path(tmp) / f"asset.{asset}"
                if source.is_dir() and not (folder / source.name).exists():
                    shutil.copytree(source, folder / source.name)
    (folder / "done").write_text("ok\n")
    for old in CACHE.iterdir():  # keep the newest few synthesized sets
        if old != folder and old.is_dir() and len(list(CACHE.iterdir())) > 4:
            shutil.rmtree(old, ignore_errors=True)


def from_assembly(outdir: Path, tenant_id: str) -> SynthesizedTenant:
    """A tenant stack from a cloud assembly already on disk (the demo's step 1, the tests' session synth)."""
    from stacks.names import tenant_stack_id

    template = json.loads((outdir / f"{tenant_stack_id(tenant_id)}.template.json").read_text())
    return SynthesizedTenant(tenant_id, template, outdir)
