"""The per-tenant circuit breaker shared by every voice Lambda: its state machine (table-driven), half-open
trial leases, and compare-and-set writes that concurrent Lambdas cannot corrupt."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from oratio.adapters.memory_voice import InMemoryBreakerStore
from oratio.config.tenant import CircuitBreakerSettings
from oratio.domain.circuit_breaker import (
    BreakerPolicy,
    BreakerRecord,
    BreakerState,
    CircuitBreakers,
    Dependency,
)

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
SETTINGS = CircuitBreakerSettings(failure_threshold=3, cooldown_seconds=60, trial_seconds=20)
POLICY = BreakerPolicy(SETTINGS)
TENANT = "cozy-comfort"


def record(state: BreakerState = BreakerState.CLOSED, failures: int = 0, **extra: object) -> BreakerRecord:
    return BreakerRecord(dependency="agent", state=state, failures=failures, version=3, **extra)  # type: ignore[arg-type]


OPENED = {"opened_at": T0}
COOLING = T0 + timedelta(seconds=30)
COOLED = T0 + timedelta(seconds=61)


@pytest.mark.parametrize(
    ("before", "now", "event", "after_state", "after_failures"),
    [
        # closed: failures count up; the threshold opens it; a success clears the count
        (record(), T0, "failure", BreakerState.CLOSED, 1),
        (record(failures=1), T0, "failure", BreakerState.CLOSED, 2),
        (record(failures=2), T0, "failure", BreakerState.OPEN, 3),
        (record(failures=2), T0, "success", BreakerState.CLOSED, 0),
        # open, cooling down: stays open (late failures count, the cool-down is not restarted)
        (record(BreakerState.OPEN, 3, **OPENED), COOLING, "failure", BreakerState.OPEN, 4),
        # open and cooled down reads as half-open: a failed trial re-opens, a good one closes
        (record(BreakerState.OPEN, 3, **OPENED), COOLED, "failure", BreakerState.OPEN, 4),
        (record(BreakerState.OPEN, 3, **OPENED), COOLED, "success", BreakerState.CLOSED, 0),
        (record(BreakerState.HALF_OPEN, 3, **OPENED), COOLED, "failure", BreakerState.OPEN, 4),
        (record(BreakerState.HALF_OPEN, 3, **OPENED), COOLED, "success", BreakerState.CLOSED, 0),
    ],
    ids=[
        "closed-first-failure",
        "closed-second-failure",
        "closed-threshold-opens",
        "closed-success-clears",
        "open-cooling-late-failure",
        "cooled-trial-fails-reopens",
        "cooled-trial-succeeds-closes",
        "half-open-trial-fails-reopens",
        "half-open-trial-succeeds-closes",
    ],
)
def test_transitions(
    before: BreakerRecord, now: datetime, event: str, after_state: BreakerState, after_failures: int
) -> None:
    after = POLICY.on_failure(before, now, "boom") if event == "failure" else POLICY.on_success(before, now)
    assert after is not None
    assert POLICY.state(after, now) is after_state
    assert after.failures == after_failures
    assert after.version == before.version + 1


def test_a_failed_trial_restarts_the_full_cool_down() -> None:
    reopened = POLICY.on_failure(record(BreakerState.HALF_OPEN, 3, **OPENED), COOLED, "boom")
    assert reopened.opened_at == COOLED
    assert POLICY.state(reopened, COOLED + timedelta(seconds=59)) is BreakerState.OPEN
    assert POLICY.state(reopened, COOLED + timedelta(seconds=60)) is BreakerState.HALF_OPEN


def test_a_success_on_a_clean_closed_breaker_writes_nothing() -> None:
    assert POLICY.on_success(record(), T0) is None


@pytest.mark.parametrize(
    ("before", "now", "allowed", "trial"),
    [
        (record(), T0, True, False),
        (record(BreakerState.OPEN, 3, **OPENED), COOLING, False, False),
        (record(BreakerState.OPEN, 3, **OPENED), COOLED, True, True),
        (record(BreakerState.HALF_OPEN, 3, trial_until=COOLED + timedelta(seconds=5), **OPENED), COOLED, False, False),
        (record(BreakerState.HALF_OPEN, 3, trial_until=COOLED - timedelta(seconds=1), **OPENED), COOLED, True, True),
    ],
    ids=["closed", "open-cooling", "cooled-first-caller-is-the-trial", "trial-running", "trial-lease-lapsed"],
)
def test_admission(before: BreakerRecord, now: datetime, allowed: bool, trial: bool) -> None:
    admission = POLICY.admit(before, now)
    assert (admission.allowed, admission.trial) == (allowed, trial)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def breakers(store: InMemoryBreakerStore, clock: Clock) -> CircuitBreakers:
    return CircuitBreakers(TENANT, store, POLICY, clock)


def test_three_failures_in_a_row_open_the_shared_breaker_and_report_one_change() -> None:
    store, clock = InMemoryBreakerStore(), Clock(T0)
    board = breakers(store, clock)

    async def scenario() -> list[object]:
        changes = [await board.record_failure(Dependency.AGENT, "AgentUnavailableError") for _ in range(3)]
        admission, _ = await board.admit(Dependency.AGENT)
        return [*changes, admission.allowed]

    first, second, third, allowed = asyncio.run(scenario())
    assert first is None
    assert second is None
    assert third is not None
    assert (third.from_state, third.to_state) == (BreakerState.CLOSED, BreakerState.OPEN)
    assert allowed is False


def test_after_the_cool_down_exactly_one_caller_gets_the_trial() -> None:
    store, clock = InMemoryBreakerStore(), Clock(T0)
    board = breakers(store, clock)

    async def scenario() -> list[bool]:
        for _ in range(3):
            await board.record_failure(Dependency.SPEECH_TO_SPEECH, "bot error")
        clock.at = COOLED
        # Ten Lambdas ask at once; each reads the record, then races to take the lease.
        admissions = await asyncio.gather(
            *(breakers(store, clock).admit(Dependency.SPEECH_TO_SPEECH) for _ in range(10))
        )
        return [a.allowed for a, _ in admissions]

    assert sorted(asyncio.run(scenario())) == [False] * 9 + [True]


def test_a_successful_trial_closes_it_for_everyone() -> None:
    store, clock = InMemoryBreakerStore(), Clock(T0)
    board = breakers(store, clock)

    async def scenario() -> tuple[object, bool]:
        for _ in range(3):
            await board.record_failure(Dependency.AGENT, "timeout")
        clock.at = COOLED
        await board.admit(Dependency.AGENT)
        change = await board.record_success(Dependency.AGENT)
        admission, _ = await breakers(store, clock).admit(Dependency.AGENT)
        return change, admission.allowed

    change, allowed = asyncio.run(scenario())
    assert change is not None
    assert change.to_state is BreakerState.CLOSED
    assert allowed is True


class RacingStore(InMemoryBreakerStore):
    """Another Lambda writes between our read and our write, `races` times."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    async def save(self, tenant_id: str, record: BreakerRecord, expected_version: int) -> bool:
        if self.races > 0:
            self.races -= 1
            stored = await self.load(tenant_id, record.dependency) or BreakerRecord(dependency=record.dependency)
            rival = POLICY.on_failure(stored, T0, "rival")
            await super().save(tenant_id, rival, stored.version)
        return await super().save(tenant_id, record, expected_version)


def test_a_writer_that_loses_the_race_re_reads_and_both_failures_count() -> None:
    store = RacingStore(races=1)

    async def scenario() -> BreakerRecord | None:
        await breakers(store, Clock(T0)).record_failure(Dependency.AGENT, "ours")
        return await store.load(TENANT, "agent")

    stored = asyncio.run(scenario())
    assert stored is not None
    assert stored.failures == 2  # the rival's and ours: nothing lost, nothing double-written
    assert stored.version == 2


def test_endless_contention_gives_up_without_raising() -> None:
    store = RacingStore(races=100)
    change = asyncio.run(breakers(store, Clock(T0)).record_failure(Dependency.AGENT, "ours"))
    assert change is None


def test_breakers_of_one_tenant_do_not_affect_another() -> None:
    store, clock = InMemoryBreakerStore(), Clock(T0)

    async def scenario() -> bool:
        for _ in range(3):
            await CircuitBreakers("tenant-a", store, POLICY, clock).record_failure(Dependency.AGENT, "down")
        admission, _ = await CircuitBreakers("tenant-b", store, POLICY, clock).admit(Dependency.AGENT)
        return admission.allowed

    assert asyncio.run(scenario()) is True
