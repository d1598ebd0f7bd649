"""`make demo`: Oratio's main job on the embedded local default (no AWS account).

1. Synthesize the platform stack and one tenant stack per `tenants/*.yaml`; print what was made.
2. Validate the templates: cfn-lint and cdk-nag (AwsSolutions).
3. The chosen tenant's vendor (`--tenant`, `make demo TENANT=<id>`; default the example tenant) provisions an
   agent through the real vendor API Lambda handler (voice bound to the tenant's number) and creates a second
   agent with its own persona and facts; edits it (a draft version), diffs, publishes and rolls back; sample
   inbound calls are routed through the real call-router Lambda handler, with the vendor pausing the agent
   through the API in between; all against local DynamoDB/SSM (moto, in process).
4. Talk to the tenant's agents: the AgentCore runtime app served on 127.0.0.1, invoked over HTTP with the typed
   client, each turn running on the live definition of the agent it names (read from the same local tables);
   the same questions to both agents get different answers. Locally the model is a rule-based stand-in and
   knowledge search is lexical.
5. A spoken call through Oratio's own Nova Sonic bridge, as the second agent: the real SDK client against the local
   Sonic stand-in (HTTP/2 + TLS on 127.0.0.1), the tenant agent answering tool calls (`oratio_local/voice_call.py`).
6. Calls on the Connect number, replayed: the tenant's conversation scripts (`calls/<tenant>/`) run through the
   inbound flow as synthesized in step 1 (flow interpreter), the real Lambda handlers, the Lex emulation and the
   agent; each call is printed as a timeline and an HTML report is written (`oratio_local/replay/`).
7. What the first replayed call cost by category (the code hook's and call events' metering: Lex requests,
   estimated Nova Sonic speech, Polly, Connect minutes), and its post-call analysis (a rule-based stand-in for
   the analysis model locally).
8. One customer across channels: they call, then write on WhatsApp (signed delivery → channel webhook → SQS FIFO →
   worker → WhatsApp send API) and are recognised; on Instagram they prove their number with a code and join the
   same profile (`oratio_local/one_customer.py`).

Every caller line comes from the tenant's own business (`oratio_local/scripts.py`).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oratio.config import TenantConfig, TenantConfigError, load_tenants
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, RoutingProfile
from oratio.tables import CONVERSATIONS, TENANT_STATE
from oratio_local.dynamodb import create_tables
from oratio_local.events import connect_contact_flow_event, lambda_context
from oratio_local.lambdas import load_handler

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


def _heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 72 - len(text)))


# --------------------------------------------------------------------------------------------- synth
def synthesize(tenants_dir: Path, outdir: Path) -> tuple[list[TenantConfig], Path]:
    """Synthesize the app into `outdir`; exits with the tenant-file message if a file is bad."""
    # Imported here: loading the CDK (jsii) costs seconds and the routing part does not need it.
    from aws_cdk import cx_api

    from stacks.app_builder import build_app, new_app

    try:
        tenants = load_tenants(tenants_dir)
    except TenantConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from e
    app = new_app(str(outdir))
    build_app(app, tenants=tenants)
    try:
        assembly = app.synth()
    except RuntimeError as e:
        if "ValidationFailed" not in str(e):
            raise
        assembly = cx_api.CloudAssembly(str(outdir))
    for stack in assembly.stacks:
        resources = stack.template.get("Resources", {})
        kinds = Counter(r["Type"] for r in resources.values())
        top = ", ".join(f"{kind.split('::', 1)[1]} x{n}" for kind, n in kinds.most_common(6))
        print(f"  {stack.stack_name:<28} {len(resources):>3} resources  ({top}, ...)")
    return tenants, outdir


def validate(outdir: Path) -> bool:
    """Run cfn-lint and read cdk-nag's report; print a summary; True when both are clean."""
    templates = sorted(str(p) for p in outdir.glob("*.template.json"))
    lint = subprocess.run(  # noqa: S603 - our interpreter's cfn-lint on our own templates
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = lint.stdout.splitlines()
    errors = [line for line in lines if ":E" in line]
    warnings = [line for line in lines if ":W" in line]
    print(f"  cfn-lint   {len(templates)} templates: {len(errors)} errors, {len(warnings)} warnings")
    for line in errors:
        print(f"    {line}")

    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    violations = [v for r in report["pluginReports"] for v in r["violations"]]
    acknowledged = [
        v for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions" for v in r["suppressedViolations"]
    ]
    rules = sorted({v["ruleName"].split("[")[0] for v in acknowledged})
    print(
        f"  cdk-nag    AwsSolutions: {len(violations)} unacknowledged findings, "
        f"{len(acknowledged)} acknowledged with reasons ({', '.join(rules)})"
    )
    for v in violations:
        print(f"    {v['ruleName']}: {v['description'][:120]}")
    return not errors and not violations


# ------------------------------------------------------------------------------------- local calls
@contextmanager
def local_aws() -> Iterator[Any]:
    """moto in process, with fake credentials so nothing can reach a real account."""
    import boto3
    from moto import mock_aws

    from oratio_local.moto_serial import serialize_moto

    serialize_moto()
    fake = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Oratio",
        "POWERTOOLS_SERVICE_NAME": "call_router",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in fake}
    os.environ.update(fake)
    try:
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _local_instant(tenant: TenantConfig, weekday: int, at: time) -> datetime:
    """The next date that falls on `weekday` (Monday 0), at local time `at`, as UTC."""
    zone = ZoneInfo(tenant.business.hours.time_zone)
    day = datetime.now(zone).date()
    day += timedelta(days=(weekday - day.weekday()) % 7)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _open_slot(tenant: TenantConfig) -> datetime:
    """An instant inside the tenant's business hours (one hour after the first opening of the week)."""
    for weekday in range(7):
        hours = tenant.business.hours.day(weekday)
        if hours is not None:
            opening = datetime.combine(datetime.now(UTC).date(), hours.open) + timedelta(minutes=30)
            return _local_instant(tenant, weekday, opening.time())
    raise ValueError(f"{tenant.tenant_id} is never open; the demo needs at least one open day")


