"""What a tool is, what it gets, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ToolStatus = Literal["ok", "timeout", "error", "denied"]


@dataclass(frozen=True)
class ToolSpec:
    """How the model sees a tool (name, description, JSON schema) and how Oratio runs it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    writes: bool = False  # changes something outside Oratio: inputs are screened for injection
    timeout_seconds: float | None = None  # None: the executor's default


@dataclass(frozen=True)
class ToolContext:
    tenant_id: str
    agent_id: str
    session_id: str
    channel: str
    customer_key: str | None
    user_text: str | None = None
    conversation_summary: str = ""


@dataclass(frozen=True)
class ToolResult:
    """Typed outcome of one tool call: never an exception, never a hang."""

    tool_use_id: str
    name: str
    status: ToolStatus
    content: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_ms: float = 0.0

    def for_model(self) -> dict[str, Any]:
        """The Converse `toolResult` block for this result."""
        body = self.content if self.status == "ok" else {"error": self.error or self.status, "status": self.status}
        return {
            "toolResult": {
                "toolUseId": self.tool_use_id,
                "content": [{"json": body}],
                "status": "success" if self.status == "ok" else "error",
            }
        }


class Tool(Protocol):
    spec: ToolSpec

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        """Do the work; raise on failure (the executor turns it into a typed error result)."""
        ...


@dataclass(frozen=True)
class ToolCall:
    tool_use_id: str
    name: str
    arguments: dict[str, Any]
