"""The messaging worker: a queued event from a social channel answered once, in order, by the agent its account
answers for — with the agent's lifecycle honoured, replies retried as the platform asks, and failures recorded
with the conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from oratio.adapters.memory import InMemoryCallSessionStore
from oratio.adapters.memory_agent import InMemoryConversationRecorder
from oratio.agent.contracts import Handoff, InvocationRequest, ReplyEvent, TextChunk, TurnComplete
from oratio.channels.adapters.memory import (
    InMemoryChannelBindings,
    InMemoryChannelSecrets,
    InMemoryMessageLedger,
)
from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.delivery import RetryPolicy
from oratio.channels.meta import parse_meta
from oratio.channels.models import InboundEvent, QueuedEvent
from oratio.channels.ports import PlatformError, SentMessage, VerifiedAccount
from oratio.channels.turns import ChannelProfile, MessagingTurns
from oratio.channels.worker import MessagingWorker, Outcome, RetryLater, WorkerSettings
from oratio.channels.x import parse_x
from oratio.config.tenant import Channel, load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio_local.channel_events import (
    INSTAGRAM_ACCOUNT_ID,
    WHATSAPP_PHONE_NUMBER_ID,
    X_ACCOUNT_ID,
    messaging_delivery,
    messaging_message,
    messaging_reaction,
    whatsapp_message,
    whatsapp_status,
    x_dm_delivery,
)

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NOW = datetime(2026, 11, 30, 15, tzinfo=UTC)
AGENT_ID = "agt-front-desk"
CUSTOMER = "16505551234"


@dataclass
class ScriptedAgent:
    """The tenant agent's client, answering from a script and remembering every request."""

    replies: list[list[ReplyEvent] | Exception] = field(default_factory=list)
    requests: list[InvocationRequest] = field(default_factory=list)

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        self.requests.append(request)
        script = self.replies.pop(0) if self.replies else [TextChunk(text="Yes, we have queen duvets in grey.")]
        if isinstance(script, Exception):
            raise script
        for event in script:
            yield event


@dataclass
class ScriptedPlatform:
    """A platform send API that fails as scripted, then accepts; remembers what it accepted."""

    failures: list[PlatformError] = field(default_factory=list)
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    attempts: int = 0

    async def send_text(
        self, secret: ChannelSecret, account_id: str, account: AccountCredentials, recipient_id: str, text: str
    ) -> SentMessage:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((account_id, recipient_id, text))
        return SentMessage(f"mid-{len(self.sent)}")

    async def verify(self, secret: ChannelSecret, account_id: str, account: AccountCredentials) -> VerifiedAccount:
        return VerifiedAccount(account_id)


class Unavailable(Exception):
    retryable = True


@dataclass
class World:
    worker: MessagingWorker
    agent: ScriptedAgent
    platform: ScriptedPlatform
    recorder: InMemoryConversationRecorder
    sessions: InMemoryCallSessionStore
    agents: dict[str, Agent]
    sleeps: list[float]

    def process(self, event: InboundEvent) -> Outcome:
        queued = QueuedEvent(tenant_id=TENANT.tenant_id, event=event, received_at=NOW)
        return asyncio.run(self.worker.process(queued)).outcome

    def set_status(self, status: AgentStatus) -> None:
        self.agents[AGENT_ID] = self.agents[AGENT_ID].model_copy(update={"status": status})


class Agents:
    def __init__(self, agents: dict[str, Agent]) -> None:
        self._agents = agents

    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)


