"""Saving what a turn produced: memory, spend (the tenant's and the agent's), events, the turn record, workflow
state and the customer's cross-channel context. Every write runs concurrently and each one failing alone is
logged, never fatal: the caller already heard the reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from oratio.agent.contracts import InvocationRequest
from oratio.agent.ports import (
    BudgetLedger,
    ConversationRecorder,
    ConversationSummary,
    ConversationTurn,
    CustomerContext,
    CustomerContextStore,
    SessionMemory,
    TurnRecord,
    WorkflowState,
    WorkflowStateStore,
    WorkflowUpdate,
)
from oratio.agent.turn import Turn
from oratio.metering import Charge, CostCategory, Meter, record_charges
from oratio.tracing import end_span, start_child

logger = logging.getLogger(__name__)

# Messages through Amazon Connect are billed per message: the customer's and the reply.
MESSAGES_PER_TURN = 2


def actor(request: InvocationRequest) -> str:
    """The memory actor of a request: the customer's key, or the shared anonymous actor."""
    return request.customer.key if request.customer else "anonymous"


@dataclass(frozen=True)
class PersistSettings:
    timeout_seconds: float
    recent_conversations_kept: int


class TurnPersister:
    """Writes a finished turn to every store it touches."""

    def __init__(
        self,
        *,
        memory: SessionMemory,
        contexts: CustomerContextStore,
        recorder: ConversationRecorder,
        budget: BudgetLedger,
        workflow_states: WorkflowStateStore,
        clock: Callable[[], datetime],
        settings: PersistSettings,
        meter: Meter,
    ) -> None:
        self._memory = memory
        self._contexts = contexts
        self._recorder = recorder
        self._budget = budget
        self._workflow_states = workflow_states
        self._clock = clock
        self._settings = settings
        self._meter = meter

    async def persist(self, turn: Turn, update: WorkflowUpdate | None, state: WorkflowState, summary: str) -> None:
        request = turn.request
        tenant_id, at = request.tenant_id, turn.at
        if turn.sequence is None:
            try:
                turn.sequence = await self._recorder.next_sequence(tenant_id, turn.session_id)
            except Exception:
                logger.exception("sequence lookup failed", extra={"session_id": turn.session_id})
                turn.sequence = 0
        record = TurnRecord(
            tenant_id=tenant_id,
            session_id=turn.session_id,
            agent_id=request.agent_id,
            channel=request.channel.value,
            sequence=turn.sequence,
            user_text=turn.user_text,
            reply_text=turn.reply_text,
            model_id=turn.model_id,
            routing_reason=turn.routing_reason,
            role=state.role,
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            cache_read_tokens=turn.cache_read_tokens,
            cache_write_tokens=turn.cache_write_tokens,
            cost_usd=turn.cost_usd,
            latency_ms=round((asyncio.get_running_loop().time() - turn.started) * 1000, 1),
            tools=tuple(turn.tools),
            outcome=turn.outcome,
            error=turn.error,
            definition_version=turn.definition_version,
            at=at,
        )
        channel = request.channel.value
        writes: list[tuple[str, Awaitable[None]]] = [
            (
                "memory",
                self._memory.append(
                    turn.session_id,
                    actor(request),
                    [
                        ConversationTurn(role="user", text=turn.user_text, at=at, channel=channel),
                        ConversationTurn(role="assistant", text=turn.reply_text, at=self._clock(), channel=channel),
                    ],
                ),
            ),
            ("budget", self._record_spend(turn)),
            *(("event", self._recorder.record_event(event)) for event in turn.events),
            ("turn", self._recorder.record_turn(record)),
        ]
        if update is not None:
            writes.append(("workflow", self._workflow_states.save(tenant_id, turn.session_id, update.state)))
        if request.customer is not None:
            writes.append(("customer", self._contexts.save(self._updated_customer(turn, state, summary))))
        await self._gather(turn, writes)

    async def _record_spend(self, turn: Turn) -> None:
        """Everything the turn cost, by category, to the month, the day, the agent and the conversation."""
        request = turn.request
        tokens = turn.input_tokens + turn.output_tokens + turn.cache_read_tokens + turn.cache_write_tokens
        models = [Charge(CostCategory.MODEL, mid, tokens, "tokens", usd) for mid, usd in turn.cost_by_model.items()]
        messages = self._meter.messages(request.channel.value, MESSAGES_PER_TURN) if turn.reply_text else None
        await record_charges(
            self._budget,
            [*models, *turn.charges, messages],
            tenant_id=request.tenant_id,
            at=turn.at,
            agent_id=request.agent_id,
            session_id=turn.session_id,
        )

    async def _gather(self, turn: Turn, writes: list[tuple[str, Awaitable[None]]]) -> None:
        span = start_child(turn.span, "oratio.persistence", {**turn.trace_attributes, "oratio.writes": len(writes)})
        try:
            await self._gather_writes(turn, writes)
        finally:
            end_span(span)

    async def _gather_writes(self, turn: Turn, writes: list[tuple[str, Awaitable[None]]]) -> None:
        try:
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(w for _, w in writes), return_exceptions=True), timeout=self._settings.timeout_seconds
            )
        except TimeoutError:
            logger.error("turn persistence timed out", extra={"session_id": turn.session_id})
            return
        for (what, _), outcome in zip(writes, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                logger.error(
                    "turn persistence failed",
                    extra={"what": what, "error": type(outcome).__name__, "session_id": turn.session_id},
                    exc_info=outcome,
                )

    def _updated_customer(self, turn: Turn, state: WorkflowState, summary: str) -> CustomerContext:
        request = turn.request
        assert request.customer is not None
        current = turn.customer or CustomerContext(tenant_id=request.tenant_id, customer_key=request.customer.key)
        conversation = ConversationSummary(
            channel=request.channel.value, session_id=turn.session_id, at=turn.at, summary=summary
        )
        # One summary per session, newest last: this session's replaces its previous one.
        others = [c for c in current.recent_conversations if c.session_id != turn.session_id]
        recent = sorted((*others, conversation), key=lambda c: c.at)[-self._settings.recent_conversations_kept :]
        return current.model_copy(
            update={
                "recent_conversations": tuple(recent),
                "lead": {**current.lead, **state.lead},
                "qualification_score": max(current.qualification_score, state.qualification_score),
                "updated_at": turn.at,
            }
        )
