"""The live-call counter's conflict retries are sized for a burst: 50 calls of one tenant arriving together are all
admitted within the router's time budget. Replayed in virtual time (no sleeps) through the real session store:
each caller's clock and pauses are virtual, and one counter item holds each committed transaction for
`TRANSACTION_SECONDS`, cancelling any transaction that overlaps one (DynamoDB's TransactionConflict)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from oratio.adapters.dynamodb import ConflictRetry, DynamoDBCallSessionStore, TransactionConflictError
from oratio.domain.calls import CallSession, OpenOutcome
from oratio.domain.routing import Route, RouteReason
from tests.faults import client_error, transaction_conflict

# How long DynamoDB holds the counter item for one transaction (a typical in-region round trip; an assumption).
TRANSACTION_SECONDS = 0.025
BURST = 50
STARTED = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)


@dataclass
class VirtualClock:
    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class CounterItem:
    """The tenant's counter in virtual time: the start times of the transactions it committed."""

    limit: int
    committed: list[float] = field(default_factory=list)

    def client(self, clock: VirtualClock) -> Any:
        counter = self

        class Client:
            def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
                start = clock.now
                clock.now += TRANSACTION_SECONDS
                if any(abs(start - other) < TRANSACTION_SECONDS for other in counter.committed):
                    raise transaction_conflict(TransactItems, 1)
                if len(counter.committed) >= counter.limit:
                    raise client_error(
                        "TransactWriteItems",
                        "TransactionCanceledException",
                        CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
                    )
                counter.committed.append(start)
                return {}

        return Client()


def session(n: int) -> CallSession:
    return CallSession(
        tenant_id="cozy-comfort",
        contact_id=f"contact-{n}",
        agent_id="front-desk",
        channel="voice",
        dialed_number="+15552333464",
        route=Route.AGENT,
        reason=RouteReason.ACCEPTED,
        voice_tier="standard",
        started_at=STARTED,
        counted_against_limit=True,
    )


def replay_burst(retry: ConflictRetry, *, limit: int = BURST, seed: int = 7) -> tuple[dict[str, int], float]:
    """Every caller of the burst through the store, arriving within 50 ms; outcomes and the latest finish."""
    counter = CounterItem(limit)
    arrivals = random.Random(seed)
    outcomes: dict[str, int] = {}
    latest = 0.0
    for n in range(BURST):
        clock = VirtualClock(arrivals.uniform(0, 0.05))
        store = DynamoDBCallSessionStore(
            "conversations",
            "tenant_state",
            client=counter.client(clock),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            conflict_retry=retry,
            rng=random.Random(seed * 1_000 + n),
        )
        try:
            outcome = store.open(session(n), max_concurrent_calls=limit).outcome.value
        except TransactionConflictError:
            outcome = "data_unavailable"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        latest = max(latest, clock.now)
    return outcomes, latest


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_a_burst_of_50_calls_is_admitted_within_the_routers_budget(seed: int) -> None:
    # Given 50 calls of one tenant arriving within 50 ms, with room for all of them
    retry = ConflictRetry()
    # When each takes its slot on the tenant's counter, conflicting with the others
    outcomes, latest = replay_burst(retry, seed=seed)
    # Then every caller is admitted, and the last one within the router's budget
    assert outcomes == {OpenOutcome.CREATED.value: BURST}
    assert latest <= retry.budget_seconds


def test_a_burst_over_the_limit_turns_away_exactly_the_extra_callers_as_over_capacity() -> None:
    outcomes, latest = replay_burst(ConflictRetry(), limit=20)
    assert outcomes == {OpenOutcome.CREATED.value: 20, OpenOutcome.OVER_CAPACITY.value: BURST - 20}
    assert latest <= ConflictRetry().budget_seconds


def test_a_few_quick_retries_would_turn_most_of_the_burst_away_while_slots_are_free() -> None:
    # What the budget is for: four tries with 10-50 ms pauses (the store's old policy) lose most of the burst.
    outcomes, _ = replay_burst(ConflictRetry(max_attempts=4, base_seconds=0.05, cap_seconds=0.05))
    assert outcomes.get("data_unavailable", 0) > BURST // 2
