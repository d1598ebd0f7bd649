"""Running one agent turn of a Connect call to completion, whoever is still waiting for it.

The Lex code hook must answer within the caller's patience (a few seconds); an agent turn with tools can
take longer. So the turn runs in a worker (`AgentTurnRunner`, deployed as its own Lambda) that the code hook
invokes and waits for up to its deadline. Either way the worker finishes the turn: it reads the agent's
reply stream to the end, reports the agent's health to the tenant's circuit breaker, and leaves the outcome
in the turn mailbox, where the flow's `pickup` action finds it after the caller heard a holding reply.

The outcome always goes to the mailbox, even when the turn was fast: only the code hook knows whether the invoke
response reached it in time (a slow response path, or a worker clock off the code hook's, must not lose the
reply). A throttled write is retried with backoff within the turn's budget. If the pickups gave up on the turn
before it finished, the reply is recorded with the call as missed: never silently dropped.

`InProcessTurnWorker` runs the same runner as a task on the caller's event loop, for the local mode and
tests: it waits like the Lambda invoke does and lets the task finish in the background. It is never used
deployed (a Lambda's background task freezes when the handler returns).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from oratio.agent.ports import AgentEventRecord, ConversationRecorder, TurnRecord
from oratio.connect_voice.outcome import TurnJob, TurnOutcome, collect_outcome, failed_outcome
from oratio.connect_voice.ports import AgentTurns, Delivery, TurnMailbox
from oratio.domain.circuit_breaker import BreakerChange, CircuitBreakers, Dependency
from oratio.retry import RetryPolicy, backoff_delay

logger = logging.getLogger(__name__)

# Routing reason of a turn the agent never saw (it could not be reached), as recorded by the worker.
AGENT_NOT_REACHED = "agent not reached"
# How long the mailbox write may keep retrying when the runner is not told its own deadline (the Lambda tells
# it: the time the function has left), and its backoff: doubling pauses with full jitter, at most the cap (the
# deadline, not the attempts, ends the retries).
MAILBOX_WRITE_BUDGET_SECONDS = 5.0
MAILBOX_WRITE_RESERVE_SECONDS = 1.0  # left to the Lambda after the last try: to log and answer
MAILBOX_BACKOFF = RetryPolicy(base_seconds=0.05, cap_seconds=1.0)
# What of a missed reply is kept in its event (the agent's own turn record has it whole).
MISSED_REPLY_CHARS = 500


class AgentTurnRunner:
    """Runs a `TurnJob` through the tenant agent and stores its outcome; never raises for an agent failure."""

    def __init__(
        self,
        *,
        agent: AgentTurns,
        mailbox: TurnMailbox,
        breakers: CircuitBreakers,
        recorder: ConversationRecorder,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._agent = agent
        self._mailbox = mailbox
        self._breakers = breakers
        self._recorder = recorder
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not secrets

    async def run(self, job: TurnJob, *, time_left_seconds: float | None = None) -> TurnOutcome:
        """Run the turn to its end and leave its outcome in the mailbox. A failed write is retried until
        `time_left_seconds` (what the worker's Lambda has left when the run starts) is nearly spent, or for
        `MAILBOX_WRITE_BUDGET_SECONDS` after the turn when no limit is given."""
        started = self._monotonic()
        deadline = None if time_left_seconds is None else started + time_left_seconds - MAILBOX_WRITE_RESERVE_SECONDS
        try:
            outcome = await collect_outcome(
                job.turn_id, self._agent.invoke(job.request, job.contact_id), clock=self._clock
            )
        except Exception as e:  # the typed client's AgentClientError, or a broken stream: the turn failed
            logger.warning("agent turn failed", extra={"error": type(e).__name__, "contact_id": job.contact_id})
            outcome = failed_outcome(job.turn_id, type(e).__name__, finished_at=self._clock())
        outcome = outcome.model_copy(update={"duration_ms": round((self._monotonic() - started) * 1000, 1)})
        await self._report_health(job, outcome)
        if outcome.status == "failed" and outcome.done is None:
            await self._record_unanswered(job, outcome)
        delivery = await self._deliver(job, outcome, deadline or self._monotonic() + MAILBOX_WRITE_BUDGET_SECONDS)
        if delivery is Delivery.MISSED:
            await self._record_missed(job, outcome)
        return outcome

    async def _deliver(self, job: TurnJob, outcome: TurnOutcome, deadline: float) -> Delivery | None:
        """Leave the outcome in the mailbox, retrying failed writes (throttling, a blip) with backoff until the
        deadline (monotonic); None if it could not be stored (logged)."""
        attempt = 0
        while True:
            try:
                return await self._mailbox.put(job.request.tenant_id, job.contact_id, outcome)
            except Exception as e:
                pause = backoff_delay(MAILBOX_BACKOFF, attempt, self._rng.random)
                if self._monotonic() + pause > deadline:
                    logger.exception(
                        "storing the turn outcome failed; its reply is lost to the caller",
                        extra={"contact_id": job.contact_id, "turn_id": job.turn_id, "attempts": attempt + 1},
                    )
                    return None
                logger.warning(
                    "storing the turn outcome failed; retrying",
                    extra={"contact_id": job.contact_id, "error": type(e).__name__, "attempt": attempt + 1},
                )
                await self._sleep(pause)
                attempt += 1

    async def _record_missed(self, job: TurnJob, outcome: TurnOutcome) -> None:
        """The caller was handed over before this reply was ready: keep it with the call, as not heard."""
        logger.warning("turn finished after the caller was handed over", extra={"contact_id": job.contact_id})
        event = AgentEventRecord(
            tenant_id=job.request.tenant_id,
            session_id=job.contact_id,
            kind="missed_reply",
            at=self._clock(),
            detail={
                "turn_id": job.turn_id,
                "status": outcome.status,
                "reply_text": outcome.reply_text[:MISSED_REPLY_CHARS],
                "duration_ms": outcome.duration_ms,
            },
        )
        try:
            await self._recorder.record_event(event)
        except Exception:
            logger.exception("recording the missed reply failed", extra={"contact_id": job.contact_id})

    async def _report_health(self, job: TurnJob, outcome: TurnOutcome) -> None:
        try:
            if outcome.status == "ok":
                change = await self._breakers.record_success(Dependency.AGENT)
            else:
                change = await self._breakers.record_failure(Dependency.AGENT, outcome.error or "failed")
        except Exception:
            logger.exception("breaker update failed", extra={"contact_id": job.contact_id})
            return
        if change is not None:
            await self._record_breaker(job, change)

    async def _record_breaker(self, job: TurnJob, change: BreakerChange) -> None:
        event = AgentEventRecord(
            tenant_id=job.request.tenant_id,
            session_id=job.contact_id,
            kind="breaker",
            at=change.at,
            detail=change.detail(),
        )
        try:
            await self._recorder.record_event(event)
        except Exception:
            logger.exception("recording the breaker change failed", extra={"contact_id": job.contact_id})

    async def _record_unanswered(self, job: TurnJob, outcome: TurnOutcome) -> None:
        """The agent never persisted this turn (it was not reached): keep the caller's words in the transcript."""
        request = job.request
        user_text = getattr(request.input, "text", None)
        try:
            sequence = await self._recorder.next_sequence(request.tenant_id, job.contact_id)
            await self._recorder.record_turn(
                TurnRecord(
                    tenant_id=request.tenant_id,
                    session_id=job.contact_id,
                    agent_id=request.agent_id,
                    channel=request.channel.value,
                    sequence=sequence,
                    user_text=user_text,
                    reply_text=outcome.reply_text,
                    model_id=None,
                    routing_reason=AGENT_NOT_REACHED,
                    role="",
                    latency_ms=outcome.duration_ms,
                    outcome="failed",
                    error=outcome.error,
                    at=job.submitted_at,
                )
            )
        except Exception:
            logger.exception("recording the unanswered turn failed", extra={"contact_id": job.contact_id})


class InProcessTurnWorker:
    """`TurnWorker` running the runner on the current event loop (local mode and tests only)."""

    def __init__(self, runner: AgentTurnRunner) -> None:
        self._runner = runner
        self._running: set[asyncio.Task[TurnOutcome]] = set()

    async def run(self, job: TurnJob, wait_seconds: float) -> TurnOutcome | None:
        task = asyncio.ensure_future(self._runner.run(job))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, wait_seconds))
        return task.result() if done else None

    async def drain(self) -> None:
        """Wait for turns still running in the background (so a test or the demo can read their outcome)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
