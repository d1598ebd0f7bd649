"""What one turn accumulates while it runs (`Turn`), so a fallback can still persist what happened, and what one
model call came to (`ModelRound`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from oratio.agent.contracts import EndCall, Handoff, InvocationRequest
from oratio.agent.ports import AgentEventRecord, ConversationTurn, CustomerContext, WorkflowState
from oratio.agent.tools.base import ToolCall, ToolResult
from oratio.config.catalog import ModelEntry

Outcome = Literal["ok", "fallback", "failed"]
EventKind = Literal["transition", "escalation", "routing", "breaker", "handoff", "end_call", "lifecycle", "guardrail"]


@dataclass
class Turn:
    """Everything one turn accumulates."""

    request: InvocationRequest
    session_id: str
    at: datetime
    started: float
    user_text: str
    definition_version: int | None = None
    sequence: int | None = None
    history: list[ConversationTurn] = field(default_factory=list)
    customer: CustomerContext | None = None
    state: WorkflowState | None = None
    month_to_date_usd: float = 0.0
    agent_month_to_date_usd: float = 0.0
    texts: list[str] = field(default_factory=list)
    model_id: str | None = None
    routing_reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_by_model: dict[str, float] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    finale: list[Handoff | EndCall] = field(default_factory=list)
    events: list[AgentEventRecord] = field(default_factory=list)
    outcome: Outcome = "ok"
    error: str | None = None
    answered_without_model: bool = False  # a lifecycle or guardrail reply: the workflow does not advance

    @property
    def fell_back(self) -> bool:
        return self.outcome != "ok"

    @property
    def cost_usd(self) -> float:
        return sum(self.cost_by_model.values())

    @property
    def reply_text(self) -> str:
        return " ".join(self.texts)

    def add_usage(self, model: ModelEntry, usage: dict[str, Any]) -> None:
        read = int(usage.get("cacheReadInputTokens", 0))
        write = int(usage.get("cacheWriteInputTokens", 0))
        tokens_in, tokens_out = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
        self.input_tokens += tokens_in
        self.output_tokens += tokens_out
        self.cache_read_tokens += read
        self.cache_write_tokens += write
        cost = model.usage_cost_usd(tokens_in, tokens_out, read, write)
        self.cost_by_model[model.id] = self.cost_by_model.get(model.id, 0.0) + cost


@dataclass
class ModelRound:
    """One model call's outcome: what to append to the conversation and whether tools were asked for."""

    stop_reason: str | None = None
    content: list[dict[str, Any]] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    malformed: list[ToolResult] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    spoke: bool = False


def shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters (with an ellipsis when cut)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rsplit(" ", 1)[0] + "…"


def conversation_summary(turn: Turn, limit: int) -> str:
    """A short plain summary for a human taking over (and for the customer's context): what the customer asked,
    newest last, then the agent's last reply; whole words, oldest asks dropped first."""
    asks = [t.text for t in turn.history if t.role == "user"]
    if turn.user_text:
        asks.append(turn.user_text)
    reply = f" Agent last said: {shorten(turn.reply_text, limit // 3)}" if turn.reply_text else ""
    asks = [shorten(a, limit // 3) for a in asks]
    while asks:
        text = "Customer asked: " + " / ".join(asks) + "." + reply
        if len(text) <= limit or len(asks) == 1:
            return text[:limit]
        asks.pop(0)
    return reply.strip()[:limit]
