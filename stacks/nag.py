"""cdk-nag (v3, a CDK validation plugin): how the app applies the AwsSolutions pack and how a
construct acknowledges a finding. An unacknowledged finding fails synth; every acknowledgement
carries the rule id and a specific reason, and lands in `cdk.out/validation-report.json`."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
VALIDATION_REPORT = "validation-report.json"

# CDK's own CloudFormation template validation (a WebAssembly build of cfn-lint's rules that aws-cdk-lib runs at
# every synth unless told not to) stays off: it only warns (errors are downgraded unless
# `@aws-cdk/core:validateAgainstDefaultRules` is set), and it cost about 10 s of CPU per synth (compiling its
# engine, then reading every template), more than the rest of the synth together. cfn-lint itself reads the
# same templates in the infra tests and in `make demo`, and fails on its errors and warnings
# (tests/infra/test_validators.py).
BUILTIN_TEMPLATE_VALIDATION = False


def apply_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule: str, reason: str, *, applies_to: str | None = None) -> None:
    """Acknowledge `rule` (e.g. "IAM5", finding "Resource::*") on `scope` and everything below it."""
    rule_id = f"{PACK}::{PACK}-{rule}" + (f"[{applies_to}]" if applies_to else "")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def nag_arn(scope: IConstruct, arn: str) -> str:
    """An ARN as cdk-nag prints it in a finding: literal when the stack's environment is concrete, with
    `<AWS::Region>`-style placeholders for pseudo parameters otherwise."""
    resolved = Stack.of(scope).resolve(arn)
    if isinstance(resolved, str):
        return resolved
    separator, parts = resolved["Fn::Join"]
    return str(separator).join(
        part if isinstance(part, str) else f"<{part['Ref']}>" if "Ref" in part else ".".join(part["Fn::GetAtt"])
        for part in parts
    )
