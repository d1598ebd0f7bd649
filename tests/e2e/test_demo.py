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


def test_demo_plays_a_call_on_the_connect_number_with_a_holding_reply_and_a_warm_handoff(demo_output: str) -> None:
    section = demo_output.split("== 5.")[1]
    assert "prepare: speech_to_speech; Set voice Matthew (Generative), Nova Sonic tiffany" in section
    # The slow turn: a holding reply at once, then the flow's pickup speaks the agent's answer.
    assert "One moment, please.   [Close, next: await_reply]" in section
    assert "pickup: next converse" in section
    # Noise is asked again, not sent to the agent; the request for a person ends in a transfer with a whisper.
    assert "Sorry, I didn't catch that." in section
    assert "transfer to Customer Care" in section
    assert "whisper to the human agent:  Cozy Comfort Bedding assistant transfer." in section
    assert "TURN#000001: transcription confidence 0.21 (fallback)" in section


def test_vendor_provisions_the_agent_through_the_vendor_api(demo_output: str) -> None:
    assert "POST /api/v1/agents/provision → completed" in demo_output
    voice = next(line for line in demo_output.splitlines() if line.strip().startswith("voice "))
    assert voice.split()[1:] == ["active", "+15552333464"]
    assert "/pause → paused" in demo_output


def test_demo_recognises_one_customer_across_a_call_whatsapp_and_instagram(demo_output: str) -> None:
    section = demo_output.split("== 7.")[1]
    assert "channels/whatsapp → active" in section
    assert "secrets echoed: yes" not in section
    assert "[webhook answered 200]" in section
    told = section.split("when the WhatsApp message came in:")[1].split("... and on Instagram")[0]
    assert " on voice: " in told  # the call, told to the agent answering on WhatsApp
    assert "your code is" in section
    after_code = section.split("once the number was proved:")[1]
    assert " on voice: " in after_code
    assert " on whatsapp: " in after_code
    assert "identities phone:+16505551234, instagram:" in section