def _closed_slot(tenant: TenantConfig) -> datetime:
    for weekday in range(7):
        hours = tenant.business.hours.day(weekday)
        if hours is None:
            return _local_instant(tenant, weekday, time(12, 0))
        if hours.open > time(0, 0):
            return _local_instant(tenant, weekday, time(0, 0))
    raise ValueError(f"{tenant.tenant_id} is always open")


@dataclass(frozen=True)
class DemoAgents:
    """The two agents the vendor runs in the demo, by id."""

    front_desk: str
    members_desk: str


def vendor_manages_agents(api: Any, tenant: TenantConfig, vendor: list[str]) -> DemoAgents:
    """Provision the tenant's front-desk agent, create a second one with its own persona, edit it (a draft version
    that waits for a publish), read the diff, publish, roll back and publish again: what `vendor` saw."""
    from oratio_local.scripts import second_agent_request
    from oratio_local.vendor import agent_request_for

    base = agent_request_for(tenant)
    provisioned = api.call(
        "POST", "/api/v1/agents/provision", {"agent_config": base}, headers={"Idempotency-Key": "demo-provision-0001"}
    )
    agent = provisioned["agent_config"]
    vendor.append(f"POST /api/v1/agents/provision → {provisioned['status']}, agent {agent['id']} {agent['status']}")
    for channel in agent["channels"]:
        bound = channel.get("phone_number") or channel.get("elizaos_plugin") or ""
        vendor.append(f"    {channel['channel_type']:<10} {channel['status']:<20} {bound}")
    vendor.append(f"  character: {agent['character']['instructions'][:110]}...")

    second = second_agent_request(tenant, base)
    if second.get("bridge_number"):
        api.register_bridge_number(second["bridge_number"])  # the operator's scripts/phone_numbers.py register
        vendor.append(f"operator registers {second['bridge_number']} for {tenant.tenant_id} (a Twilio/Vonage number)")
    members = api.call("POST", "/api/v1/agents", second)
    members = api.call("POST", f"/api/v1/agents/{members['id']}/start")
    mid = members["id"]
    vendor.append(
        f"POST /api/v1/agents (+ start) → {members['name']}: {members['status']}, "
        f"live version {members['live_version']}"
    )
    edit = {"version": members["version"], "change_note": "warmer greeting"}
    edit["definition"] = {
        **(members["definition"]),
        "lines": {"greeting": f"Welcome back to {tenant.business.name}! Riley here."},
    }
    edited = api.call("PUT", f"/api/v1/agents/{mid}", edit)
    vendor.append(
        f"PUT /api/v1/agents/{mid} → draft version {edited['latest_version']} written; "
        f"live stays {edited['live_version']} (the agent is active: publishing is explicit)"
    )
    diff = api.call("GET", f"/api/v1/agents/{mid}/versions/{edited['latest_version']}/diff")
    for change in diff["changes"]:
        vendor.append(f"    diff v{diff['from_version']}→v{diff['to_version']}: {change['path']} {change['change']}")
    published = api.call("POST", f"/api/v1/agents/{mid}/versions/{edited['latest_version']}/publish")
    vendor.append(f"POST .../versions/{edited['latest_version']}/publish → live version {published['live_version']}")
    rolled = api.call("POST", f"/api/v1/agents/{mid}/versions/1/rollback")
    vendor.append(f"POST .../versions/1/rollback → live version {rolled['live_version']}")
    again = api.call("POST", f"/api/v1/agents/{mid}/versions/{edited['latest_version']}/publish")
    versions = api.call("GET", f"/api/v1/agents/{mid}/versions")
    listed = ", ".join(
        f"v{v['version']} by {v['author']} ({v['note']}){' live' if v['live'] else ''}" for v in versions["items"]
    )
    vendor.append(f"GET .../versions → {listed}; live {again['live_version']}")
    return DemoAgents(front_desk=agent["id"], members_desk=mid)


