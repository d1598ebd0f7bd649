"""A per-tenant circuit breaker whose state is shared by every Lambda: the voice paths take a dependency
(speech-to-speech, cascaded speech, the tenant agent) out of the call path after repeated failures, try it
again with one caller after a cool-down, and put it back when that trial succeeds.

States, per tenant and dependency:

    closed ──(failure_threshold consecutive failures)──▶ open ──(cooldown_seconds)──▶ half-open
      ▲                                                   ▲                               │
      └──────────────(the trial succeeds)─────────────────┼───────(the trial fails)───────┘

Half-open admits one trial at a time: the caller that takes it holds a lease (`trial_until`) for
`trial_seconds`, and everyone else is kept on the lower rung until the trial reports back or the lease
lapses (a trial whose caller hung up must not block the dependency forever).

`BreakerPolicy` is the pure state machine; `CircuitBreakers` applies it to the shared record through a
`BreakerStore` with compare-and-set on a version number, so two Lambdas writing at once cannot corrupt the
record: the loser re-reads and decides again. Time comes from an injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.config.tenant import CircuitBreakerSettings

logger = logging.getLogger(__name__)

# How often a writer re-reads and retries after losing a compare-and-set race before giving up.
MAX_WRITE_ATTEMPTS = 4


class Dependency(StrEnum):
    """What a voice call depends on; each has its own breaker per tenant."""

    SPEECH_TO_SPEECH = "speech_to_speech"
    CASCADED_SPEECH = "cascaded_speech"
    AGENT = "agent"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerRecord(BaseModel):
    """The stored state of one dependency's breaker (`version` 0: never stored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    dependency: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    state: BreakerState = BreakerState.CLOSED
    failures: int = Field(default=0, ge=0, description="consecutive failures")
    opened_at: AwareDatetime | None = None
    trial_until: AwareDatetime | None = Field(default=None, description="a half-open trial runs until then")
    last_error: str | None = Field(default=None, max_length=200)
    updated_at: AwareDatetime | None = None
    version: int = Field(default=0, ge=0)


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a call may use the dependency now, and whether it is the half-open trial."""

    allowed: bool
    state: BreakerState
    trial: bool = False


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """A state change, for the call's event record and the logs."""

    dependency: str
    from_state: BreakerState
    to_state: BreakerState
    failures: int
    at: datetime
    reason: str

    def detail(self) -> dict[str, object]:
        return {
            "dependency": self.dependency,
            "from": self.from_state.value,
            "to": self.to_state.value,
            "failures": self.failures,
            "reason": self.reason,
        }


class BreakerPolicy:
    """The state machine, in plain Python: every method returns a new record (or None when nothing changes)."""

    def __init__(self, settings: CircuitBreakerSettings) -> None:
        self.settings = settings

    def state(self, record: BreakerRecord, now: datetime) -> BreakerState:
        """The state as callers see it now: an open breaker whose cool-down has passed is half-open."""
        if record.state is BreakerState.OPEN and self._cooled_down(record, now):
            return BreakerState.HALF_OPEN
        return record.state

    def admit(self, record: BreakerRecord, now: datetime) -> Admission:
        state = self.state(record, now)
        if state is BreakerState.CLOSED:
            return Admission(True, state)
        if state is BreakerState.OPEN:
            return Admission(False, state)
        if record.trial_until is not None and record.trial_until > now:
            return Admission(False, state)  # another caller is the trial
        return Admission(True, state, trial=True)

    def take_trial(self, record: BreakerRecord, now: datetime) -> BreakerRecord:
        """The record once a caller holds the half-open trial lease."""
        return record.model_copy(
            update={
                "state": BreakerState.HALF_OPEN,
                "trial_until": now + timedelta(seconds=self.settings.trial_seconds),
                "updated_at": now,
                "version": record.version + 1,
            }
        )

    def on_success(self, record: BreakerRecord, now: datetime) -> BreakerRecord | None:
        """A success closes the breaker and clears the count; None when it is already closed and clean."""
        if record.state is BreakerState.CLOSED and record.failures == 0:
            return None
        return BreakerRecord(dependency=record.dependency, updated_at=now, version=record.version + 1)

    def on_failure(self, record: BreakerRecord, now: datetime, error: str) -> BreakerRecord:
        """A failure counts; enough in a row open the breaker, and a failed trial re-opens it for a full cool-down."""
        state = self.state(record, now)
        failures = record.failures + 1
        update: dict[str, object] = {
            "failures": failures,
            "last_error": error[:200],
            "updated_at": now,
            "version": record.version + 1,
        }
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED and failures >= self.settings.failure_threshold
        ):
            update |= {"state": BreakerState.OPEN, "opened_at": now, "trial_until": None}
        # Failures reported while already open (calls admitted before it opened) keep the cool-down running.
        return record.model_copy(update=update)

    def _cooled_down(self, record: BreakerRecord, now: datetime) -> bool:
        return record.opened_at is None or now - record.opened_at >= timedelta(seconds=self.settings.cooldown_seconds)


