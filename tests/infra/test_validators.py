"""Every synthesized template passes cfn-lint and cdk-nag's AwsSolutions pack."""

from __future__ import annotations

import subprocess

from tests.infra.conftest import Synthesized


def test_cfn_lint_reports_no_errors(cfn_lint_output: subprocess.CompletedProcess[str]) -> None:
    # Given every template of the app, When cfn-lint reads them, Then it finds no error (E...).
    errors = [line for line in cfn_lint_output.stdout.splitlines() if ":E" in line]
    assert errors == [], "\n".join(errors)
    # cfn-lint's exit code is a bit field: 2 means errors (4 warnings, 8 informational).
    assert cfn_lint_output.returncode & 2 == 0, cfn_lint_output.stdout + cfn_lint_output.stderr


def test_cdk_nag_has_no_unacknowledged_findings(synthesized: Synthesized) -> None:
    assert synthesized.validation_report["pluginReports"], "cdk-nag did not run"
    assert synthesized.nag_violations() == []


def test_every_nag_acknowledgement_names_the_rule_and_a_specific_reason(synthesized: Synthesized) -> None:
    acknowledgements = synthesized.nag_acknowledgements()
    assert acknowledgements, "expected the documented acknowledgements (e.g. X-Ray's Resource '*')"
    for ack in acknowledgements:
        assert ack["acknowledgedId"].startswith("AwsSolutions::AwsSolutions-")
        assert len(ack["reason"]) >= 40, f"{ack['acknowledgedId']}: reason too vague: {ack['reason']!r}"
