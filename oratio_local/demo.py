"""`make demo`: Oratio's main job on the embedded local default (no AWS account).

1. Synthesize the platform stack and one tenant stack per `tenants/*.yaml`; print what was made.
2. Validate the templates: cfn-lint and cdk-nag (AwsSolutions).
3. The first tenant's vendor provisions an agent through the real vendor API Lambda handler (voice bound to
   the tenant's number); sample inbound calls are routed to it through the real call-router Lambda handler,
   with the vendor pausing it through the API in between; all against local DynamoDB/SSM (moto, in process).
4. Talk to the tenant agent: its AgentCore runtime app served on 127.0.0.1, invoked over HTTP with
   the typed client; locally the model is a rule-based stand-in and knowledge search is lexical.
5. A call on the Connect number: the voice_turn Lambda answering real-shaped Lex code-hook events and
   the flow's actions, the agent behind it, state in moto DynamoDB (`oratio_local/connect_call.py`).
6. A spoken call through Oratio's own Nova Sonic bridge: the real SDK client against the local Sonic stand-in
   (HTTP/2 + TLS on 127.0.0.1), the tenant agent answering tool calls (`oratio_local/voice_call.py`).
7. One customer across channels: they call, then write on WhatsApp (signed delivery → channel webhook → SQS FIFO →
   worker → WhatsApp send API) and are recognised; on Instagram they prove their number with a code and join the
   same profile (`oratio_local/one_customer.py`).
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
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oratio.config import TenantConfig, TenantConfigError, load_tenants
from oratio.domain.routing import ROUTING_PROFILE_ENV_VAR, RoutingProfile
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


def route_sample_calls(tenant: TenantConfig) -> tuple[list[str], list[dict[str, str]]]:
    """A vendor provisions an agent through the vendor API; then real-shaped Connect contacts are routed to it,
    with the vendor pausing and resuming it through the API in between. Returns what the vendor saw and the
    routing rows."""
    from oratio.adapters.dynamodb import DynamoDBCallSessionStore
    from oratio.adapters.memory import FixedClock
    from oratio_local.vendor import LocalVendorApi, agent_request_for

    # Connect claims the real number at deploy time; locally the tenant's published contact number
    # stands in for it.
    number = tenant.business.contact.phone or "+15550100000"
    rows: list[dict[str, str]] = []
    vendor: list[str] = []
    with local_aws() as client:
        names = create_tables(client)
        os.environ[ROUTING_PROFILE_ENV_VAR] = RoutingProfile.from_tenant(tenant).to_env()
        sessions = DynamoDBCallSessionStore(names[CONVERSATIONS.key], names[TENANT_STATE.key], client=client)

        api = LocalVendorApi(tenant, client, names, phone_number=number)
        provisioned = api.call(
            "POST",
            "/api/v1/agents/provision",
            {"agent_config": agent_request_for(tenant)},
            headers={"Idempotency-Key": "demo-provision-0001"},
        )
        agent = provisioned["agent_config"]
        vendor.append(f"POST /api/v1/agents/provision → {provisioned['status']}, agent {agent['id']} {agent['status']}")
        for channel in agent["channels"]:
            bound = channel.get("phone_number") or channel.get("elizaos_plugin") or ""
            vendor.append(f"    {channel['channel_type']:<10} {channel['status']:<20} {bound}")
        vendor.append(f"  character: {agent['character']['instructions'][:110]}...")

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
        paused = api.call("POST", f"/api/v1/agents/{agent['id']}/pause")
        vendor.append(f"POST /api/v1/agents/{agent['id']}/pause → {paused['status']} (the next caller hears it)")
        call("vendor paused the agent", "demo-contact-0004")
        api.call("POST", f"/api/v1/agents/{agent['id']}/resume")
        for n in range(tenant.limits.max_concurrent_calls - 1):
            call("(filling the line)", f"demo-fill-{n:04d}")
        rows = [r for r in rows if not r["scenario"].startswith("(")]
        call(f"call beyond {tenant.limits.max_concurrent_calls} concurrent", "demo-contact-0005")
    return vendor, rows


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


SAMPLE_CONVERSATION = (
    "Hi, I'm looking for a new comforter for my queen bed.",
    "What's your return policy?",
    "Can I talk to a person, please?",
)


def talk_to_agent(tenant: TenantConfig, tenants_dir: Path) -> list[tuple[str, list[Any]]]:
    """One short voice conversation with the tenant agent over HTTP on 127.0.0.1."""
    import asyncio

    from agentcore.tenant_agent import app as runtime
    from agentcore.tenant_agent.client import HttpAgentClient
    from agentcore.tenant_agent.wiring import ENV_LOCAL_MODE, ENV_TENANT_ID, ENV_TENANTS_DIR
    from oratio.agent.contracts import CustomerIdentity, InvocationRequest, UserMessage
    from oratio.config.tenant import Channel
    from oratio_local.agent_server import serve_on_loopback

    os.environ.update({ENV_LOCAL_MODE: "1", ENV_TENANT_ID: tenant.tenant_id, ENV_TENANTS_DIR: str(tenants_dir)})
    for name in ("bedrock_agentcore", "bedrock_agentcore.app"):  # per-request INFO lines are noise here
        logging.getLogger(name).setLevel(logging.WARNING)
    caller = CustomerIdentity(kind="phone", value="+15551234567")

    async def converse(base_url: str) -> list[tuple[str, list[Any]]]:
        turns = []
        async with HttpAgentClient(base_url) as agent:
            for line in SAMPLE_CONVERSATION:
                request = InvocationRequest(
                    tenant_id=tenant.tenant_id,
                    agent_id="front-desk",
                    channel=Channel.VOICE,
                    customer=caller,
                    input=UserMessage(text=line),
                )
                turns.append((line, [event async for event in agent.invoke(request, "demo-call-0001")]))
        return turns

    with serve_on_loopback(runtime.app) as base_url:
        print(f"  tenant agent serving on {base_url} (local mode)")
        return asyncio.run(converse(base_url))


def print_conversation(turns: list[tuple[str, list[Any]]]) -> None:
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
                f"${done.cost_usd:.5f}, role {done.role}, lead score {done.qualification_score:.2f}]"
            )


def print_spoken_call_demo(tenant: TenantConfig, tenants_dir: Path) -> None:
    """Step 5: the bridge end to end on 127.0.0.1 (the agent app from step 4 serves the tool call)."""
    from agentcore.tenant_agent import app as runtime
    from oratio_local.agent_server import serve_on_loopback
    from oratio_local.voice_call import print_spoken_call, run

    with serve_on_loopback(runtime.app) as base_url:
        print_spoken_call(run(tenant.tenant_id, base_url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=Path, default=REPO / "tenants", help="folder of tenant files")
    parser.add_argument("--outdir", type=Path, default=None, help="where to write the cloud assembly")
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
    tenant = tenants[0]
    _heading(f"3. {tenant.tenant_id} provisions an agent (vendor API); calls are routed to it (call router)")
    print_decisions(*route_sample_calls(tenant))
    _heading(f"4. talk to {tenant.tenant_id}'s agent (rule-based model stand-in, lexical knowledge)")
    print_conversation(talk_to_agent(tenant, args.tenants))
    _heading(f"5. a call on {tenant.tenant_id}'s Connect number (Lex code hook, local stand-ins for Connect/Lex)")
    from oratio_local.connect_call import play_connect_call, print_connect_call

    with local_aws() as dynamodb:
        print_connect_call(*play_connect_call(tenant, args.tenants, dynamodb))
    _heading(f"6. a spoken call through the voice bridge (Nova Sonic stand-in, {tenant.tenant_id}'s agent)")
    print_spoken_call_demo(tenant, args.tenants)
    _heading(f"7. one customer of {tenant.tenant_id} calls, then writes on WhatsApp and Instagram (channel Lambdas)")
    from oratio_local.one_customer import play_one_customer, print_one_customer

    with local_aws() as dynamodb:
        print_one_customer(play_one_customer(tenant, args.tenants, dynamodb))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