def world(channel: Channel = Channel.WHATSAPP, account: str = WHATSAPP_PHONE_NUMBER_ID, tenant=TENANT) -> World:  # type: ignore[no-untyped-def]
    agents = {
        AGENT_ID: Agent(
            vendor_id=tenant.tenant_id,
            agent_id=AGENT_ID,
            name="Front desk",
            status=AgentStatus.ACTIVE,
            created_at=NOW,
            updated_at=NOW,
        )
    }
    bindings = InMemoryChannelBindings()
    asyncio.run(bindings.bind(tenant.tenant_id, channel, account, AGENT_ID))
    secrets = InMemoryChannelSecrets()
    account_credentials = AccountCredentials(
        agent_id=AGENT_ID,
        access_token=SecretStr("token"),
        access_token_secret=SecretStr("s") if channel is Channel.X else None,
    )
    secret = ChannelSecret(channel=channel, app_secret=SecretStr("app"), accounts={account: account_credentials})
    asyncio.run(secrets.put(tenant.tenant_id, secret))
    recorder = InMemoryConversationRecorder()
    sessions = InMemoryCallSessionStore()
    agent = ScriptedAgent()
    platform = ScriptedPlatform()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    turns = MessagingTurns(
        ChannelProfile.from_tenant(tenant), agent=agent, recorder=recorder, linking=None, clock=lambda: NOW
    )
    worker = MessagingWorker(
        turns,
        agents=Agents(agents),
        bindings=bindings,
        secrets=secrets,
        ledger=InMemoryMessageLedger(),
        platforms={channel: platform},
        recorder=recorder,
        sessions=sessions,
        clock=lambda: NOW,
        settings=WorkerSettings(retry=RetryPolicy(max_attempts=4, budget_seconds=20)),
        sleep=sleep,
    )
    return World(worker, agent, platform, recorder, sessions, agents, sleeps)


def wa_text(text: str = "Do you have queen duvets?", **kwargs: object) -> InboundEvent:
    return parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, text=text, **kwargs)).events[0]  # type: ignore[arg-type]


def _session_events(w: World, kind: str) -> list[dict[str, object]]:
    return [e.detail for (tenant, _), events in w.recorder._events.items() for e in events if e.kind == kind]


# -------------------------------------------------------------------------------------------- answers
def test_a_whatsapp_message_is_answered_by_the_bound_agent_to_the_sender_with_their_number_as_identity() -> None:
    w = world()
    assert w.process(wa_text()) is Outcome.ANSWERED
    assert w.platform.sent == [(WHATSAPP_PHONE_NUMBER_ID, CUSTOMER, "Yes, we have queen duvets in grey.")]
    (request,) = w.agent.requests
    assert (request.agent_id, request.channel, request.customer.key) == (
        AGENT_ID,
        Channel.WHATSAPP,
        "phone:+16505551234",
    )
    assert request.input.text == "Do you have queen duvets?"  # type: ignore[union-attr]


def test_the_conversation_is_recorded_as_a_session_of_the_agent_not_counted_against_the_call_limit() -> None:
    w = world()
    w.process(wa_text())
    (session,) = w.sessions._sessions.values()
    assert (session.agent_id, session.channel, session.caller_number) == (AGENT_ID, "whatsapp", "+16505551234")
    assert session.counted_against_limit is False
    assert w.sessions.active_calls(TENANT.tenant_id) == 0


def test_a_replayed_message_is_answered_once() -> None:
    w = world()
    event = wa_text()
    assert [w.process(event) for _ in range(3)] == [Outcome.ANSWERED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(w.agent.requests) == len(w.platform.sent) == 1


def test_a_picture_reaches_the_agent_as_a_note_with_its_caption() -> None:
    w = world()
    event = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, kind="image", caption="This grey one?")).events[0]
    w.process(event)
    assert w.agent.requests[0].input.text == "[The customer sent a picture] This grey one?"  # type: ignore[union-attr]


def test_a_handoff_tells_the_customer_a_person_will_reply_here() -> None:
    w = world()
    w.agent.replies = [[TextChunk(text="Let me get someone."), Handoff(reason="refund", summary="s")]]
    w.process(wa_text("I want a refund"))
    assert w.platform.sent[0][2] == "Let me get someone. " + ChannelProfile.from_tenant(TENANT).wording.handoff_message


