"""`make demo` step 8: one customer across channels, on local AWS (moto, in process).

The vendor provisions an agent and links its WhatsApp number and Instagram account through the vendor API (the real
Lambda handler; the platforms' verification calls go to `oratio_local.platforms.FakePlatforms`). A customer calls:
the agent turn a Connect call runs, with the caller's number as their identity. Then the same person writes on
WhatsApp: the delivery is signed as Meta signs it, acknowledged by the real webhook handler, queued on the SQS FIFO
queue and answered by the real worker handler through the WhatsApp send API — and the agent is told about the call.
Last, they write on Instagram, give their number, prove it with the code sent to it by SMS, and the Instagram
conversation joins the same profile. The agent is the in-process engine with its stores on DynamoDB (the
rule-based model stand-in records what it was told).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oratio.agent.contracts import CustomerIdentity, InvocationRequest, TextChunk, UserMessage
from oratio.config import TenantConfig
from oratio.config.tenant import Channel
from oratio.tables import ALL_TABLES
from oratio_local.channel_events import (
    INSTAGRAM_ACCOUNT_ID,
    PAGE_ID,
    WHATSAPP_PHONE_NUMBER_ID,
    messaging_delivery,
    messaging_message,
    whatsapp_message,
)
from oratio_local.channels import APP_SECRET, VERIFY_TOKEN, LocalChannels, local_engine
from oratio_local.dynamodb import create_tables
from oratio_local.platforms import FakePlatforms, MetaAccount
from oratio_local.vendor import LocalVendorApi, agent_request_for

CALLER = "+16505551234"  # the customer's phone: the caller id of the call, their WhatsApp number
INSTAGRAM_USER = "6815722318506841"  # their Instagram-scoped id (IGSID)
WA_TOKEN = "EAAJB-local-whatsapp-system-user-token"  # noqa: S105 - local stand-in credentials
PAGE_TOKEN = "EAAJB-local-page-token"  # noqa: S105


@dataclass
class Story:
    vendor: list[str] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)  # (who, what)
    told: list[str] = field(default_factory=list)  # what the agent was told about the customer on WhatsApp
    told_on_instagram: list[str] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def say(self, who: str, what: str) -> None:
        self.lines.append((who, what))


def _platforms() -> FakePlatforms:
    platforms = FakePlatforms()
    platforms.meta[WHATSAPP_PHONE_NUMBER_ID] = MetaAccount(
        WA_TOKEN, APP_SECRET, {"display_phone_number": "15550783881", "verified_name": "Local business"}
    )
    platforms.meta[INSTAGRAM_ACCOUNT_ID] = MetaAccount(PAGE_TOKEN, APP_SECRET, {"username": "local.business"})
    platforms.meta[PAGE_ID] = MetaAccount(PAGE_TOKEN, APP_SECRET, {"name": "Local business"})
    return platforms


def _customer_lines(request: dict[str, Any]) -> list[str]:
    """The customer part of the system prompt the model got (what the agent knew about them)."""
    system = " ".join(block.get("text", "") for block in request.get("system", []) if isinstance(block, dict))
    lines = system.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Earlier conversations")), None)
    if start is None:
        return []
    return [line for line in lines[start:] if line.startswith(("Earlier", "- "))][:4]


def play_one_customer(tenant: TenantConfig, tenants_dir: Path, dynamodb: Any) -> Story:
    from oratio.vendors.api import channel_routes as channel_api

    story = Story()
    wanted = {Channel.WHATSAPP, Channel.INSTAGRAM}
    if not wanted <= set(tenant.channels):
        story.skipped = f"{tenant.tenant_id} has no WhatsApp and Instagram channels in its tenant file"
        return story
    names = create_tables(dynamodb)
    assert {spec.key for spec in ALL_TABLES} <= set(names)
    api = LocalVendorApi(tenant, dynamodb, names, phone_number=tenant.business.contact.phone or "+15550100000")
    platforms = _platforms()
    services = dataclasses.replace(channel_api.build_services.__wrapped__(), http_transport=platforms.transport())
    original = channel_api.services
    channel_api.services = lambda: services  # the verification calls go to the fakes
    try:
        request = {"agent_config": {**agent_request_for(tenant), "channels": ["voice", "whatsapp", "instagram"]}}
        idempotency = {"Idempotency-Key": "demo-one-customer-0001"}
        agent = api.call("POST", "/api/v1/agents/provision", request, headers=idempotency)
        agent_id = agent["agent_config"]["id"]
        states = {c["channel_type"]: c["status"] for c in agent["agent_config"]["channels"]}
        story.vendor.append(f"POST /api/v1/agents/provision → agent {agent_id}; whatsapp {states.get('whatsapp')}")
        keys = {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN}
        links = {
            "whatsapp": {"phone_number_id": WHATSAPP_PHONE_NUMBER_ID, "access_token": WA_TOKEN, **keys},
            "instagram": {
                "instagram_account_id": INSTAGRAM_ACCOUNT_ID,
                "page_id": PAGE_ID,
                "access_token": PAGE_TOKEN,
                **keys,
            },
        }
        for channel, body in links.items():
            linked = api.call("PUT", f"/api/v1/agents/{agent_id}/channels/{channel}", body)
            echoed = any(v in str(linked) for v in (WA_TOKEN, PAGE_TOKEN, APP_SECRET))
            story.vendor.append(
                f"PUT /api/v1/agents/{agent_id}/channels/{channel} → {linked['status']} "
                f"(verified with one Graph API call; secrets echoed: {'yes' if echoed else 'no'})"
            )
    finally:
        channel_api.services = original

    engine, model = local_engine(tenant, tenants_dir, dynamodb, names)

    def now() -> datetime:
        return datetime.now(UTC)

    channels = LocalChannels(tenant, dynamodb, names, engine, clock=now, platforms=platforms)

    # 1. The call: the turn a Connect call's code hook asks the agent for (step 5 shows the hook around it).
    line = "Hi, do you have queen duvets? What do they cost?"
    call = InvocationRequest(
        tenant_id=tenant.tenant_id,
        agent_id=agent_id,
        channel=Channel.VOICE,
        customer=CustomerIdentity(kind="phone", value=CALLER),
        input=UserMessage(text=line),
    )

    async def run_call() -> str:
        events = [e async for e in engine.handle(call, "demo-contact-0700")]
        return " ".join(e.text for e in events if isinstance(e, TextChunk)).strip()

    story.say(f"call from {CALLER}", line)
    story.say("agent (voice)", asyncio.run(run_call()))

    # 2. WhatsApp, from the same number: signed delivery → webhook → FIFO queue → worker → send API.
    text = "Hi again! Does the queen duvet come in grey?"
    acknowledged = channels.deliver(Channel.WHATSAPP, whatsapp_message(CALLER.lstrip("+"), text=text, name="Jane"))
    story.say(f"WhatsApp from {CALLER}", f"{text}   [webhook answered {acknowledged['statusCode']}]")
    before = len(model.requests)
    channels.drain()
    story.told = _customer_lines(model.requests[-1]) if len(model.requests) > before else []
    story.say("agent (WhatsApp)", _last_sent(platforms))

    # 3. Instagram: a social id joins only once the customer proves the number they give.
    ig = [
        "Hello from Instagram! My number is (650) 555-1234.",
        None,  # the code they received by SMS
        "Great. Is the grey duvet in stock?",
    ]
    for message in ig:
        if message is None:
            sent = channels.codes.sent[-1]
            code = re.search(r"\b(\d{6})\b", sent.text)
            story.say(f"SMS to {sent.address}", sent.text)
            message = code.group(1) if code else "000000"
        delivery = messaging_delivery(
            messaging_message(INSTAGRAM_USER, account_id=INSTAGRAM_ACCOUNT_ID, text=message),
            object_="instagram",
            account_id=INSTAGRAM_ACCOUNT_ID,
        )
        channels.deliver(Channel.INSTAGRAM, delivery)
        story.say(f"Instagram from {INSTAGRAM_USER}", message)
        before = len(model.requests)
        channels.drain()
        if len(model.requests) > before:
            story.told_on_instagram = _customer_lines(model.requests[-1])
        story.say("agent (Instagram)", _last_sent(platforms))

    story.profile = api.call("GET", f"/api/v1/customers/phone/{CALLER}")
    return story


def _last_sent(platforms: FakePlatforms) -> str:
    if not platforms.sent:
        return "(nothing sent)"
    body = platforms.sent[-1].body
    text = body.get("text", {}).get("body") if body.get("messaging_product") else body.get("message", {}).get("text")
    return f"{text}   [POST {platforms.sent[-1].path}]"


def print_one_customer(story: Story) -> None:
    if story.skipped:
        print(f"  skipped: {story.skipped}")
        return
    print("  the vendor, through the vendor API:")
    for line in story.vendor:
        print(f"    {line}")
    print()
    for who, what in story.lines:
        print(f"  {who + ':':<34} {_short(what)}")
    print("\n  what the agent was told about the customer when the WhatsApp message came in:")
    for line in story.told or ["(nothing: not recognised)"]:
        print(f"    {_short(line, 150)}")
    print("  ... and on Instagram, once the number was proved:")
    for line in story.told_on_instagram or ["(nothing: not recognised)"]:
        print(f"    {_short(line, 150)}")
    profile = story.profile
    channels = sorted({c["channel"] for c in profile.get("recent_conversations", [])})
    print(
        f"\n  GET /api/v1/customers/phone/{CALLER} → {profile.get('customer_key')}, identities "
        f"{', '.join(profile.get('identities', []))}; conversations on {', '.join(channels)}"
    )
    print("  (WhatsApp, SMS and the caller id are one identity, phone:+E.164; the Instagram id joined after the code)")


def _short(text: str, width: int = 130) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
