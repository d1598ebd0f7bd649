"""Ports the tenant agent depends on. AWS adapters live in `oratio/adapters`, local stand-ins in
`oratio_local`; the agent core never imports boto3.

`ModelPort` speaks Bedrock Converse's own shapes on purpose: the request is the keyword arguments of
`bedrock-runtime.converse_stream` (modelId, messages, system, toolConfig, inferenceConfig,
additionalModelRequestFields) and the stream yields ConverseStream events as Bedrock sends them
(messageStart, contentBlockStart, contentBlockDelta, contentBlockStop, messageStop, metadata). So the
Bedrock adapter stays thin, its requests can be checked against the botocore model, and tests can
replay recorded Converse responses through a scripted model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.contracts import InvocationRequest, ReplyEvent
from oratio.agent.tools.base import ToolCall, ToolContext, ToolResult
from oratio.domain.knowledge_scope import SearchScope


class _Record(BaseModel):
    # Built on first use, not at import (see oratio/agent/contracts.py).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# ---------------------------------------------------------------------------------------- model
class ModelError(Exception):
    """A model call failed. Subclasses say whether retrying (or another model) may help."""

    retryable = False


class ModelThrottledError(ModelError):
    retryable = True


class ModelTimeoutError(ModelError):
    retryable = True


class ModelUnavailableError(ModelError):
    """The model or its endpoint is down (5xx, service unavailable, model not ready)."""

    retryable = True


class ModelRequestError(ModelError):
    """The request itself is wrong (validation, access denied): retrying the same request won't help."""


class ModelPort(Protocol):
    def converse_stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Stream ConverseStream events for a converse_stream request; raise `ModelError` subclasses."""
        ...


# ------------------------------------------------------------------------------------ knowledge
class Passage(_Record):
    text: str
    source: str = Field(description="document the passage came from (S3 URI or file name)")
    score: float | None = None
    agent_id: str | None = Field(default=None, description="the agent whose document it is; None: tenant-wide")


class Embedder(Protocol):
    async def embed(self, text: str) -> list[float]: ...


class VectorIndex(Protocol):
    async def query(self, vector: list[float], top_k: int, scope: SearchScope | None = None) -> list[Passage]: ...


class KnowledgeRetriever(Protocol):
    """Retrieval by text: embeddings + vector index, a Bedrock knowledge base, or a local stand-in. With a
    `scope`, only that agent's documents (and the tenant-wide ones if the scope says so) are searched."""

    async def retrieve(self, query: str, top_k: int, scope: SearchScope | None = None) -> list[Passage]: ...


# --------------------------------------------------------------------------------------- memory
class ConversationTurn(_Record):
    role: Literal["user", "assistant"]
    text: str
    at: datetime
    channel: str


class SessionMemory(Protocol):
    """Short-term memory of one session (AgentCore Memory when deployed)."""

    async def recent_turns(self, session_id: str, actor_id: str, limit: int) -> list[ConversationTurn]: ...

    async def append(self, session_id: str, actor_id: str, turns: list[ConversationTurn]) -> None: ...


class ConversationSummary(_Record):
    channel: str
    session_id: str
    at: datetime
    summary: str


class CustomerContext(_Record):
    """What the tenant knows about a customer across channels."""

    tenant_id: str
    customer_key: str = Field(description='"<kind>:<value>", e.g. "phone:+15551234567"')
    display_name: str | None = None
    linked_identities: tuple[str, ...] = ()
    recent_conversations: tuple[ConversationSummary, ...] = ()
    lead: dict[str, Any] = Field(default_factory=dict)
    qualification_score: float = 0.0
    updated_at: datetime | None = None


class CustomerContextStore(Protocol):
    async def get(self, tenant_id: str, customer_key: str) -> CustomerContext | None: ...

    async def save(self, context: CustomerContext) -> None: ...


# ---------------------------------------------------------------------------------- persistence
class TurnRecord(_Record):
    """One turn as persisted (the transcript line plus how it was produced)."""

    tenant_id: str
    session_id: str
    agent_id: str
    channel: str
    sequence: int
    user_text: str | None
    reply_text: str
    model_id: str | None
    routing_reason: str
    role: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    tools: tuple[str, ...] = ()
    outcome: Literal["ok", "fallback", "failed"] = "ok"
    error: str | None = None
    definition_version: int | None = Field(default=None, description="the agent definition version that answered")
    at: datetime
    raw_text_sealed: str | None = Field(
        default=None, description="the unredacted lines, encrypted with the tenant's key (only if it opted in)"
    )


