"""One agent turn for a Connect call: the job the worker runs (`TurnJob`) and what it came to (`TurnOutcome`).

The outcome is built from the agent's own reply events (`oratio.agent.contracts`): the spoken text, the
`Handoff`, `EndCall` and `TierEscalation` signals, role transitions and the final `TurnComplete` with model,
tokens and cost. It is what the worker returns to a code hook still waiting, and what it leaves in the turn
mailbox for a code hook that had to answer with a holding reply first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.agent.contracts import (
    EndCall,
    ErrorEvent,
    Handoff,
    InvocationRequest,
    ReplyEvent,
    RoleTransition,
    TextChunk,
    TierEscalation,
    ToolActivity,
    TurnComplete,
)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class TurnJob(_Wire):
    """One caller utterance to answer through the tenant agent; `turn_id` keys its outcome in the mailbox."""

    turn_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    contact_id: str = Field(min_length=1, max_length=256)
    request: InvocationRequest
    submitted_at: AwareDatetime


class TurnOutcome(_Wire):
    """What one agent turn came to. `status` failed: the agent could not be reached or the turn broke."""

    turn_id: str
    status: Literal["ok", "failed"]
    reply_text: str = ""
    handoff: Handoff | None = None
    end_call: EndCall | None = None
    escalation: TierEscalation | None = None
    transitions: tuple[RoleTransition, ...] = ()
    done: TurnComplete | None = None
    tool_statuses: tuple[str, ...] = Field(default=(), description="each tool's outcome: ok, timeout, error, denied")
    error: str | None = Field(default=None, description="error kind (never an exception text)")
    finished_at: AwareDatetime
    duration_ms: float = 0.0

    @property
    def cost_usd(self) -> float:
        return self.done.cost_usd if self.done else 0.0


async def collect_outcome(
    turn_id: str, events: AsyncIterator[ReplyEvent], *, clock: Callable[[], datetime]
) -> TurnOutcome:
    """Read a turn's event stream to the end into an outcome (a stream that ends in an error with nothing
    said is a failed turn whose error message, written to be spoken, becomes the reply)."""
    texts: list[str] = []
    handoff: Handoff | None = None
    end_call: EndCall | None = None
    escalation: TierEscalation | None = None
    transitions: list[RoleTransition] = []
    done: TurnComplete | None = None
    error: ErrorEvent | None = None
    tools: list[str] = []
    async for event in events:
        match event:
            case TextChunk() if event.text.strip():
                texts.append(event.text.strip())
            case Handoff() if handoff is None:
                handoff = event
            case EndCall() if end_call is None:
                end_call = event
            case TierEscalation():
                escalation = event
            case RoleTransition():
                transitions.append(event)
            case TurnComplete():
                done = event
            case ErrorEvent() if error is None:
                error = event
            case ToolActivity():
                tools.append(event.status)
            case _:
                pass  # acknowledgements: nothing to carry
    failed = not texts and error is not None
    return TurnOutcome(
        turn_id=turn_id,
        status="failed" if failed else "ok",
        reply_text=" ".join(texts) if texts else (error.message if error else ""),
        handoff=handoff,
        end_call=end_call,
        escalation=escalation,
        transitions=tuple(transitions),
        done=done,
        tool_statuses=tuple(tools),
        error=error.code if failed and error else None,
        finished_at=clock(),
    )


def failed_outcome(turn_id: str, error: str, *, finished_at: datetime, duration_ms: float = 0.0) -> TurnOutcome:
    """The outcome of a turn whose agent could not be reached (or broke off mid-stream)."""
    return TurnOutcome(
        turn_id=turn_id, status="failed", error=error, finished_at=finished_at, duration_ms=round(duration_ms, 1)
    )
