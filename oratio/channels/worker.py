"""The messaging worker's use case: one queued event from a social channel in, the customer answered on it.

In order per conversation (the queue's message groups), once per platform message (the ledger: a redelivery
never runs the agent twice or sends a reply twice, even when the first attempt died between the two):

1. which agent the business account answers for (the binding the vendor API wrote when it was linked);
2. the conversation's session record (listed with the agent's conversations in the vendor API);
3. what the event asks for: a text or picture is answered (`MessagingTurns`: lifecycle, linking, the agent);
   a reaction is recorded; a type we cannot read gets the unsupported notice; a WhatsApp status of our
   message that failed is recorded with the conversation;
4. the reply goes out through the platform's send API, retried on 429/5xx as long as the platform asks
   (`oratio.channels.delivery`); a wait longer than this invocation may spend sends the message back to the
   queue for that long (`RetryLater`); a refusal is recorded with the conversation and not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.ports import AgentEventRecord, ConversationRecorder
from oratio.channels.delivery import DeliveryDeferred, DeliveryFailed, RetryPolicy, deliver, split_reply
from oratio.channels.idle import IdleIndex, idle_deadline
from oratio.channels.models import EventKind, InboundEvent, QueuedEvent
from oratio.channels.ports import (
    ChannelBindings,
    ChannelSecrets,
    LedgerState,
    MessageLedger,
    PlatformClient,
)
from oratio.channels.turns import MessagingTurns, customer_identity, messaging_session_id
from oratio.config.tenant import Channel
from oratio.domain.agents import Agent
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.calls import CallSession
from oratio.ports import CallSessionStore

logger = logging.getLogger(__name__)


class AgentLookup(Protocol):
    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None: ...


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    lease_seconds: float = Field(
        default=90.0, gt=0, description="how long one worker holds a message before another may take it over"
    )
    agent_retry_seconds: float = Field(default=30.0, gt=0, description="wait before retrying when the agent is down")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class Outcome(StrEnum):
    ANSWERED = "answered"
    NOTICE = "notice"  # paused / closed / unsupported: a fixed line, not the agent
    RECORDED = "recorded"  # a reaction or a delivery status: nothing to send
    DUPLICATE = "duplicate"
    UNKNOWN_ACCOUNT = "unknown_account"
    FAILED = "failed"  # the platform refused the reply (recorded with the conversation)


class RetryLater(Exception):
    """Put the message back in the queue for `delay_seconds` (its conversation waits behind it, in order)."""

    def __init__(self, delay_seconds: float, reason: str) -> None:
        super().__init__(f"retry in {delay_seconds:.0f} s: {reason}")
        self.delay_seconds = delay_seconds
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Processed:
    outcome: Outcome
    session_id: str | None = None
    parts: int = 0


class MessagingWorker:
    """Answers one tenant's queued social-channel events."""

    def __init__(
        self,
        turns: MessagingTurns,
        *,
        agents: AgentLookup,
        bindings: ChannelBindings,
        secrets: ChannelSecrets,
        ledger: MessageLedger,
        platforms: Mapping[Channel, PlatformClient],
        recorder: ConversationRecorder,
        sessions: CallSessionStore,
        clock: Callable[[], datetime],
        idle: IdleIndex | None = None,
        settings: WorkerSettings | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.turns = turns
        self.tenant_id = turns.profile.tenant_id
        self._agents = agents
        self._bindings = bindings
        self._secrets = secrets
        self._ledger = ledger
        self._platforms = dict(platforms)
        self._recorder = recorder
        self._sessions = sessions
        self._clock = clock
        self._idle = idle
        self.settings = settings or WorkerSettings()
        self._sleep = sleep

    async def process(self, queued: QueuedEvent) -> Processed:
        """Handle one event; raises `RetryLater` when it must come back later (the caller returns it to the queue)."""
        if queued.tenant_id != self.tenant_id:
            raise ValueError(f"the event belongs to tenant {queued.tenant_id!r}, not {self.tenant_id!r}")
        event = queued.event
        key = event.dedup_key
        entry = await self._ledger.begin(self.tenant_id, key, self._clock(), self.settings.lease_seconds)
        if entry.state is LedgerState.DONE:
            return Processed(Outcome.DUPLICATE)
        if entry.state is LedgerState.BUSY:
            raise RetryLater(self.settings.lease_seconds, "another worker holds this message")
        agent_id = await self._bindings.agent_for(self.tenant_id, event.channel, event.account_id)
        if agent_id is None:
            logger.warning("message to an account no agent answers", extra={"channel": event.channel.value})
            await self._ledger.done(self.tenant_id, key, self._clock())
            return Processed(Outcome.UNKNOWN_ACCOUNT)
        session_id = messaging_session_id(event.channel, event.account_id, event.sender_id, event.sent_at)
        if entry.state is LedgerState.ANSWERED:  # answered before, not (fully) sent: send the rest, run nothing again
            return await self._send(event, key, session_id, agent_id, entry.parts, entry.parts_sent, Outcome.ANSWERED)
        agent = await asyncio.to_thread(self._agents.get_agent, self.tenant_id, agent_id)

        if event.kind is EventKind.STATUS:
            await self._record_status(event, session_id)
            await self._ledger.done(self.tenant_id, key, self._clock())
            return Processed(Outcome.RECORDED, session_id)
        await self._open_session(event, session_id, agent_id, agent)
        if event.kind is EventKind.REACTION:
            detail = {"emoji": event.reaction, "message": event.reacted_to, "removed": event.reaction is None}
            await self._record(session_id, "reaction", detail)
            await self._ledger.done(self.tenant_id, key, self._clock())
            return Processed(Outcome.RECORDED, session_id)
        if event.kind is EventKind.UNSUPPORTED:
            notice = self.turns.profile.wording.unsupported_message
            await self.turns.record_own_turn(session_id, agent_id, event.channel, None, notice, "unsupported message")
            return await self._answer(event, key, session_id, agent_id, notice, Outcome.NOTICE)

        customer = customer_identity(event.channel, event.sender_id, event.sender_phone)
        try:
            reply = await self.turns.reply(
                agent=agent,
                channel=event.channel,
                customer=customer,
                session_id=session_id,
                text=_agent_text(event),
                agent_id=agent_id,
            )
        except Exception as e:
            if not getattr(e, "retryable", False):
                raise
            await self._ledger.release(self.tenant_id, key)
            await self._record(session_id, "delivery", {"status": "agent_unavailable", "error": type(e).__name__})
            raise RetryLater(self.settings.agent_retry_seconds, f"agent unavailable ({type(e).__name__})") from e
        outcome = Outcome.ANSWERED if reply.answered_by_agent else Outcome.NOTICE
        return await self._answer(event, key, session_id, agent_id, reply.text, outcome)

    # ------------------------------------------------------------------------------------- sending
    async def _answer(
        self, event: InboundEvent, key: str, session_id: str, agent_id: str, text: str, outcome: Outcome
    ) -> Processed:
        parts = tuple(split_reply(text, event.channel))
        await self._ledger.answered(self.tenant_id, key, parts, self._clock())
        await self._mark_active(session_id)
        return await self._send(event, key, session_id, agent_id, parts, 0, outcome)

    async def _send(
        self,
        event: InboundEvent,
        key: str,
        session_id: str,
        agent_id: str,
        parts: tuple[str, ...],
        already_sent: int,
        outcome: Outcome,
    ) -> Processed:
        secret = await self._secrets.get(self.tenant_id, event.channel)
        account = secret.accounts.get(event.account_id) if secret else None
        if secret is None or account is None:  # linked since the cache was filled, or unlinked: read it again
            secret = await self._secrets.get(self.tenant_id, event.channel, fresh=True)
            account = secret.accounts.get(event.account_id) if secret else None
        if secret is None or account is None:
            await self._fail(key, session_id, "no credentials are linked for this account", None)
            return Processed(Outcome.FAILED, session_id)

        async def progress(sent: int) -> None:
            await self._ledger.sent(self.tenant_id, key, sent, self._clock())

        try:
            sent = await deliver(
                self._platforms[event.channel],
                secret,
                event.account_id,
                account,
                event.sender_id,
                parts,
                already_sent=already_sent,
                policy=self.settings.retry,
                sleep=self._sleep,
                on_sent=progress,
            )
        except DeliveryDeferred as e:
            detail = {"status": "deferred", "delay_seconds": round(e.delay_seconds, 1), "error": str(e.cause)}
            await self._record(session_id, "delivery", detail)
            raise RetryLater(e.delay_seconds, "the platform asked to wait") from e
        except DeliveryFailed as e:
            await self._fail(key, session_id, str(e.cause), e.cause.status)
            return Processed(Outcome.FAILED, session_id, e.parts_sent)
        await self._ledger.done(self.tenant_id, key, self._clock())
        return Processed(outcome, session_id, sent)

    async def _fail(self, key: str, session_id: str, error: str, status: int | None) -> None:
        await self._record(session_id, "delivery", {"status": "failed", "error": error, "http_status": status})
        await self._ledger.done(self.tenant_id, key, self._clock())

    # ------------------------------------------------------------------------------------- records
    async def _open_session(self, event: InboundEvent, session_id: str, agent_id: str, agent: Agent | None) -> None:
        gate_reason = RouteReason.ACCEPTED if agent is not None else RouteReason.UNKNOWN_NUMBER
        route = Route.AGENT
        if agent is not None and agent.status.value != "active":
            route = Route.PAUSED if agent.status.value == "paused" else Route.UNAVAILABLE
            gate_reason = RouteReason(f"agent_{agent.status.value}")
        session = CallSession(
            tenant_id=self.tenant_id,
            contact_id=session_id,
            agent_id=agent_id,
            channel=event.channel.value,
            dialed_number=event.account_id,
            caller_number=event.sender_phone,
            route=route,
            reason=gate_reason,
            voice_tier="",
            started_at=event.sent_at,
            counted_against_limit=False,  # a message holds no line: only calls count against the limit
        )
        try:
            await asyncio.to_thread(self._sessions.open, session, 1)
        except Exception:
            logger.exception("opening the conversation record failed", extra={"session_id": session_id})

    async def _mark_active(self, session_id: str) -> None:
        """The conversation is open until the tenant's idle timeout after this answer (then it is analysed)."""
        if self._idle is None:
            return
        deadline = idle_deadline(self._clock(), self.turns.profile.idle_minutes)
        try:
            await self._idle.mark_active(self.tenant_id, session_id, deadline)
        except Exception:  # the customer still gets their answer; only this conversation's analysis is at stake
            logger.exception("marking the conversation active failed", extra={"session_id": session_id})

    async def _record_status(self, event: InboundEvent, session_id: str) -> None:
        if event.status != "failed":
            return  # sent, delivered, read: the platform's business, nothing to record
        detail = {"status": "failed", "message": event.message_id, "errors": list(event.status_errors)}
        await self._record(session_id, "delivery", detail)

    async def _record(self, session_id: str, kind: Any, detail: dict[str, Any]) -> None:
        try:
            await self._recorder.record_event(
                AgentEventRecord(
                    tenant_id=self.tenant_id, session_id=session_id, kind=kind, at=self._clock(), detail=detail
                )
            )
        except Exception:
            logger.exception("recording a channel event failed", extra={"kind": kind, "session_id": session_id})


_ATTACHMENT_NOUNS = {
    "image": "a picture",
    "photo": "a picture",
    "video": "a video",
    "audio": "a voice message",
    "sticker": "a sticker",
    "location": "a location",
    "animated_gif": "a GIF",
}


def _agent_text(event: InboundEvent) -> str:
    """What the agent reads: the text, and a note of what was attached (the media itself is not fetched)."""
    notes = [f"[The customer sent {_ATTACHMENT_NOUNS.get(a.type, 'a file')}]" for a in event.attachments]
    return " ".join([*notes, event.text or ""]).strip()