class AgentEventRecord(_Record):
    """A transition, escalation, routing decision or breaker change, persisted with the session."""

    tenant_id: str
    session_id: str
    # "lifecycle": the agent was paused, stopped or deleted during the conversation; "guardrail": a refused or
    # escalated topic. tool_call … usage are the voice bridge's (tool calls it relayed, barge-ins, Sonic session
    # renewals, degradations, and speech usage per session); delivery and reaction the messaging channels' (a reply
    # the platform deferred or refused, a customer's reaction to one of our messages).
    kind: Literal[
        "transition",
        "escalation",
        "routing",
        "breaker",
        "handoff",
        "end_call",
        "lifecycle",
        "guardrail",
        "tool_call",
        "interruption",
        "renewal",
        "fallback",
        "usage",
        "missed_reply",  # a Connect voice turn that finished after its caller was handed over (never heard)
        "delivery",
        "reaction",
    ]
    at: datetime
    detail: dict[str, Any]


class ConversationRecorder(Protocol):
    async def next_sequence(self, tenant_id: str, session_id: str) -> int: ...

    async def record_turn(self, turn: TurnRecord) -> None: ...

    async def record_event(self, event: AgentEventRecord) -> None: ...


class BudgetLedger(Protocol):
    """Spend per tenant: the month's total (what budgets read), by category/item, per agent and per day, and
    each conversation's own cost breakdown (the usage and conversations tables when deployed)."""

    async def month_to_date_usd(self, tenant_id: str, at: datetime) -> float: ...

    async def agent_month_to_date_usd(self, tenant_id: str, agent_id: str, at: datetime) -> float:
        """What one agent spent this month (what its own budget share is checked against)."""
        ...

    async def add(
        self,
        tenant_id: str,
        at: datetime,
        category: str,
        item: str,
        usd: float,
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        charge_id: str | None = None,
    ) -> None:
        """Add spend to the month and the day (and the agent's rows when `agent_id` is given), and to the
        conversation's breakdown when `session_id` is given: all of it or none. A `charge_id` already added is
        not added again (a retried charge counts once)."""
        ...


# ------------------------------------------------------------------------------------- workflow
class WorkflowState(_Record):
    """Where a session is in the tenant's workflow (greeter → qualifier → sales/support → closer)."""

    role: str
    qualification_score: float = Field(default=0.0, ge=0, le=1)
    turns: int = 0
    voice_tier: str | None = None  # set once escalated; escalation happens at most once per session
    lead: dict[str, Any] = Field(default_factory=dict)


class WorkflowUpdate(_Record):
    state: WorkflowState
    transition: tuple[str, str, str] | None = None  # (from_role, to_role, trigger)
    escalate_to_tier: str | None = None
    escalation_cost_usd: float = 0.0
    escalation_blocked_by_budget: bool = False


class Workflow(Protocol):
    def initial_state(self) -> WorkflowState: ...

    def instructions(self, role: str) -> str:
        """What the agent should do in this role (goes into the system prompt)."""
        ...

    def advance(
        self,
        state: WorkflowState,
        *,
        user_text: str | None,
        reply_text: str,
        tools_used: tuple[str, ...],
        channel: str,
        budget_remaining_usd: float,
    ) -> WorkflowUpdate:
        """Score the lead, move between roles and decide a voice-tier escalation, after a turn."""
        ...


class WorkflowStateStore(Protocol):
    async def get(self, tenant_id: str, session_id: str) -> WorkflowState | None: ...

    async def save(self, tenant_id: str, session_id: str, state: WorkflowState) -> None: ...


# ---------------------------------------------------------------------------------------- tools
class ToolRunner(Protocol):
    """The enabled tools of one agent: what the model may see, and running calls in parallel."""

    def model_tool_specs(self) -> list[dict[str, Any]]:
        """Converse `toolConfig.tools` entries ({"toolSpec": {...}}) of the enabled tools."""
        ...

    async def run_all(self, calls: list[ToolCall], context: ToolContext) -> list[ToolResult]:
        """Run calls concurrently; one typed result per call, in call order; never raises, never hangs."""
        ...


# ------------------------------------------------------------------------------------ the agent
class TurnEngine(Protocol):
    """What the runtime app calls: one turn in, a stream of reply events out."""

    def handle(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]: ...
