"""Faults between the Connect code hook and its turn worker: a reply that reaches the code hook late, a mailbox
write throttled once, a worker whose clock is a second off the code hook's, and a reply that comes after the
caller was handed over. In each, the reply the agent produced is said (at the next pickup) or recorded as
missed, never silently dropped."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from oratio.adapters.dynamodb import DataUnavailableError
from oratio.adapters.memory_voice import InMemoryTurnMailbox
from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.worker import AgentTurnRunner
from tests.unit.test_connect_voice_service import (
    FAST,
    Harness,
    attrs,
    flow,
    flow_call,
    harness,
    lex_event,
    lex_turn,
    reply,
    said,
)

REPLY = "Yes, we ship to Canada in five to seven days."


class LateTransitWorker:
    """The worker's Lambda, whose response reaches the code hook `transit_seconds` after the turn finished (a
    slow network path): the turn itself ran in time, the code hook stops waiting before the answer arrives."""

    def __init__(self, runner: AgentTurnRunner, transit_seconds: float) -> None:
        self._runner = runner
        self._transit = transit_seconds
        self._running: set[asyncio.Task[TurnOutcome]] = set()

    async def run(self, job: TurnJob, wait_seconds: float) -> TurnOutcome | None:
        task = asyncio.ensure_future(self._delivered(job))
        self._running.add(task)
        done, _ = await asyncio.wait({task}, timeout=wait_seconds)
        return task.result() if done else None

    async def _delivered(self, job: TurnJob) -> TurnOutcome:
        outcome = await self._runner.run(job)
        await asyncio.sleep(self._transit)
        return outcome

    async def drain(self) -> None:
        await asyncio.gather(*self._running, return_exceptions=True)


class ThrottledOnce:
    """The mailbox as the worker reaches it, whose first write DynamoDB throttles."""

    def __init__(self, inner: InMemoryTurnMailbox) -> None:
        self._inner = inner
        self.throttled = 0

    async def put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> Any:
        if not self.throttled:
            self.throttled += 1
            raise DataUnavailableError("DynamoDB put_item on conversations: ThrottlingException (injected)")
        return await self._inner.put(tenant_id, contact_id, outcome)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def held_then_picked_up(h: Harness) -> dict[str, str]:
    """The caller hears the holding reply; the flow's pickup then answers with what the agent said."""
    response = lex_turn(h, "Do you ship to Canada?")
    assert said(response) == FAST.connect.holding_message
    pending = attrs(response)["pending_turn"]
    return flow(h, "pickup", pending_turn=pending, speech_mode="speech_to_speech")


def test_a_reply_whose_invoke_response_reaches_the_code_hook_late_is_said_at_the_next_pickup() -> None:
    # Given a turn that finishes well inside the code hook's wait, but whose response takes longer to arrive
    h = harness(reply(REPLY), delay=0.2)
    late = LateTransitWorker(h.worker._runner, transit_seconds=FAST.deadline_seconds)
    h.voice._worker = late  # type: ignore[assignment]
    h.worker = late  # type: ignore[assignment]
    # Then the caller still hears the reply, from the mailbox
    answer = held_then_picked_up(h)
    assert (answer["next_step"], answer["prompt"]) == ("converse", REPLY)


def test_a_mailbox_write_throttled_once_is_retried_and_the_reply_is_said() -> None:
    throttled: list[ThrottledOnce] = []

    def flaky(mailbox: InMemoryTurnMailbox) -> ThrottledOnce:
        throttled.append(ThrottledOnce(mailbox))
        return throttled[0]

    h = harness(reply(REPLY), delay=1.2, worker_mailbox=flaky)
    answer = held_then_picked_up(h)
    assert throttled[0].throttled == 1
    assert (answer["next_step"], answer["prompt"]) == ("converse", REPLY)


@pytest.mark.parametrize("skew_seconds", [-1, 1])
def test_a_worker_clock_a_second_off_the_code_hooks_loses_no_reply(skew_seconds: int) -> None:
    h = harness(reply(REPLY), delay=1.0, worker_clock_skew=timedelta(seconds=skew_seconds))
    answer = held_then_picked_up(h)
    assert (answer["next_step"], answer["prompt"]) == ("converse", REPLY)


def test_a_reply_that_comes_after_the_caller_was_handed_over_is_recorded_as_missed() -> None:
    # Given a turn so slow that the pickups run out and the caller is handed to a person
    h = harness(reply(REPLY), delay=2.0)

    async def call() -> dict[str, str]:
        response = await h.voice.lex_turn(lex_event("Do you ship to Canada?"))
        rounds = str(FAST.connect.max_holding_rounds)
        pending = attrs(response)["pending_turn"]
        last = await h.voice.pickup(flow_call("pickup", pending_turn=pending, holding_rounds=rounds))
        # When the reply finally comes
        await h.worker.drain()
        return {**last, "pending": pending}

    last = asyncio.run(call())
    assert (last["next_step"], last["handoff_reason"]) == ("transfer", "assistant took too long to answer")
    # Then it is kept with the call as a reply the caller never heard
    (missed,) = h.events("missed_reply")
    assert missed["turn_id"] == last["pending"]
    assert missed["reply_text"] == REPLY


class StaleReads(InMemoryTurnMailbox):
    """A mailbox whose reads miss the outcome (it landed just after each read)."""

    async def get(self, tenant_id: str, contact_id: str, turn_id: str) -> TurnOutcome | None:
        return None


def test_a_reply_that_lands_as_the_last_pickup_gives_up_is_said_rather_than_dropped() -> None:
    h = harness(reply(REPLY), delay=1.0)
    stale = StaleReads()
    h.voice._mailbox = stale
    h.worker._runner._mailbox = stale
    response = lex_turn(h, "Do you ship to Canada?")
    pending = attrs(response)["pending_turn"]
    rounds = str(FAST.connect.max_holding_rounds)
    last = flow(h, "pickup", pending_turn=pending, holding_rounds=rounds, speech_mode="speech_to_speech")
    assert (last["next_step"], last["prompt"]) == ("converse", REPLY)
    assert h.events("missed_reply") == []