def route_sample_calls(
    tenant: TenantConfig, client: Any, names: dict[str, str]
) -> tuple[list[str], list[dict[str, str]], DemoAgents, Any]:
    """A vendor sets its agents up through the vendor API; then real-shaped Connect contacts are routed to the
    front desk, with the vendor pausing and resuming it through the API in between. Returns what the vendor saw,
    the routing rows, the agents and the API (for the later steps)."""
    from oratio.adapters.dynamodb import DynamoDBCallSessionStore
    from oratio.adapters.memory import FixedClock
    from oratio_local.vendor import LocalVendorApi

    # Connect claims the real number at deploy time; locally the tenant's published contact number
    # stands in for it.
    number = tenant.business.contact.phone or "+15550100000"
    rows: list[dict[str, str]] = []
    vendor: list[str] = []
    os.environ[ROUTING_PROFILE_ENV_VAR] = RoutingProfile.from_tenant(tenant).to_env()
    sessions = DynamoDBCallSessionStore(names[CONVERSATIONS.key], names[TENANT_STATE.key], client=client)
    api = LocalVendorApi(tenant, client, names, phone_number=number)
    agents = vendor_manages_agents(api, tenant, vendor)

    handler = load_handler("call_router")
    open_at = _open_slot(tenant)
    clock = FixedClock(open_at)
    handler.clock = clock  # type: ignore[attr-defined]  # module loaded from a file path

    def call(scenario: str, contact_id: str, dialed: str = number) -> None:
        event = connect_contact_flow_event(contact_id=contact_id, dialed=dialed)
        with redirect_stdout(io.StringIO()):  # the handler's EMF metrics belong to CloudWatch
            answer = handler.lambda_handler(event, lambda_context("call_router"))
        spoken = answer["greeting"] if answer["route"] == "agent" else answer["message"]
        active = sessions.active_calls(tenant.tenant_id)
        rows.append({"scenario": scenario, **answer, "spoken": spoken, "active": str(active)})

    call("caller rings in business hours", "demo-contact-0001")
    call("Connect retries the same contact", "demo-contact-0001")
    call("unknown number dialed", "demo-contact-0002", dialed="+15550009999")
    clock.set(_closed_slot(tenant))
    call("caller rings after hours", "demo-contact-0003")
    clock.set(open_at)
    paused = api.call("POST", f"/api/v1/agents/{agents.front_desk}/pause")
    vendor.append(f"POST /api/v1/agents/{agents.front_desk}/pause → {paused['status']} (the next caller hears it)")
    call("vendor paused the agent", "demo-contact-0004")
    api.call("POST", f"/api/v1/agents/{agents.front_desk}/resume")
    for n in range(tenant.limits.max_concurrent_calls - 1):
        call("(filling the line)", f"demo-fill-{n:04d}")
    rows = [r for r in rows if not r["scenario"].startswith("(")]
    call(f"call beyond {tenant.limits.max_concurrent_calls} concurrent", "demo-contact-0005")
    # Free the demo's lines again: the calls that follow are new contacts.
    for n in range(tenant.limits.max_concurrent_calls - 1):
        sessions.close(tenant.tenant_id, f"demo-fill-{n:04d}", open_at)
    sessions.close(tenant.tenant_id, "demo-contact-0001", open_at)
    return vendor, rows, agents, api


