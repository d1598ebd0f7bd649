"""Ports of the Connect voice path. AWS adapters live in `oratio/adapters`, in-memory ones beside them; the
agent's own ports (`ConversationRecorder`, `BudgetLedger`, `WorkflowStateStore`) and the breaker store
(`oratio.domain.circuit_breaker.BreakerStore`) are reused as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
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


class Delivery(StrEnum):
    """What leaving a turn's outcome in the mailbox came to."""

    STORED = "stored"  # waiting for the flow's pickup
    DUPLICATE = "duplicate"  # this turn's outcome was already there (a redelivery): the first one stays
    MISSED = "missed"  # the pickups gave up on this turn first: the caller was handed over without it


class TurnMailbox(Protocol):
    """Where a finished turn's outcome waits for a code hook that answered with a holding reply.

    One item per turn id, written once by whichever comes first: the worker's outcome, or the last pickup's
    give-up. So a reply is either picked up and said, or known to be missed; nothing depends on the worker's and
    the code hook's clocks agreeing.
    """

    async def put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> Delivery:
        """Store the outcome once, unless the pickups already gave up on the turn."""
        ...

    async def get(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        """The turn's outcome if it is there (None while it is awaited, and once given up)."""
        ...

    async def give_up(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        """Mark the turn as no longer awaited (the caller is handed over), unless its outcome landed first: then
        that outcome, to be said after all."""
        ...


class TranscriptSource(Protocol):
    """A call's recorded turns (the conversations table when deployed), for handoff summaries."""

    async def turns(self, tenant_id: str, session_id: str) -> list[TurnRecord]: ...


class AgentTurns(Protocol):
    """The tenant agent as the worker calls it (the typed client's `invoke`, `AgentClient` in
    `agentcore/tenant_agent/client.py`)."""

    def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]: ...