def test_a_long_instagram_reply_goes_out_in_parts_within_instagrams_limit() -> None:
    w = world(Channel.INSTAGRAM, INSTAGRAM_ACCOUNT_ID)
    w.agent.replies = [[TextChunk(text="Our duvets are lovely. " * 100)]]
    event = parse_meta(
        Channel.INSTAGRAM,
        messaging_delivery(
            messaging_message("99", account_id=INSTAGRAM_ACCOUNT_ID),
            object_="instagram",
            account_id=INSTAGRAM_ACCOUNT_ID,
        ),
    ).events[0]
    w.process(event)
    assert len(w.platform.sent) == 3
    assert all(len(text.encode()) <= 1000 for _, _, text in w.platform.sent)


def test_an_x_dm_is_answered_by_dm_to_its_sender() -> None:
    w = world(Channel.X, X_ACCOUNT_ID)
    w.process(parse_x(x_dm_delivery("4337869213", "Do you ship to Canada?")).events[0])
    assert w.platform.sent == [(X_ACCOUNT_ID, "4337869213", "Yes, we have queen duvets in grey.")]
    assert w.agent.requests[0].customer.key == "x:4337869213"  # type: ignore[union-attr]


# ----------------------------------------------------------------------------------------- lifecycle
def test_a_paused_agent_sends_the_tenants_paused_message_and_does_not_run() -> None:
    w = world()
    w.set_status(AgentStatus.PAUSED)
    assert w.process(wa_text()) is Outcome.NOTICE
    assert w.agent.requests == []
    assert w.platform.sent[0][2] == ChannelProfile.from_tenant(TENANT).wording.paused_message


@pytest.mark.parametrize(
    ("setting", "situation"),
    [("paused_message", "paused"), ("closed_message", "stopped"), ("unsupported_message", "order"),
     ("handoff_message", "handoff")],
)  # fmt: skip
def test_each_messaging_notice_is_the_one_the_tenant_file_sets(setting: str, situation: str) -> None:
    wording = f"Custom {setting} of this tenant."
    custom = TENANT.model_copy(update={"messaging": TENANT.messaging.model_copy(update={setting: wording})})
    w = world(tenant=custom)
    event = wa_text()
    if situation in ("paused", "stopped"):
        w.set_status(AgentStatus(situation))
    elif situation == "order":
        event = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, kind="order", catalog_id="1")).events[0]
    else:
        w.agent.replies = [[TextChunk(text="Let me get someone."), Handoff(reason="refund", summary="s")]]
    w.process(event)
    assert w.platform.sent[0][2].endswith(wording)


@pytest.mark.parametrize("status", [AgentStatus.STOPPED, AgentStatus.DELETED, AgentStatus.DRAFT])
def test_a_stopped_deleted_or_draft_agent_sends_the_closed_message(status: AgentStatus) -> None:
    w = world()
    w.set_status(status)
    w.process(wa_text())
    assert w.platform.sent[0][2] == ChannelProfile.from_tenant(TENANT).wording.closed_message
    (session,) = w.sessions._sessions.values()
    assert session.reason.value == f"agent_{status.value}"


def test_a_message_to_an_account_no_agent_answers_is_dropped() -> None:
    w = world()
    event = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, phone_number_id="999")).events[0]
    assert w.process(event) is Outcome.UNKNOWN_ACCOUNT
    assert w.platform.sent == []
    assert w.agent.requests == []


# ------------------------------------------------------------------------------ what is not answered
def test_a_reaction_is_recorded_with_the_conversation_and_not_answered() -> None:
    w = world(Channel.FACEBOOK, "1067280970047460")
    event = parse_meta(Channel.FACEBOOK, messaging_delivery(messaging_reaction("24488", "m_ours"))).events[0]
    assert w.process(event) is Outcome.RECORDED
    assert w.platform.sent == []
    assert _session_events(w, "reaction") == [{"emoji": "\u2764\ufe0f", "message": "m_ours", "removed": False}]


def test_a_message_type_we_cannot_read_gets_the_unsupported_notice() -> None:
    w = world()
    event = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, kind="order", catalog_id="1")).events[0]
    assert w.process(event) is Outcome.NOTICE
    assert w.platform.sent[0][2] == ChannelProfile.from_tenant(TENANT).wording.unsupported_message


