"""Every synthesized template passes cfn-lint and cdk-nag's AwsSolutions pack."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs

from stacks.app_builder import new_app
from stacks.nag import PACK, VALIDATION_REPORT, acknowledge, apply_checks
from tests.infra.conftest import Synthesized


def test_cfn_lint_reports_no_errors(cfn_lint_output: subprocess.CompletedProcess[str]) -> None:
    # Given every template of the app, When cfn-lint reads them, Then it finds no error (E...).
    errors = [line for line in cfn_lint_output.stdout.splitlines() if ":E" in line]
    assert errors == [], "\n".join(errors)
    # cfn-lint's exit code is a bit field: 2 means errors (4 warnings, 8 informational).
    assert cfn_lint_output.returncode & 2 == 0, cfn_lint_output.stdout + cfn_lint_output.stderr


# W3005 "dependency already enforced by a GetAtt": the CDK adds DependsOn on a function's role (and on a queue its
# bucket notifies) that the resource also references; CDK's own template validation ignores W3005 for that reason.
EXPECTED_CFN_LINT_WARNINGS = frozenset({"W3005"})


def cfn_lint_rules(output: str) -> set[str]:
    """The rule ids of cfn-lint's parseable output (`file:line:col:line:col:RULE:message`)."""
    return {match.group(1) for match in re.finditer(r":([EWI]\d{4}):", output)}


def test_cfn_lint_reports_no_warnings_beyond_the_cdks_own_dependson(
    cfn_lint_output: subprocess.CompletedProcess[str],
) -> None:
    # Given every template of the app, When cfn-lint reads them, Then every warning it gives is one the CDK causes
    # by design. (cfn-lint stands in for CDK's own template validation, which is off at synth: stacks/nag.py.)
    warnings = {rule for rule in cfn_lint_rules(cfn_lint_output.stdout) if rule.startswith("W")}
    unexpected = [
        line
        for line in cfn_lint_output.stdout.splitlines()
        if any(f":{rule}:" in line for rule in warnings - EXPECTED_CFN_LINT_WARNINGS)
    ]
    assert unexpected == [], "\n".join(unexpected)


def test_cdk_nag_has_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    assert synthesized.validation_report["pluginReports"], "cdk-nag did not run"
    assert synthesized.nag_violations() == []


def test_every_nag_acknowledgement_names_the_rule_and_a_specific_reason(synthesized: Synthesized) -> None:
    acknowledgements = synthesized.nag_acknowledgements()
    assert acknowledgements, "expected the documented acknowledgements (e.g. X-Ray's Resource '*')"
    for ack in acknowledgements:
        assert ack["acknowledgedId"].startswith("AwsSolutions::AwsSolutions-")
        assert len(ack["reason"]) >= 40, f"{ack['acknowledgedId']}: reason too vague: {ack['reason']!r}"


def _app_with_an_unencrypted_queue(tmp_path: Path, *, acknowledged: bool) -> App:
    app = new_app(str(tmp_path / "cdk.out"))
    stack = Stack(app, "NagProbe")
    queue = sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED, enforce_ssl=True)
    if acknowledged:
        acknowledge(queue, "SQS2", "the probe queue holds no data; this test shows an acknowledgement lets it pass")
        acknowledge(queue, "SQS3", "the probe queue holds no data; this test shows an acknowledgement lets it pass")
    apply_checks(app)
    return app


def test_an_unacknowledged_nag_finding_fails_synth(tmp_path: Path) -> None:
    # Given an app built the way app.py builds it (nag applied) with a queue nag flags (no encryption, no DLQ),
    # When it synthesizes, Then synth fails naming the rule; with the findings acknowledged it passes.
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        _app_with_an_unencrypted_queue(tmp_path / "bad", acknowledged=False).synth()
    report = json.loads((tmp_path / "bad" / "cdk.out" / VALIDATION_REPORT).read_text())
    found = {v["ruleName"] for r in report["pluginReports"] if r["pluginName"] == PACK for v in r["violations"]}
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS3"} <= found, (found, str(failure.value)[:500])
    _app_with_an_unencrypted_queue(tmp_path / "good", acknowledged=True).synth()
