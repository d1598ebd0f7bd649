"""Ports of the Connect voice path. AWS adapters live in `oratio/adapters`, in-memory ones beside them; the
agent's own ports (`ConversationRecorder`, `BudgetLedger`, `WorkflowStateStore`) and the breaker store
(`oratio.domain.circuit_breaker.BreakerStore`) are reused as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from oratio.agent.contracts import InvocationRequest, ReplyEvent
from oratio.agent.ports import TurnRecord
from oratio.connect_voice.outcome import TurnJob, TurnOutcome


class TurnWorkerError(Exception):
    """The worker could not be asked to run the turn (invoke refused, throttled, the worker crashed)."""


class TurnWorker(Protocol):
    """Runs one agent turn to completion, even when the code hook stops waiting for it."""

    async def run(self, job: TurnJob, wait_seconds: float) -> TurnOutcome | None:
        """The outcome if the turn finished within `wait_seconds`, else None while it keeps running (its
        outcome then lands in the `TurnMailbox`). Raises `TurnWorkerError` if the turn could not be started."""
        ...


class TurnMailbox(Protocol):
    """Where a finished turn's outcome waits for a code hook that answered with a holding reply."""

    async def put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> None:
        """Store the outcome once (a redelivered outcome of the same turn is a no-op)."""
        ...

    async def get(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None: ...


class TranscriptSource(Protocol):
    """A call's recorded turns (the conversations table when deployed), for handoff summaries."""

    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]: ...


class AgentTurns(Protocol):
    """The tenant agent as the worker calls it (the typed client's `invoke`, `AgentClient` in
    `agentcore/tenant_agent/client.py`)."""

    def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]: ...
