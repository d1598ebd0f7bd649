"""One synthesized app per test session (jsii start-up is the expensive part), shared by every
infrastructure test: CDK assertions, cfn-lint and cdk-nag all read the same cloud assembly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import Environment, assertions, cx_api

from oratio.config import load_tenant_file
from stacks.app_builder import TENANTS_DIR, build_app, new_app
from stacks.nag import VALIDATION_REPORT
from stacks.names import PLATFORM_STACK_ID, tenant_stack_id

TENANT_ID = "cozy-comfort"
TEST_ENV = Environment(account="111122223333", region="us-east-1")


@dataclass(frozen=True)
class Synthesized:
    assembly: cx_api.CloudAssembly
    outdir: Path

    def stack(self, stack_id: str) -> cx_api.CloudFormationStackArtifact:
        return self.assembly.get_stack_by_name(stack_id)

    def template(self, stack_id: str) -> assertions.Template:
        return assertions.Template.from_json(self.stack(stack_id).template)

    @property
    def validation_report(self) -> dict:  # type: ignore[type-arg]
        """cdk-nag's report: `violations` (unacknowledged) and `suppressedViolations` per plugin."""
        path = self.outdir / VALIDATION_REPORT
        return json.loads(path.read_text()) if path.exists() else {"pluginReports": []}

    def nag_violations(self) -> list[str]:
        """Unacknowledged findings of every validation plugin (cdk-nag; CDK's own template checks are off, and
        cfn-lint stands in for them: test_validators.py)."""
        return [
            f"{report['pluginName']} {v['ruleName']} at {c['constructPath']}: {v['description'][:200]}"
            for report in self.validation_report["pluginReports"]
            for v in report["violations"]
            for c in v["violatingConstructs"]
        ]

    def nag_acknowledgements(self) -> list[dict]:  # type: ignore[type-arg]
        return [
            v
            for r in self.validation_report["pluginReports"]
            if r["pluginName"] == "AwsSolutions"
            for v in r.get("suppressedViolations", [])
        ]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(str(outdir))
    build_app(app, tenants=[load_tenant_file(TENANTS_DIR / f"{TENANT_ID}.yaml")], env=TEST_ENV)
    try:
        assembly = app.synth()
    except RuntimeError as e:  # jsii error: cdk-nag findings fail synth; the assembly is still written
        if "ValidationFailed" not in str(e):
            raise
        assembly = cx_api.CloudAssembly(str(outdir))
    return Synthesized(assembly, outdir)


@pytest.fixture(scope="session")
def platform_template(synthesized: Synthesized) -> assertions.Template:
    return synthesized.template(PLATFORM_STACK_ID)


@pytest.fixture(scope="session")
def tenant_template(synthesized: Synthesized) -> assertions.Template:
    return synthesized.template(tenant_stack_id(TENANT_ID))


@pytest.fixture(scope="session")
def cfn_lint_output(synthesized: Synthesized) -> subprocess.CompletedProcess[str]:
    templates = sorted(str(p) for p in synthesized.outdir.glob("*.template.json"))
    return subprocess.run(  # noqa: S603 - fixed interpreter and our own files
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
