"""Builds the CDK app: one PlatformStack and one TenantStack per tenant file, with cdk-nag applied.

Used by `app.py` (the CDK entry point), the tests and the benchmarks, so all synthesize the same app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from oratio.config import TenantConfig, load_tenants
from stacks.nag import BUILTIN_TEMPLATE_VALIDATION, apply_checks
from stacks.names import PLATFORM_STACK_ID, tenant_stack_id
from stacks.platform_stack import PlatformStack
from stacks.tenant_stack import TenantStack

ROOT = Path(__file__).resolve().parents[1]
TENANTS_DIR = ROOT / "tenants"
CDK_JSON = ROOT / "cdk.json"


def new_app(outdir: str | None = None, **context: Any) -> App:
    """An App with cdk.json's context (feature flags), as the CDK CLI would create it; for tests and
    benchmarks that synthesize without the CLI."""
    settings = json.loads(CDK_JSON.read_text())["context"]
    return App(
        outdir=outdir,
        context={**settings, **context},
        builtin_cloud_formation_validation=BUILTIN_TEMPLATE_VALIDATION,
    )


def build_app(
    app: App | None = None,
    *,
    tenants: list[TenantConfig] | None = None,
    tenants_dir: Path = TENANTS_DIR,
    only_tenant: str | None = None,
    env: Environment | None = None,
) -> App:
    """Add the platform and tenant stacks to `app` (a new one by default) and return it.

    `only_tenant` (from `cdk ... -c tenant=<id>`) limits the app to one tenant file.
    """
    app = app or App(builtin_cloud_formation_validation=BUILTIN_TEMPLATE_VALIDATION)
    if tenants is None:
        tenants = load_tenants(tenants_dir, only=only_tenant)
    platform = PlatformStack(app, PLATFORM_STACK_ID, env=env)
    for tenant in tenants:
        stack = TenantStack(app, tenant_stack_id(tenant.tenant_id), tenant=tenant, tenants_dir=tenants_dir, env=env)
        # Tenant stacks read platform table names from SSM at deploy time: deploy the platform first.
        stack.add_stack_dependency(platform)
    apply_checks(app)
    return app
