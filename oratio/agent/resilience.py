"""Keeping a turn alive when a model misbehaves: retries with backoff, per-model circuit breakers, a deadline.

- `retry_async` retries only `ModelError`s that say they are retryable (throttling, timeouts, 5xx), with
  exponential backoff and full jitter so many sessions hitting one throttled model don't retry in step.
- `CircuitBreaker` stops sending turns to a model that keeps failing, and lets one through again after a
  cool-down; `BreakerBoard` holds one per model so the selector can route around open ones.
- `Deadline` bounds the whole turn, so a caller always hears something.

Clocks, sleep and randomness are injectable so tests drive them without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.ports import ModelError

# Re-exported: the agent package has always imported its retry policy from here.
from oratio.retry import RetryPolicy as RetryPolicy
from oratio.retry import backoff_delay as backoff_delay


async def retry_async[T](
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
    on_retry: Callable[[int, ModelError, float], None] | None = None,
) -> T:
    """Await `fn()`, retrying retryable `ModelError`s up to `policy.attempts` tries; re-raise the last one."""
    retry = 0
    while True:
        try:
            return await fn()
        except ModelError as e:
            if not e.retryable or retry + 1 >= policy.attempts:
                raise
            delay = backoff_delay(policy, retry, rand)
            if on_retry is not None:
                on_retry(retry + 1, e, delay)
            await sleep(delay)
            retry += 1


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    failure_threshold: int = Field(default=3, ge=1, description="consecutive failures that open the breaker")
    cooldown_seconds: float = Field(default=30.0, gt=0, description="open time before a trial call")


class CircuitBreaker:
    """Closed → open after N consecutive failures → half-open after a cool-down → closed on a success."""

    def __init__(
        self, name: str, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.settings.cooldown_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allows(self) -> bool:
        """Whether a call may go to this model now (half-open lets trial calls through)."""
        return self.state is not BreakerState.OPEN

    def record_success(self) -> BreakerState | None:
        """Note a success; return the new state if it changed."""
        before = self.state
        self._failures = 0
        self._opened_at = None
        return BreakerState.CLOSED if before is not BreakerState.CLOSED else None

    def record_failure(self) -> BreakerState | None:
        """Note a failure; return the new state if it changed."""
        before = self.state
        self._failures += 1
        if before is BreakerState.HALF_OPEN or self._failures >= self.settings.failure_threshold:
            # A failed trial re-opens for a full cool-down.
            self._opened_at = self._clock()
        after = self.state
        return after if after is not before else None


class BreakerBoard:
    """One circuit breaker per model id, shared by every turn the process serves."""

    def __init__(self, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, model_id: str) -> CircuitBreaker:
        if model_id not in self._breakers:
            self._breakers[model_id] = CircuitBreaker(model_id, self.settings, self._clock)
        return self._breakers[model_id]

    def open_models(self) -> frozenset[str]:
        """Models whose breaker refuses calls right now."""
        return frozenset(mid for mid, b in self._breakers.items() if not b.allows())


class DeadlineExceeded(TimeoutError):
    """The turn ran out of time."""


class Deadline:
    """A point in time the turn must finish by, measured on the event loop's monotonic clock."""

    def __init__(self, seconds: float, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or asyncio.get_running_loop().time
        self.seconds = seconds
        self._at = self._clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._at - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    async def run[T](self, awaitable: Awaitable[T]) -> T:
        """Await within the time left; raise `DeadlineExceeded` (and cancel the work) when it runs out."""
        try:
            return await asyncio.wait_for(awaitable, timeout=self.remaining())
        except TimeoutError as e:
            raise DeadlineExceeded(f"turn deadline of {self.seconds:g}s exceeded") from e
