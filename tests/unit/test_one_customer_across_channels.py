"""The same person on the phone and on WhatsApp is one customer, and an Instagram user becomes that customer once
they prove their number: the tenant agent, answering on any channel, sees the conversations from every channel.

The real turn engine runs over in-memory stores with a scripted Converse model, whose recorded requests show
what the agent was told about the customer; the WhatsApp and Instagram turns go through the messaging worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from oratio.adapters.memory import InMemoryCallSessionStore
from oratio.adapters.memory_agent import (
    InMemoryBudgetLedger,
    InMemoryConversationRecorder,
    InMemoryCustomerContextStore,
    InMemorySessionMemory,
    InMemoryWorkflowStateStore,
)
from oratio.adapters.scripted_model import ScriptedModel, stop, text, usage
from oratio.agent.contracts import CustomerIdentity, InvocationRequest, UserMessage
from oratio.agent.engine import TenantAgent
from oratio.agent.ports import ConversationSummary, CustomerContext
from oratio.agent.prompt import PromptBuilder
from oratio.agent.tools.base import ToolCall, ToolContext, ToolResult
from oratio.agent.workflow import RoleWorkflow
from oratio.channels.adapters.memory import (
    EngineAgentInvoker,
    InMemoryChannelBindings,
    InMemoryChannelSecrets,
    InMemoryMessageLedger,
    LocalPlatform,
)
from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.meta import parse_meta
from oratio.channels.models import QueuedEvent
from oratio.channels.turns import ChannelProfile, MessagingTurns
from oratio.channels.worker import MessagingWorker
from oratio.config.catalog import load_model_catalog
from oratio.config.tenant import Channel, load_tenant_file
from oratio.customers.adapters.memory import InMemoryClaimStore, OutboxCodeSender
from oratio.customers.linking import IdentityLinking
from oratio.domain.agents import Agent, AgentStatus
from oratio_local.channel_events import (
    INSTAGRAM_ACCOUNT_ID,
    PAGE_ID,
    WHATSAPP_PHONE_NUMBER_ID,
    messaging_delivery,
    messaging_message,
    whatsapp_message,
)

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # a Monday, open
AGENT_ID = "agt-front-desk"


class NoTools:
    def model_tool_specs(self) -> list[dict[str, Any]]:
        return []

    async def run_all(self, calls: list[ToolCall], context: ToolContext) -> list[ToolResult]:
        return []


class Agents:
    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None:
        return Agent(
            vendor_id=vendor_id,
            agent_id=agent_id,
            name="Front desk",
            status=AgentStatus.ACTIVE,
            created_at=NOW,
            updated_at=NOW,
        )


def answer(words: str) -> list[Any]:
    return [text(words), stop("end_turn"), usage(100, 10)]


def system_prompt(request: dict[str, Any]) -> str:
    return " ".join(block.get("text", "") for block in request["system"])


def test_a_caller_who_then_writes_on_whatsapp_and_instagram_is_one_customer_the_agent_recognises() -> None:
    model = ScriptedModel([answer(w) for w in ("Our queen duvets are $129.", "Yes, in grey too.", "Thanks!", "Sure.")])
    contexts = InMemoryCustomerContextStore()
    recorder = InMemoryConversationRecorder()
    engine = TenantAgent(
        tenant=TENANT,
        catalog=load_model_catalog(),
        model=model,
        tools=lambda definition: NoTools(),
        memory=InMemorySessionMemory(),
        contexts=contexts,
        recorder=recorder,
        budget=InMemoryBudgetLedger(),
        workflow=RoleWorkflow.from_definition,
        workflow_states=InMemoryWorkflowStateStore(),
        clock=lambda: NOW,
    )

    async def call() -> None:
        request = InvocationRequest(
            tenant_id=TENANT.tenant_id,
            agent_id=AGENT_ID,
            channel=Channel.VOICE,
            customer=CustomerIdentity(kind="phone", value="+16505551234"),
            input=UserMessage(text="How much is a queen duvet?"),
        )
        [event async for event in engine.handle(request, "connect-contact-0001")]

    asyncio.run(call())

    bindings, secrets = InMemoryChannelBindings(), InMemoryChannelSecrets()
    for channel, account in ((Channel.WHATSAPP, WHATSAPP_PHONE_NUMBER_ID), (Channel.INSTAGRAM, INSTAGRAM_ACCOUNT_ID)):
        asyncio.run(bindings.bind(TENANT.tenant_id, channel, account, AGENT_ID))
        credentials = AccountCredentials(agent_id=AGENT_ID, access_token=SecretStr("t"), page_id=PAGE_ID)
        asyncio.run(secrets.put(TENANT.tenant_id, ChannelSecret(channel=channel, accounts={account: credentials})))
    outbox = OutboxCodeSender()
    codes = iter(["482913"])
    linking = IdentityLinking(
        links=contexts,
        claims=InMemoryClaimStore(),
        senders={"phone": outbox},
        clock=lambda: NOW,
        new_code=lambda n: next(codes),
    )
    turns = MessagingTurns(
        ChannelProfile.from_tenant(TENANT),
        agent=EngineAgentInvoker(engine),
        recorder=recorder,
        linking=linking,
        clock=lambda: NOW,
    )
    platforms = {Channel.WHATSAPP: LocalPlatform(Channel.WHATSAPP), Channel.INSTAGRAM: LocalPlatform(Channel.INSTAGRAM)}
    worker = MessagingWorker(
        turns,
        agents=Agents(),
        bindings=bindings,
        secrets=secrets,
        ledger=InMemoryMessageLedger(),
        platforms=platforms,
        recorder=recorder,
        sessions=InMemoryCallSessionStore(),
        clock=lambda: NOW,
    )

    def deliver(payload: dict[str, Any], channel: Channel) -> None:
        for event in parse_meta(channel, payload).events:
            asyncio.run(worker.process(QueuedEvent(tenant_id=TENANT.tenant_id, event=event, received_at=NOW)))

    ts = int(NOW.timestamp())
    # Two days' apart in the engine's eyes is not needed: a new session on another channel is enough.
    deliver(whatsapp_message("16505551234", text="Does the duvet come in grey?", timestamp=ts), Channel.WHATSAPP)
    whatsapp_prompt = system_prompt(model.requests[1])
    assert "Earlier conversations with this customer" in whatsapp_prompt
    assert "on voice: Customer asked: How much is a queen duvet?" in whatsapp_prompt

    def instagram(words: str) -> dict[str, Any]:
        item = messaging_message("17841400000000009", account_id=INSTAGRAM_ACCOUNT_ID, text=words)
        return messaging_delivery(item, object_="instagram", account_id=INSTAGRAM_ACCOUNT_ID)

    deliver(instagram("hi, it's me again, my number is 650 555 1234"), Channel.INSTAGRAM)
    assert "on voice" not in system_prompt(model.requests[2])  # not proven yet: a stranger, as far as we know
    assert outbox.sent[0].address == "+16505551234"
    assert "sent a 6-digit code" in platforms[Channel.INSTAGRAM].sent[-1].text
    deliver(instagram("482913"), Channel.INSTAGRAM)
    assert len(model.requests) == 3  # the code was for the linking, not for the agent
    deliver(instagram("so which grey duvet did you say?"), Channel.INSTAGRAM)
    linked_prompt = system_prompt(model.requests[3])
    assert "on voice: Customer asked: How much is a queen duvet?" in linked_prompt
    assert "on whatsapp: Customer asked: Does the duvet come in grey?" in linked_prompt


def test_the_agent_is_told_the_newest_conversations_oldest_first_whatever_order_the_store_keeps() -> None:
    channels = ("voice", "whatsapp", "instagram", "facebook", "x")
    summaries = [
        ConversationSummary(channel=c, session_id=f"s{i}", at=NOW + timedelta(hours=i), summary=f"talk {i}")
        for i, c in enumerate(channels)
    ]
    newest_first = CustomerContext(
        tenant_id=TENANT.tenant_id, customer_key="phone:+16505551234", recent_conversations=tuple(reversed(summaries))
    )
    lines = PromptBuilder(TENANT).customer_summary(newest_first).splitlines()
    assert [line.split(" on ")[1].split(":")[0] for line in lines[1:]] == ["instagram", "facebook", "x"]
