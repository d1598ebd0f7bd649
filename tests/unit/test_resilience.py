"""Retries with backoff, per-model circuit breakers and the turn deadline."""

from __future__ import annotations

import asyncio

import pytest

from oratio.agent.ports import ModelError, ModelRequestError, ModelThrottledError
from oratio.agent.resilience import (
    BreakerBoard,
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    Deadline,
    DeadlineExceeded,
    RetryPolicy,
    backoff_delay,
    retry_async,
)


class Flaky:
    def __init__(self, errors: list[ModelError]) -> None:
        self.errors = errors
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retryable_errors_are_retried_with_capped_full_jitter_backoff() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    fn = Flaky([ModelThrottledError(), ModelThrottledError(), ModelThrottledError()])
    policy = RetryPolicy(attempts=4, base_seconds=0.5, cap_seconds=1.5)

    result = asyncio.run(retry_async(fn, policy, sleep=sleep, rand=lambda: 0.999))

    assert result == "ok"
    assert fn.calls == 4
    # Upper bounds: min(cap, base·2^n) → 0.5, 1.0, 1.5 (capped), scaled by the injected random.
    assert sleeps == pytest.approx([0.4995, 0.999, 1.4985])


def test_backoff_with_zero_random_never_waits() -> None:
    assert backoff_delay(RetryPolicy(), 5, rand=lambda: 0.0) == 0.0


def test_non_retryable_errors_are_not_retried() -> None:
    fn = Flaky([ModelRequestError()])

    with pytest.raises(ModelRequestError):
        asyncio.run(retry_async(fn, RetryPolicy(attempts=5), sleep=_no_sleep))

    assert fn.calls == 1


def test_the_last_retryable_error_surfaces_after_all_attempts() -> None:
    fn = Flaky([ModelThrottledError() for _ in range(3)])

    with pytest.raises(ModelThrottledError):
        asyncio.run(retry_async(fn, RetryPolicy(attempts=3), sleep=_no_sleep))

    assert fn.calls == 3


async def _no_sleep(_: float) -> None:
    return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker("nova-micro", BreakerSettings(failure_threshold=3, cooldown_seconds=30), clock)

    assert breaker.record_failure() is None
    assert breaker.record_success() is None  # a success resets the count
    assert [breaker.record_failure() for _ in range(3)] == [None, None, BreakerState.OPEN]
    assert not breaker.allows()

    clock.now = 29.9
    assert breaker.state is BreakerState.OPEN
    clock.now = 30.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allows()

    assert breaker.record_failure() is BreakerState.OPEN  # a failed trial re-opens at once
    clock.now = 60.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.record_success() is BreakerState.CLOSED
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_board_lists_models_with_open_breakers() -> None:
    clock = Clock()
    board = BreakerBoard(BreakerSettings(failure_threshold=1, cooldown_seconds=10), clock)

    board.breaker("nova-micro").record_failure()
    board.breaker("nova-lite").record_success()

    assert board.open_models() == frozenset({"nova-micro"})
    clock.now = 10.0
    assert board.open_models() == frozenset()


def test_deadline_cancels_slow_work() -> None:
    async def scenario() -> bool:
        deadline = Deadline(0.01)
        with pytest.raises(DeadlineExceeded):
            await deadline.run(asyncio.sleep(5))
        return deadline.expired

    assert asyncio.run(scenario()) is True


def test_deadline_returns_work_done_in_time() -> None:
    async def scenario() -> str:
        async def quick() -> str:
            return "done"

        return await Deadline(5).run(quick())

    assert asyncio.run(scenario()) == "done"
