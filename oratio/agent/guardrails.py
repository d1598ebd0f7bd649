"""Replies a turn gives without a model: the agent's lifecycle (paused, stopped or deleted while a conversation
is under way) and its guardrails (a topic it refuses, a topic that goes straight to a person).

Decided before routing, from the definition alone, so they hold whatever a model would have said:
- paused: the paused line, then a handoff (voice: the human queue; messaging: a person takes the conversation);
- stopped, deleted, or not an agent that takes conversations: the closing line, then the end of the conversation;
- a refused topic: the refusal line, the conversation goes on;
- an escalated topic: the handover line, then a handoff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from oratio.agent.contracts import EndCall, Handoff
from oratio.agent_definitions.model import AgentDefinition
from oratio.agent_definitions.versions import LiveAgent
from oratio.domain.agents import AgentStatus

NOT_FOUND = "not_found"


@dataclass(frozen=True)
class ModelFreeReply:
    """What the caller hears, how the conversation goes on, and what is recorded with it."""

    text: str
    finale: Handoff | EndCall | None
    kind: Literal["lifecycle", "guardrail"]
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


def lifecycle_reply(live: LiveAgent, definition: AgentDefinition, summary: str) -> ModelFreeReply | None:
    """The reply of an agent that does not take conversations now (None when it does)."""
    if live.takes_conversations:
        return None
    status = live.status.value if live.status is not None else NOT_FOUND
    finale: Handoff | EndCall
    if live.status is AgentStatus.PAUSED:
        reason = "agent paused"
        text, finale = definition.lines.paused_line, Handoff(reason=reason, summary=summary)
        action = "handoff"
    else:
        reason = f"agent {status.replace('_', ' ')}"
        text, finale = definition.lines.closing_line, EndCall(reason=reason)
        action = "end"
    detail = {"status": status, "action": action, "version": live.version}
    return ModelFreeReply(text=text, finale=finale, kind="lifecycle", reason=reason, detail=detail)


@cache
def _topic_pattern(topic: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in topic.lower().split()]
    return re.compile(r"(?<![a-z0-9])" + r"\s+".join(words) + r"(?:s|es)?(?![a-z0-9])")


def mentioned(text: str, topics: tuple[str, ...]) -> str | None:
    """The first topic `text` mentions (words on word boundaries, case-insensitive, plural allowed)."""
    lowered = text.lower()
    return next((t for t in topics if _topic_pattern(t).search(lowered)), None)


def guardrail_reply(user_text: str, definition: AgentDefinition, summary: str) -> ModelFreeReply | None:
    """The reply to a turn that raises a topic the agent's guardrails name (None otherwise)."""
    guard = definition.guardrails
    escalated = mentioned(user_text, guard.escalate_topics)
    if escalated is not None:
        reason = f"guardrail: {escalated}"
        return ModelFreeReply(
            text=definition.lines.handover_line,
            finale=Handoff(reason=reason, summary=summary),
            kind="guardrail",
            reason=reason,
            detail={"topic": escalated, "action": "handoff"},
        )
    refused = mentioned(user_text, guard.refuse_topics)
    if refused is not None:
        return ModelFreeReply(
            text=guard.refusal_line,
            finale=None,
            kind="guardrail",
            reason=f"guardrail: {refused}",
            detail={"topic": refused, "action": "refused"},
        )
    return None