def print_decisions(vendor: list[str], rows: list[dict[str, str]]) -> None:
    print("  the vendor, through the vendor API (Lambda handler, local DynamoDB and SSM):")
    for line in vendor:
        print(f"    {line}")
    print()
    print(f"  {'scenario':<34} {'route':<12} {'reason':<24} {'live':>4}  caller hears")
    for row in rows:
        print(f"  {row['scenario']:<34} {row['route']:<12} {row['reason']:<24} {row['active']:>4}  {row['spoken']}")
    print("\n  Attributes returned to Connect for the first call (flat string map):")
    print("  " + json.dumps({k: v for k, v in rows[0].items() if k not in ("scenario", "spoken", "active")}))


def local_agent_environment(tenant: TenantConfig, tenants_dir: Path, names: dict[str, str]) -> None:
    """The tenant agent's local mode, reading the agents' definitions from the local tables the vendor API wrote."""
    from agentcore.tenant_agent.wiring import ENV_LOCAL_MODE, ENV_TENANT_ID, ENV_TENANTS_DIR
    from oratio.tables import AGENT_DEFINITIONS, AGENTS

    os.environ.update(
        {
            ENV_LOCAL_MODE: "1",
            ENV_TENANT_ID: tenant.tenant_id,
            ENV_TENANTS_DIR: str(tenants_dir),
            AGENTS.env_var: names[AGENTS.key],
            AGENT_DEFINITIONS.env_var: names[AGENT_DEFINITIONS.key],
        }
    )


def talk_to_agents(
    tenant: TenantConfig, agents: DemoAgents
) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, str, str]]]:
    """A short voice conversation with the front desk over HTTP on 127.0.0.1, then the same questions to both
    agents (each turn runs on the live version of the agent it names)."""
    import asyncio

    from agentcore.tenant_agent import app as runtime
    from agentcore.tenant_agent.client import HttpAgentClient
    from oratio.agent.contracts import CustomerIdentity, InvocationRequest, UserMessage
    from oratio.config.tenant import Channel
    from oratio_local.agent_server import serve_on_loopback
    from oratio_local.scripts import caller_lines

    for name in ("bedrock_agentcore", "bedrock_agentcore.app"):  # per-request INFO lines are noise here
        logging.getLogger(name).setLevel(logging.WARNING)
    caller = CustomerIdentity(kind="phone", value="+15551234567")
    lines = caller_lines(tenant)

    def request(agent_id: str, text: str, channel: Channel = Channel.VOICE) -> InvocationRequest:
        return InvocationRequest(
            tenant_id=tenant.tenant_id,
            agent_id=agent_id,
            channel=channel,
            customer=caller,
            input=UserMessage(text=text),
        )

    async def converse(base_url: str) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, str, str]]]:
        turns = []
        compared: list[tuple[str, str, str]] = []
        async with HttpAgentClient(base_url) as agent:
            for line in (lines.product, lines.policy, lines.person):
                events = [event async for event in agent.invoke(request(agents.front_desk, line), "demo-call-0001")]
                turns.append((line, events))
            for n, line in enumerate(lines.compared()):
                answers = []
                for agent_id in (agents.front_desk, agents.members_desk):
                    events = [
                        e
                        async for e in agent.invoke(request(agent_id, line, Channel.CHAT), f"demo-chat-{agent_id}-{n}")
                    ]
                    answers.append(" ".join(e.text for e in events if e.type == "text"))
                compared.append((line, answers[0], answers[1]))
        return turns, compared

    with serve_on_loopback(runtime.app) as base_url:
        print(f"  tenant agent serving on {base_url} (local mode; definitions from the vendor API's local tables)")
        return asyncio.run(converse(base_url))


