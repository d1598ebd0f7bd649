"""Whether an agent answers a messaging turn, and what the customer reads when it does not — in one place, for
every text channel (social webhooks, ElizaOS interop), so the agent lifecycle means the same on each.

Voice decides this in the call router (`oratio.domain.call_routing.decide_route`); a message is not a call, so
business hours do not close the AI (it answers 24/7, as a store's chat would) and there is no line to fill.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from oratio.config.tenant import TenantConfig
from oratio.domain.agents import Agent, AgentStatus


class MessagingWording(BaseModel):
    """What a customer reads on a text channel when the agent is not answering (defaults from the business name)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    paused_message: str
    closed_message: str
    unsupported_message: str
    handoff_message: str

    @classmethod
    def from_tenant(cls, tenant: TenantConfig) -> MessagingWording:
        settings = tenant.messaging
        name = tenant.business.name
        return cls(
            paused_message=settings.paused_message
            or f"Thanks for your message to {name}! Our assistant is taking a short break; we'll reply soon.",
            closed_message=settings.closed_message
            or f"Thanks for your message to {name}. We can't answer messages here at the moment.",
            unsupported_message=settings.unsupported_message
            or "Sorry, I can only read text messages and pictures here. Could you write it out for me?",
            handoff_message=settings.handoff_message
            or "I've passed this to our team; someone will reply to you here as soon as they can.",
        )


@dataclass(frozen=True, slots=True)
class MessagingGate:
    """`answer` when the agent takes the turn; otherwise `notice` is what the customer reads instead."""

    answer: bool
    reason: str
    notice: str = ""


def messaging_gate(agent: Agent | None, tenant_id: str, wording: MessagingWording) -> MessagingGate:
    """The lifecycle check of a messaging turn: active agents answer, paused ones send the paused notice, any
    other status (stopped, deleted, draft, provisioning, unknown or another tenant's) the closed notice."""
    if agent is None or agent.vendor_id != tenant_id:
        return MessagingGate(False, "unknown_agent", wording.closed_message)
    if agent.status is AgentStatus.ACTIVE:
        return MessagingGate(True, "accepted")
    if agent.status is AgentStatus.PAUSED:
        return MessagingGate(False, "agent_paused", wording.paused_message)
    return MessagingGate(False, f"agent_{agent.status.value}", wording.closed_message)
