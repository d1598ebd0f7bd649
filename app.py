#!/usr/bin/env python3
"""CDK entry point: `cdk synth|deploy|diff [-c tenant=<id>]`.

One PlatformStack plus one TenantStack per `tenants/*.yaml` (or only the tenant named with
`-c tenant=<id>`). A bad tenant file stops synth with one message naming file, field and fix.
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Environment

from oratio.config import TenantConfigError
from stacks.app_builder import build_app
from stacks.nag import BUILTIN_TEMPLATE_VALIDATION


def main() -> None:
    app = App(builtin_cloud_formation_validation=BUILTIN_TEMPLATE_VALIDATION)  # cfn-lint runs in the tests
    only = app.node.try_get_context("tenant")
    # Environment-agnostic unless the CLI's profile supplies an account/region.
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    try:
        build_app(app, only_tenant=only, env=env)
    except TenantConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    app.synth()


if __name__ == "__main__":
    main()