def print_conversation(turns: list[tuple[str, list[Any]]], compared: list[tuple[str, str, str]]) -> None:
    for line, events in turns:
        print(f"\n  caller: {line}")
        spoken = " ".join(e.text for e in events if e.type == "text")
        for event in events:
            if event.type == "ack":
                print(f"  agent (while working): {event.text}")
            elif event.type == "tool":
                print(f"  [tool {event.name}: {event.status}, {event.duration_ms:.1f} ms]")
            elif event.type == "handoff":
                print(f"  [handoff to a human: {event.reason} — summary: {event.summary}]")
            elif event.type == "transition":
                print(f"  [role {event.from_role} → {event.to_role}: {event.trigger}]")
            elif event.type == "escalation":
                print(f"  [voice tier → {event.to_tier}, score {event.qualification_score:.2f}]")
        print(f"  agent: {spoken}")
        done = next((e for e in events if e.type == "done"), None)
        if done is not None:
            print(
                f"  [model {done.model_id} — {done.routing_reason}; {done.input_tokens}+{done.output_tokens} tokens, "
                f"${done.cost_usd:.5f}, role {done.role}, lead score {done.qualification_score:.2f}, "
                f"definition v{done.definition_version}]"
            )
    print("\n  the same questions, two agents of one tenant (chat):")
    for line, front, members in compared:
        print(f"    customer:     {line}")
        print(f"    front desk:   {front}")
        print(f"    members desk: {members}")


def print_spoken_call_demo(tenant: TenantConfig, agents: DemoAgents) -> None:
    """Step 5: the bridge end to end on 127.0.0.1, as the members desk (the agent app serves the tool call)."""
    from agentcore.tenant_agent import app as runtime
    from oratio_local.agent_server import serve_on_loopback
    from oratio_local.voice_call import print_spoken_call, run

    with serve_on_loopback(runtime.app) as base_url:
        print_spoken_call(run(tenant, agents.members_desk, base_url))


def replay_calls(tenant: TenantConfig, tenants_dir: Path, outdir: Path, report_path: Path) -> bool:
    """Step 6: every script under calls/<tenant>/ through the replay, on the templates step 1 synthesized."""
    from oratio.replay import report
    from oratio_local.replay.runner import ReplaySession, run_paths
    from oratio_local.replay.synth import from_assembly

    folder = REPO / "calls" / tenant.tenant_id
    if not folder.is_dir():
        print(f"  no call scripts for {tenant.tenant_id} (add calls/{tenant.tenant_id}/*.yaml)")
        return True
    from oratio_local.operations_demo import call_operations, print_call_operations

    synthesized = {tenant.tenant_id: from_assembly(outdir, tenant.tenant_id)}
    with ReplaySession(tenants_dir, synthesized=synthesized, after_call=call_operations) as session:
        results = run_paths(session, [folder])
    print(report.console(results))
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(report.html_report(results, f"{tenant.business.name}: replayed calls"), encoding="utf-8")
    print(f"  HTML report (one page, a timeline per call): {report_path}")
    costed = next((r for r in results if r.after_call is not None), None)
    if costed is not None:
        _heading(f"7. what the call {costed.name!r} cost, and its post-call analysis ({tenant.tenant_id})")
        print_call_operations(*costed.after_call)
    return all(r.passed for r in results)


EXAMPLE_TENANT = "cozy-comfort"