class BreakerStore(Protocol):
    """Shared breaker records of a tenant (the tenant_state table when deployed)."""

    async def load_all(self, tenant_id: str) -> dict[str, BreakerRecord]:
        """Every stored breaker of the tenant, by dependency (one read)."""
        ...

    async def load(self, tenant_id: str, dependency: str) -> BreakerRecord | None: ...

    async def save(self, tenant_id: str, record: BreakerRecord, expected_version: int) -> bool:
        """Store `record` if the stored version is still `expected_version` (0: nothing stored yet).

        False when another writer got there first; the caller re-reads and decides again.
        """
        ...


Clock = Callable[[], datetime]


class CircuitBreakers:
    """One tenant's breakers: read them, admit a call, report how it went. Safe under concurrent writers."""

    def __init__(self, tenant_id: str, store: BreakerStore, policy: BreakerPolicy, clock: Clock) -> None:
        self.tenant_id = tenant_id
        self.policy = policy
        self._store = store
        self._clock = clock

    async def snapshot(self) -> dict[str, BreakerRecord]:
        """Every breaker of the tenant in one read (missing ones are closed)."""
        return await self._store.load_all(self.tenant_id)

    def state(self, records: dict[str, BreakerRecord], dependency: Dependency) -> BreakerState:
        return self.policy.state(self._record(records, dependency), self._clock())

    async def admit(
        self, dependency: Dependency, records: dict[str, BreakerRecord] | None = None
    ) -> tuple[Admission, BreakerChange | None]:
        """Decide whether a call may use `dependency`; in half-open, take the trial lease atomically."""
        record = self._record(records, dependency) if records is not None else await self._load(dependency)
        for _ in range(MAX_WRITE_ATTEMPTS):
            now = self._clock()
            admission = self.policy.admit(record, now)
            if not admission.trial:
                return admission, None
            taken = self.policy.take_trial(record, now)
            if await self._store.save(self.tenant_id, taken, record.version):
                change = None
                if record.state is not BreakerState.HALF_OPEN:
                    change = BreakerChange(
                        dependency, record.state, BreakerState.HALF_OPEN, record.failures, now, "cool-down passed"
                    )
                return admission, change
            record = await self._load(dependency)  # someone else wrote: maybe they took the trial
        logger.warning("breaker trial contention", extra={"dependency": dependency.value})
        return Admission(False, self.policy.state(record, self._clock())), None

    async def record_success(
        self, dependency: Dependency, records: dict[str, BreakerRecord] | None = None
    ) -> BreakerChange | None:
        return await self._update(dependency, records, lambda r, now: self.policy.on_success(r, now), "succeeded")

    async def record_failure(
        self, dependency: Dependency, error: str, records: dict[str, BreakerRecord] | None = None
    ) -> BreakerChange | None:
        return await self._update(
            dependency, records, lambda r, now: self.policy.on_failure(r, now, error), f"failed: {error}"
        )

    async def _update(
        self,
        dependency: Dependency,
        records: dict[str, BreakerRecord] | None,
        step: Callable[[BreakerRecord, datetime], BreakerRecord | None],
        reason: str,
    ) -> BreakerChange | None:
        record = self._record(records, dependency) if records is not None else await self._load(dependency)
        for _ in range(MAX_WRITE_ATTEMPTS):
            now = self._clock()
            before = self.policy.state(record, now)
            updated = step(record, now)
            if updated is None:
                return None
            if await self._store.save(self.tenant_id, updated, record.version):
                after = self.policy.state(updated, now)
                if after is before:
                    return None
                return BreakerChange(dependency, before, after, updated.failures, now, reason)
            record = await self._load(dependency)
        # Losing every race means many callers are reporting the same thing at once; the count they wrote
        # stands, so dropping this one report is safe. Logged so sustained contention is visible.
        logger.warning("breaker update contention", extra={"dependency": dependency.value})
        return None

    async def _load(self, dependency: Dependency) -> BreakerRecord:
        stored = await self._store.load(self.tenant_id, dependency.value)
        return stored or BreakerRecord(dependency=dependency.value)

    @staticmethod
    def _record(records: dict[str, BreakerRecord] | None, dependency: Dependency) -> BreakerRecord:
        stored = (records or {}).get(dependency.value)
        return stored or BreakerRecord(dependency=dependency.value)
