"""The local CLI runs the pipeline for both example SOPs and prints what a vendor reviews."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oratio.agent_creator.cli import main
from tests.unit.agent_creator_support import REPO


# One SOP here (each gate script is a whole replayed call); both run through the API in
# tests/e2e/test_agent_creator_through_the_api.py.
@pytest.mark.parametrize(("name", "says"), [("cozy-comfort", "returns_policy")])
def test_the_cli_prints_requirements_plan_verdicts_diff_and_gate_and_writes_the_artifacts(
    name: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sop, config = REPO / "tenants" / "sops" / f"{name}.md", REPO / "tenants" / f"{name}.yaml"
    code = main(["run", str(sop), "--tenant", str(config), "--agent-id", "front-desk", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    for heading in ("== Requirements", "== Plan", "== Review verdicts", "== Definition diff", "== Gate"):
        assert heading in printed
    assert "R-policy-01" in printed
    assert "FAIL" not in printed
    assert says in (tmp_path / "agent.py").read_text()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["candidate_version"] == 1
    assert all((tmp_path / test).is_file() for test in manifest["tests"])


def test_the_cli_refuses_an_empty_sop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("")
    assert main(["run", str(empty), "--tenant", str(REPO / "tenants" / "cozy-comfort.yaml"), "--agent-id", "a"]) == 2
    assert "empty" in capsys.readouterr().err