def choose_tenant(tenants: list[TenantConfig], wanted: str | None) -> TenantConfig:
    """The tenant the demo plays: the one asked for, else the example tenant, else the first file."""
    by_id = {t.tenant_id: t for t in tenants}
    if wanted:
        if wanted not in by_id:
            print(f"error: no tenant {wanted!r}; tenant files: {', '.join(sorted(by_id))}", file=sys.stderr)
            raise SystemExit(2)
        return by_id[wanted]
    return by_id.get(EXAMPLE_TENANT, tenants[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=Path, default=REPO / "tenants", help="folder of tenant files")
    parser.add_argument("--tenant", default=None, help=f"tenant id to play (default: {EXAMPLE_TENANT})")
    parser.add_argument("--outdir", type=Path, default=None, help="where to write the cloud assembly")
    parser.add_argument("--report", type=Path, default=REPO / "build" / "replay-report.html", help="HTML report")
    args = parser.parse_args(argv)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    # Handlers flush Powertools metrics per call; a call that adds none warns, which is noise here.
    warnings.filterwarnings("ignore", "No application metrics to publish")

    print("Oratio — local demo (no AWS account; DynamoDB is moto in process; nothing is deployed)")
    with tempfile.TemporaryDirectory() as tmp:
        outdir = args.outdir or Path(tmp) / "cdk.out"
        _heading("1. synthesize")
        tenants, outdir = synthesize(args.tenants, outdir)
        _heading("2. validate")
        clean = validate(outdir)
        if not tenants:
            print("no tenant files; add tenants/<id>.yaml to route a call")
            return 0 if clean else 1
        tenant = choose_tenant(tenants, args.tenant)
        with local_aws() as client:
            names = create_tables(client)
            _heading(f"3. {tenant.tenant_id} sets up its agents (vendor API); calls are routed (call router)")
            vendor, rows, agents, _api = route_sample_calls(tenant, client, names)
            print_decisions(vendor, rows)
            local_agent_environment(tenant, args.tenants, names)
            _heading(f"4. talk to {tenant.tenant_id}'s agents (rule-based model stand-in, lexical knowledge)")
            print_conversation(*talk_to_agents(tenant, agents))
            _heading(
                f"5. a spoken call through the voice bridge (Nova Sonic stand-in, {tenant.tenant_id}'s members desk)"
            )
            print_spoken_call_demo(tenant, agents)
        # The replay brings its own local AWS (a fresh moto), so it runs after the steps above are done with theirs.
        _heading(f"6. {tenant.tenant_id}'s call scripts, replayed through the Connect flow as synthesized")
        replayed = replay_calls(tenant, args.tenants, outdir, args.report)
        # Its own local AWS too: the channels' tables, queue and secrets, fresh.
        _heading(
            f"8. one customer of {tenant.tenant_id} calls, then writes on WhatsApp and Instagram (channel Lambdas)"
        )
        from oratio_local.one_customer import play_one_customer, print_one_customer

        with local_aws() as client:
            print_one_customer(play_one_customer(tenant, args.tenants, client))
        _heading(f"9. AgentCreator: {tenant.tenant_id}'s SOP becomes a reviewed, tested version the vendor approves")
        creator_ok = agent_creator_step(tenant, args.tenants)
    from oratio_local.console import console_url

    _heading("the vendor console")
    print(f"  `make console` serves it against this demo's data at {console_url()} (prints how to sign in)")
    return 0 if clean and replayed and creator_ok else 1


def agent_creator_step(tenant: TenantConfig, tenants_dir: Path) -> bool:
    """Submit the tenant's example SOP through the vendor API and approve the candidate (its own local AWS).
    Locally the stages are driven by the local rule-based stage model, not Bedrock."""
    from oratio_local.creator_demo import play_agent_creator, print_creator_run, sop_for

    sop = sop_for(tenant, tenants_dir / "sops")
    if sop is None:
        print(f"no example SOP for {tenant.tenant_id} (tenants/sops/{tenant.tenant_id}.md); skipped")
        return True
    print("(local: the in-process launcher stands in for the AgentCreator runtime, the rule-based stage model")
    print(" for Bedrock Converse; DynamoDB and S3 are moto)")
    with local_aws() as client:
        run = play_agent_creator(tenant, tenants_dir, client, sop)
    print_creator_run(run)
    return run.job["status"] == "succeeded" and run.published is not None


if __name__ == "__main__":
    sys.exit(main())