def test_a_failed_whatsapp_status_of_our_reply_is_recorded_with_the_conversation() -> None:
    w = world()
    errors = [{"code": 131047, "title": "Re-engagement message"}]
    event = parse_meta(Channel.WHATSAPP, whatsapp_status(CUSTOMER, "failed", errors=errors)).events[0]
    assert w.process(event) is Outcome.RECORDED
    (detail,) = _session_events(w, "delivery")
    assert detail["status"] == "failed"
    assert detail["errors"] == ["131047: Re-engagement message"]
    w.process(parse_meta(Channel.WHATSAPP, whatsapp_status(CUSTOMER, "read")).events[0])
    assert len(_session_events(w, "delivery")) == 1  # a read is not news


# ------------------------------------------------------------------------------------------ sending
def test_a_429_is_retried_after_the_wait_the_platform_names() -> None:
    w = world()
    w.platform.failures = [PlatformError("slow down", status=429, retryable=True, retry_after=2.0)]
    assert w.process(wa_text()) is Outcome.ANSWERED
    assert w.sleeps == [2.0]
    assert len(w.platform.sent) == 1


def test_5xx_without_a_wait_is_retried_with_backoff_within_the_attempts() -> None:
    w = world()
    w.platform.failures = [PlatformError("oops", status=503, retryable=True) for _ in range(3)]
    assert w.process(wa_text()) is Outcome.ANSWERED
    assert len(w.sleeps) == 3
    assert all(0 < s <= 8 for s in w.sleeps)


def test_a_wait_longer_than_the_budget_returns_the_message_to_the_queue_and_the_retry_does_not_rerun_the_agent() -> (
    None
):
    w = world()
    w.platform.failures = [PlatformError("rate limited", status=429, retryable=True, retry_after=600.0)]
    event = wa_text()
    with pytest.raises(RetryLater) as raised:
        w.process(event)
    assert raised.value.delay_seconds == 600.0
    assert _session_events(w, "delivery")[0]["status"] == "deferred"
    assert w.process(event) is Outcome.ANSWERED
    assert len(w.agent.requests) == 1
    assert len(w.platform.sent) == 1


def test_a_refused_reply_is_recorded_with_the_conversation_and_not_retried() -> None:
    w = world()
    w.platform.failures = [PlatformError("Meta refused: outside the 24 h window (code 131047, HTTP 400)", status=400)]
    event = wa_text()
    assert w.process(event) is Outcome.FAILED
    (detail,) = _session_events(w, "delivery")
    assert detail == {
        "status": "failed",
        "error": "Meta refused: outside the 24 h window (code 131047, HTTP 400)",
        "http_status": 400,
    }
    assert w.process(event) is Outcome.DUPLICATE


def test_when_the_agent_is_unreachable_the_message_is_retried_later_and_then_answered() -> None:
    w = world()
    w.agent.replies = [Unavailable("runtime down")]
    event = wa_text()
    with pytest.raises(RetryLater):
        w.process(event)
    assert w.process(event) is Outcome.ANSWERED
    assert len(w.agent.requests) == 2
    assert len(w.platform.sent) == 1


def test_a_turn_that_completed_marks_the_reply_as_the_agents() -> None:
    w = world()
    done = TurnComplete(session_id="s", model_id="m", routing_reason="r", role="greeter", qualification_score=0)
    w.agent.replies = [[TextChunk(text="Hi!"), done]]
    assert w.process(wa_text()) is Outcome.ANSWERED


def test_messages_of_one_day_share_a_session_and_the_next_day_starts_another() -> None:
    w = world()
    w.process(wa_text(timestamp=int(datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp())))
    w.process(wa_text(timestamp=int(datetime(2026, 11, 30, 21, tzinfo=UTC).timestamp())))
    w.process(wa_text(timestamp=int(datetime(2026, 12, 1, 9, tzinfo=UTC).timestamp())))
    sessions = [r.session_id for r in w.agent.requests]
    assert sessions[0] == sessions[1] != sessions[2]
