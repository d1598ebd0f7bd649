"""The live-call counter's conflict retries are sized for a burst: 50 calls of one tenant arriving together are all
admitted within the router's time budget. Replayed in virtual time (no sleeps) through the real session store
(`oratio_local.faults.replay_burst`): each caller's clock and pauses are virtual, and one counter item holds each
committed transaction for a typical transaction's time, cancelling any transaction that overlaps one."""

from __future__ import annotations

import pytest

from oratio.adapters.dynamodb import ConflictRetry
from oratio.domain.calls import OpenOutcome
from oratio_local.faults import BURST, replay_burst


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
    # What the budget is for: four tries with pauses of up to 50 ms (about the store's old policy) lose most of it.
    outcomes, _ = replay_burst(ConflictRetry(max_attempts=4, base_seconds=0.05, cap_seconds=0.05))
    assert outcomes.get("data_unavailable", 0) > BURST // 2
