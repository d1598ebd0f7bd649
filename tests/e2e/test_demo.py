"""The main job end to end, as `make demo TENANT=<id>` runs it: synth, validators, the vendor's agents and their
versions, routed calls, conversations, a bridge call, the replayed Connect call scripts and one customer across
channels (local mode) — once
per tenant file, and every expectation derived from that tenant's own file, so nothing here is tied to one
business."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from oratio.config import TenantConfig, load_tenants
from oratio.config.tenant import Channel
from oratio_local.one_customer import CALLER
from oratio_local.scripts import caller_lines

REPO = Path(__file__).resolve().parents[2]
TENANTS = load_tenants(REPO / "tenants")


@pytest.fixture(scope="module", params=[t.tenant_id for t in TENANTS])
def played(request: pytest.FixtureRequest) -> tuple[TenantConfig, str]:
    tenant = next(t for t in TENANTS if t.tenant_id == request.param)
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run(  # noqa: S603 - our interpreter running our own demo
        [sys.executable, "-m", "oratio_local.demo", "--tenant", tenant.tenant_id],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return tenant, result.stdout


def section(output: str, number: int) -> str:
    return output.split(f"== {number}.")[1].split(f"== {number + 1}.")[0]


def test_demo_synthesizes_the_platform_and_every_tenant(played: tuple[TenantConfig, str]) -> None:
    _, output = played
    assert "OratioPlatform" in output
    for tenant in TENANTS:
        camel = "".join(part.capitalize() for part in tenant.tenant_id.split("-"))
        assert f"OratioTenant-{camel}" in output


def test_demo_reports_clean_validators(played: tuple[TenantConfig, str]) -> None:
    _, output = played
    assert ": 0 errors" in output
    assert "0 unacknowledged findings" in output


@pytest.mark.parametrize(
    ("scenario", "route", "reason"),
    [
        ("caller rings in business hours", "agent", "accepted"),
        ("Connect retries the same contact", "agent", "accepted"),
        ("unknown number dialed", "unavailable", "unknown_number"),
        ("caller rings after hours", "closed", "outside_business_hours"),
        ("vendor paused the agent", "paused", "agent_paused"),
        ("call beyond", "unavailable", "over_capacity"),
    ],
)
def test_demo_routes_each_sample_call(played: tuple[TenantConfig, str], scenario: str, route: str, reason: str) -> None:
    _, output = played
    line = next(line for line in output.splitlines() if line.strip().startswith(scenario))
    assert route in line.split()
    assert reason in line.split()


def test_retry_does_not_count_the_call_twice(played: tuple[TenantConfig, str]) -> None:
    _, output = played
    rows = [
        line
        for line in output.splitlines()
        if line.strip().startswith(("caller rings in business hours", "Connect retries the same contact"))
    ]
    live = [int(line.split("accepted")[1].split()[0]) for line in rows]
    assert live == [1, 1]


def test_a_bad_tenant_file_stops_the_demo_with_the_file_and_field(tmp_path: Path) -> None:
    source = next(REPO.joinpath("tenants").glob("*.yaml"))
    bad = source.read_text().replace("time_zone: ", "time_zone: America/Nowhere #", 1)
    (tmp_path / source.name).write_text(bad)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "oratio_local.demo", "--tenants", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"{source.name}: invalid tenant configuration" in result.stderr
    assert "business.hours.time_zone" in result.stderr


def test_the_vendor_provisions_an_agent_and_versions_a_second_one(played: tuple[TenantConfig, str]) -> None:
    tenant, output = played
    vendor = section(output, 3)
    assert "POST /api/v1/agents/provision → completed" in vendor
    voice = next(line for line in vendor.splitlines() if line.strip().startswith("voice "))
    assert voice.split()[1:] == ["active", tenant.business.contact.phone]
    # An edit of a live agent is a draft version; the diff names only what changed; publish and roll back move
    # what is live; every version says who wrote it and why.
    assert "draft version 2 written; live stays 1" in vendor
    diffs = [line for line in vendor.splitlines() if "diff v1→v2:" in line]
    assert [line.split("diff v1→v2:")[1].strip() for line in diffs] == ["definition.lines.greeting changed"]
    assert "versions/2/publish → live version 2" in vendor
    assert "versions/1/rollback → live version 1" in vendor
    assert "v2 by owner@example.com (warmer greeting) live" in vendor
    assert "/pause → paused" in vendor


def test_the_agents_answer_from_their_own_definitions(played: tuple[TenantConfig, str]) -> None:
    tenant, output = played
    talk = section(output, 4)
    lines = caller_lines(tenant)
    assert "serving on http://127.0.0.1:" in talk
    # The product question is answered from the tenant's knowledge files through the knowledge_search tool.
    assert "[tool knowledge_search: ok" in talk
    reply = talk.split(f"caller: {lines.product}")[1].split("caller:")[0]
    assert lines.product_query.split()[0].rstrip("s").lower() in reply.lower()
    if tenant.business.policies.returns:
        assert tenant.business.policies.returns[:20] in talk
    # Asking for a person hands over with a summary of what the caller asked.
    assert "[handoff to a human:" in talk
    assert "Customer asked:" in talk
    assert talk.count("[model ") == 3
    assert "definition v1]" in talk
    # The same questions to two agents of the tenant get different answers.
    compared = talk.split("two agents of one tenant")[1]
    fronts = re.findall(r"front desk:\s+(.+)", compared)
    members = re.findall(r"members desk:\s+(.+)", compared)
    assert len(fronts) == len(members) == len(lines.compared())
    assert all(f != m for f, m in zip(fronts, members, strict=True))
    assert any("Riley" in m for m in members)


def test_demo_replays_the_tenants_call_scripts_through_the_synthesized_flow(played: tuple[TenantConfig, str]) -> None:
    tenant, output = played
    replayed = output.split("== 6.")[1]
    scripts = sorted((REPO / "calls" / tenant.tenant_id).glob("*.yaml"))
    if not scripts:
        assert f"no call scripts for {tenant.tenant_id}" in replayed
        return
    assert f"{len(scripts)} of {len(scripts)} call scripts passed" in replayed
    # The timelines show the flow's work, holding lines, transfers with the whisper, and cost per turn.
    assert "call router: route agent (accepted)" in replayed
    assert tenant.voice.connect.holding_message in replayed
    assert f"transfer to queue {tenant.connect.queue_name}" in replayed
    assert f"human     {tenant.business.name} assistant transfer." in replayed
    assert "model nova-micro ($" in replayed
    assert (REPO / "build" / "replay-report.html").read_text().count("<section") == len(scripts)


def test_the_bridge_speaks_as_the_second_agent(played: tuple[TenantConfig, str]) -> None:
    tenant, output = played
    bridge = section(output, 5)
    assert "its system prompt opens: You are Riley, the members' advisor" in bridge
    assert "[tools via the tenant agent: knowledge_search]" in bridge
    assert f"Thanks for calling {tenant.business.name}. Goodbye!" in bridge


def test_no_caller_ever_hears_a_raw_tool_record(played: tuple[TenantConfig, str]) -> None:
    _, output = played
    spoken = [
        line.split("   [")[0]  # the demo's own annotations ("[ElicitIntent, next: ...]") are not speech
        for line in output.split("== 4.")[1].split("== 6.")[0].splitlines()
        if line.strip().startswith(("agent:", "assistant:", "front desk:", "members desk:"))
    ]
    assert spoken
    assert not [line for line in spoken if re.search(r"[{}\[\]]|\"\w+\":|\bId: ", line)]


def test_demo_recognises_one_customer_across_a_call_whatsapp_and_instagram(played: tuple[TenantConfig, str]) -> None:
    tenant, output = played
    story = section(output, 8)
    if not {Channel.WHATSAPP, Channel.INSTAGRAM} <= set(tenant.channels):
        assert "skipped:" in story
        return
    assert "channels/whatsapp → active" in story
    assert "secrets echoed: yes" not in story
    assert "[webhook answered 200]" in story
    told = story.split("when the WhatsApp message came in:")[1].split("... and on Instagram")[0]
    assert " on voice: " in told  # the call, told to the agent answering on WhatsApp
    assert "your code is" in story
    after_code = story.split("once the number was proved:")[1]
    assert " on voice: " in after_code
    assert " on whatsapp: " in after_code
    assert f"identities phone:{CALLER}, instagram:" in story
