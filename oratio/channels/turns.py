"""One customer message on a text channel to one agent's reply — the part every text path shares (the social
webhooks' worker, ElizaOS interop): the agent's lifecycle (`messaging_gate`), identity linking (a number or
address the customer gives, proved with a code), and the agent turn itself with the channel's text style.

The agent named in the request answers (its definition drives the turn); the customer's identity goes with it,
so the agent sees this customer's recent conversations from every channel.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.contracts import (
    MAX_INPUT_CHARS,
    CustomerIdentity,
    ErrorEvent,
    Handoff,
    InvocationRequest,
    TextChunk,
    TurnComplete,
    UserMessage,
)
from oratio.agent.ports import ConversationRecorder, TurnRecord
from oratio.channels.lifecycle import MessagingGate, MessagingWording, messaging_gate
from oratio.channels.ports import AgentInvoker
from oratio.config.tenant import TENANT_ID_PATTERN, Channel, TenantConfig
from oratio.customers.linking import NOTHING, IdentityLinking, LinkOutcome, LinkStep
from oratio.domain.agents import Agent

logger = logging.getLogger(__name__)

CHANNEL_PATH_ROLE = ""  # turns this path answers itself have no workflow role


class ChannelProfile(BaseModel):
    """The slice of a tenant the text channels need, frozen at deploy time (carried in one environment variable)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    business_name: str = Field(min_length=1)
    region: str = Field(pattern=r"^[A-Z]{2}$", description="country numbers without a + are read in")
    wording: MessagingWording
    idle_minutes: int = Field(ge=1, description="the tenant's operations.messaging_idle_minutes")

    @classmethod
    def from_tenant(cls, tenant: TenantConfig) -> ChannelProfile:
        return cls(
            tenant_id=tenant.tenant_id,
            business_name=tenant.business.name,
            region=tenant.connect.phone_number.country,
            wording=MessagingWording.from_tenant(tenant),
            idle_minutes=tenant.operations.messaging_idle_minutes,
        )


def messaging_session_id(channel: Channel, account_id: str, sender_id: str, at: datetime) -> str:
    """The session of a text conversation: one thread (business account + customer) per UTC day, so a day's
    messages share the agent's short-term memory and appear as one conversation. Derived from the message's own
    time, so a redelivery lands in the same session."""
    thread = hashlib.sha256(f"{channel.value}|{account_id}|{sender_id}".encode()).hexdigest()[:24]
    return f"{channel.value}-{thread}-{at:%Y%m%d}"


def customer_identity(channel: Channel, sender_id: str, phone: str | None = None) -> CustomerIdentity:
    """Who the customer is: a WhatsApp user by their number (the same key as their calls and texts), others by
    their platform id (linked to a profile only once confirmed)."""
    if channel is Channel.WHATSAPP:
        return CustomerIdentity(kind="whatsapp", value=phone or sender_id)
    kind = {Channel.INSTAGRAM: "instagram", Channel.FACEBOOK: "facebook", Channel.X: "x"}.get(channel, "chat")
    return CustomerIdentity(kind=kind, value=sender_id)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class TurnReply:
    """What the customer is sent back for one message, and how it came about."""

    text: str
    gate: MessagingGate
    linking: LinkOutcome = NOTHING
    handoff: Handoff | None = None
    answered_by_agent: bool = False
    context_updated: bool = False


class MessagingTurns:
    """The shared text-channel turn of one tenant."""

    def __init__(
        self,
        profile: ChannelProfile,
        *,
        agent: AgentInvoker,
        recorder: ConversationRecorder,
        linking: IdentityLinking | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.profile = profile
        self._agent = agent
        self._recorder = recorder
        self._linking = linking
        self._clock = clock

    async def reply(
        self,
        *,
        agent: Agent | None,
        channel: Channel,
        customer: CustomerIdentity,
        session_id: str,
        text: str,
        agent_id: str,
    ) -> TurnReply:
        """Answer `text` from the customer: the lifecycle notice, a linking step, or the agent's reply."""
        gate = messaging_gate(agent, self.profile.tenant_id, self.profile.wording)
        if not gate.answer:
            await self.record_own_turn(session_id, agent_id, channel, text, gate.notice, gate.reason)
            return TurnReply(gate.notice, gate)
        link = await self._link(customer, text)
        if link.consumed:
            await self.record_own_turn(session_id, agent_id, channel, text, link.reply, f"identity {link.step.value}")
            return TurnReply(link.reply, gate, link, context_updated=link.step is LinkStep.LINKED)
        request = InvocationRequest(
            tenant_id=self.profile.tenant_id,
            agent_id=agent_id,
            channel=channel,
            customer=customer,
            session_id=session_id,
            input=UserMessage(text=text[:MAX_INPUT_CHARS]),
        )
        texts: list[str] = []
        handoff: Handoff | None = None
        error: ErrorEvent | None = None
        completed = False
        async for event in self._agent.invoke(request, session_id):
            if isinstance(event, TextChunk) and event.text.strip():
                texts.append(event.text.strip())
            elif isinstance(event, Handoff):
                handoff = event
            elif isinstance(event, ErrorEvent) and error is None:
                error = event
            elif isinstance(event, TurnComplete):
                completed = not event.fallback
        reply = " ".join(texts) or (error.message if error else "")
        if handoff is not None:
            reply = f"{reply} {self.profile.wording.handoff_message}".strip()
        if link.reply:
            reply = f"{reply}\n\n{link.reply}".strip()
        return TurnReply(reply, gate, link, handoff, answered_by_agent=True, context_updated=completed)

    async def _link(self, customer: CustomerIdentity, text: str) -> LinkOutcome:
        if self._linking is None:
            return NOTHING
        try:
            return await self._linking.handle(
                self.profile.tenant_id,
                customer.key,
                text,
                region=self.profile.region,
                business=self.profile.business_name,
            )
        except Exception:  # linking is a courtesy: it must never cost the customer their answer
            logger.exception("identity linking failed")
            return NOTHING

    async def record_own_turn(
        self, session_id: str, agent_id: str, channel: Channel, user_text: str | None, reply: str, reason: str
    ) -> None:
        """A turn this path answered without the agent (a notice, a linking step), so the transcript is whole."""
        try:
            sequence = await self._recorder.next_sequence(self.profile.tenant_id, session_id)
            await self._recorder.record_turn(
                TurnRecord(
                    tenant_id=self.profile.tenant_id,
                    session_id=session_id,
                    agent_id=agent_id,
                    channel=channel.value,
                    sequence=sequence,
                    user_text=user_text or None,
                    reply_text=reply,
                    model_id=None,
                    routing_reason=reason,
                    role=CHANNEL_PATH_ROLE,
                    at=self._clock(),
                )
            )
        except Exception:
            logger.exception("recording a channel turn failed", extra={"session_id": session_id})
