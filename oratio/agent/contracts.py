"""The tenant agent's wire contract: what `POST /invocations` accepts and the events it streams back.

Every caller (voice bridge, Connect code hook, chat and social channels) speaks this contract through
the typed client in `agentcore/tenant_agent/client.py`. Replies stream as server-sent events, one
`ReplyEvent` per `data:` line; text arrives in sentence-sized chunks so speech can start early.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from oratio.config.tenant import Channel
from oratio.customers.identity import IdentityError, identity_key

MAX_INPUT_CHARS = 8_000
# Tool arguments are a model's JSON object; anything nested deeper is not arguments, and it would exceed the
# serializer's depth limit on the way to the agent (failing the turn, and counting against the agent's breaker).
MAX_ARGUMENT_DEPTH = 32
VOICE_CHANNELS = frozenset({Channel.VOICE})


class _Wire(BaseModel):
    # Built on first use, not at import: most importers (every Lambda, through the core package) use few of them.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CustomerIdentity(_Wire):
    """Who the customer is on this channel; `key` is their cross-channel profile key (`phone:+<E.164>` for a
    caller, an SMS sender and a WhatsApp user alike; see `oratio.customers.identity`)."""

    kind: Literal["phone", "whatsapp", "sms", "instagram", "facebook", "x", "chat", "email"]
    value: str = Field(min_length=1, max_length=256)

    @property
    def key(self) -> str:
        try:
            return identity_key(self.kind, self.value)
        except IdentityError:
            # A withheld or odd caller id ("anonymous") still names this session's customer, just not a phone.
            return f"{self.kind}:{self.value}"


class UserMessage(_Wire):
    """What the customer said (voice transcript) or wrote."""

    kind: Literal["message"] = "message"
    text: str = Field(min_length=1, max_length=MAX_INPUT_CHARS)


class ToolRequest(_Wire):
    """A tool call to run on the caller's behalf (e.g. Nova Sonic's toolUse relayed by the voice bridge)."""

    kind: Literal["tool"] = "tool"
    tool_use_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("arguments")
    @classmethod
    def _not_too_deep(cls, value: dict[str, Any]) -> dict[str, Any]:
        if nesting_depth(value) > MAX_ARGUMENT_DEPTH:
            raise ValueError(f"tool arguments may nest at most {MAX_ARGUMENT_DEPTH} levels deep")
        return value


def nesting_depth(value: Any) -> int:
    """How deep lists and objects nest in a JSON-like value (a scalar is 0), counted without recursion and
    stopping one level past `MAX_ARGUMENT_DEPTH`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth <= MAX_ARGUMENT_DEPTH:
            children = item.values() if isinstance(item, dict) else item
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in children)
    return deepest


AgentInput = Annotated[UserMessage | ToolRequest, Field(discriminator="kind")]


class InvocationRequest(_Wire):
    """The `POST /invocations` payload. The session id comes from the runtime's session header;
    `session_id` here is only a fallback for callers that cannot set it (local runs).

    `agent_id` names the agent the channel routed to: the turn runs on that agent's live definition version,
    and on nothing else. `agent_version` pins another version instead (previews, conversation replays of an
    unpublished version); a pinned turn is not held to the agent's lifecycle status."""

    tenant_id: str = Field(min_length=3, max_length=40)
    agent_id: str = Field(min_length=1, max_length=64)
    agent_version: int | None = Field(default=None, ge=1, description="pin a definition version")
    channel: Channel
    customer: CustomerIdentity | None = None
    session_id: str | None = Field(default=None, min_length=1, max_length=256)
    input: AgentInput

    @property
    def is_voice(self) -> bool:
        return self.channel in VOICE_CHANNELS


# ----------------------------------------------------------------------------------- reply events
class TextChunk(_Wire):
    """A sentence-sized piece of the reply, in order. Safe to speak or show as it arrives."""

    type: Literal["text"] = "text"
    text: str


class Acknowledgement(_Wire):
    """A short spoken filler while the agent works ("Let me check that for you.")."""

    type: Literal["ack"] = "ack"
    text: str
    reason: Literal["tools", "thinking", "slow"]


class ToolActivity(_Wire):
    """One tool's outcome in this turn (no arguments or results: those stay server-side)."""

    type: Literal["tool"] = "tool"
    name: str
    status: Literal["ok", "timeout", "error", "denied"]
    duration_ms: float


class ToolResultEvent(_Wire):
    """The answer to a `ToolRequest` input: the tool's typed result as JSON."""

    type: Literal["tool_result"] = "tool_result"
    tool_use_id: str
    status: Literal["ok", "timeout", "error", "denied"]
    content: dict[str, Any]


class Handoff(_Wire):
    """The agent asks for a human: the caller's channel should transfer with this summary."""

    type: Literal["handoff"] = "handoff"
    reason: str
    summary: str


class EndCall(_Wire):
    type: Literal["end_call"] = "end_call"
    reason: str


class TierEscalation(_Wire):
    """The lead is qualified and the budget allows a premium voice tier for the rest of the call."""

    type: Literal["escalation"] = "escalation"
    to_tier: str
    qualification_score: float
    estimated_extra_cost_usd: float


class RoleTransition(_Wire):
    type: Literal["transition"] = "transition"
    from_role: str
    to_role: str
    trigger: str


class TurnComplete(_Wire):
    """Last event of every turn: what it cost and how it was decided."""

    type: Literal["done"] = "done"
    session_id: str
    model_id: str | None
    routing_reason: str
    role: str
    qualification_score: float
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    fallback: bool = False
    definition_version: int | None = Field(default=None, description="the agent definition version that answered")


class ErrorEvent(_Wire):
    """The turn failed; `message` is safe to show/speak, never an exception text."""

    type: Literal["error"] = "error"
    code: str
    message: str


ReplyEvent = Annotated[
    TextChunk
    | Acknowledgement
    | ToolActivity
    | ToolResultEvent
    | Handoff
    | EndCall
    | TierEscalation
    | RoleTransition
    | TurnComplete
    | ErrorEvent,
    Field(discriminator="type"),
]
