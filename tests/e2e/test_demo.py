"""The main job end to end, as `make demo` runs it: synth, validators, routed calls (local mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_output() -> str:
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(
        [sys.executable, "-m", "oratio_local.demo"], cwd=REPO, capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_synthesizes_platform_and_example_tenant(demo_output: str) -> None:
    assert "OratioPlatform" in demo_output
    assert "OratioTenant-CozyComfort" in demo_output


def test_demo_reports_clean_validators(demo_output: str) -> None:
    assert ": 0 errors" in demo_output
    assert "0 unacknowledged findings" in demo_output


@pytest.mark.parametrize(
    ("scenario", "route", "reason"),
    [
        ("caller rings in business hours", "agent", "accepted"),
        ("Connect retries the same contact", "agent", "accepted"),
        ("unknown number dialed", "unavailable", "unknown_number"),
        ("caller rings after hours", "closed", "outside_business_hours"),
        ("vendor paused the agent", "paused", "agent_paused"),
        ("call beyond 10 concurrent", "unavailable", "over_capacity"),
    ],
)
def test_demo_routes_each_sample_call(demo_output: str, scenario: str, route: str, reason: str) -> None:
    line = next(line for line in demo_output.splitlines() if line.strip().startswith(scenario))
    assert line.split()[len(scenario.split()) : len(scenario.split()) + 2] == [route, reason]


def test_retry_does_not_count_the_call_twice(demo_output: str) -> None:
    rows = [
        line
        for line in demo_output.splitlines()
        if line.strip().startswith(("caller rings in business hours", "Connect retries the same contact"))
    ]
    live = [int(line.split("accepted")[1].split()[0]) for line in rows]
    assert live == [1, 1]


def test_a_bad_tenant_file_stops_the_demo_with_the_file_and_field(tmp_path: Path) -> None:
    bad = (REPO / "tenants" / "cozy-comfort.yaml").read_text().replace("America/New_York", "America/Nowhere")
    (tmp_path / "cozy-comfort.yaml").write_text(bad)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "oratio_local.demo", "--tenants", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "cozy-comfort.yaml: invalid tenant configuration" in result.stderr
    assert "business.hours.time_zone" in result.stderr


def test_demo_talks_to_the_tenant_agent_over_loopback(demo_output: str) -> None:
    section = demo_output.split("== 4.")[1]
    assert "serving on http://127.0.0.1:" in section
    # The product question is answered from the knowledge files through the knowledge_search tool.
    assert "[tool knowledge_search: ok" in section
    assert "Comforter" in section
    assert "30-day returns" in section
    # Asking for a person hands the call over with a summary of what the caller asked.
    assert "[handoff to a human:" in section
    assert "Customer asked:" in section
    # Every turn reports its model, routing reason and cost.
    assert section.count("[model ") == 3


def test_demo_replays_the_tenants_call_scripts_through_the_synthesized_flow(demo_output: str) -> None:
    section = demo_output.split("== 5.")[1].split("== 6.")[0]
    scripts = sorted((REPO / "calls" / "cozy-comfort").glob("*.yaml"))
    assert f"{len(scripts)} of {len(scripts)} call scripts passed" in section
    # The timelines show the flow's work, holding lines, transfers with the whisper, and cost per turn.
    assert "call router: route agent (accepted)" in section
    assert "One moment, please." in section
    assert "transfer to queue Customer Care" in section
    assert "human     Cozy Comfort Bedding assistant transfer." in section
    assert "model nova-micro ($" in section
    assert (REPO / "build" / "replay-report.html").read_text().count("<section") == len(scripts)


def test_vendor_provisions_the_agent_through_the_vendor_api(demo_output: str) -> None:
    assert "POST /api/v1/agents/provision → completed" in demo_output
    voice = next(line for line in demo_output.splitlines() if line.strip().startswith("voice "))
    assert voice.split()[1:] == ["active", "+15552333464"]
    assert "/pause → paused" in demo_output
