"""The replay clock's event loop: virtual time moves whenever every timer a loop waits on is in the future."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from oratio_local.replay.clock import TIMER_QUANTUM_SECONDS, VirtualClock, VirtualEventLoop


def _run(coro_fn: object) -> float:
    clock = VirtualClock(datetime(2025, 1, 6, 15, 0, tzinfo=UTC))
    loop = VirtualEventLoop(clock)
    try:
        loop.run_until_complete(coro_fn())  # type: ignore[operator]
    finally:
        loop.close()
    return clock.elapsed


def test_a_sleep_below_the_float_resolution_at_now_still_moves_time_on() -> None:
    # The bridge's output pacer sleeps `ahead - lead`, which float arithmetic can leave at 1e-17 s: at a `now`
    # of ~1.79 s, `now + 1e-17 == now`, so such a timer was due at once, forever, and the call hung.
    async def pacer() -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(1.7900179999999999)
        start = loop.time()
        for _ in range(3):
            await asyncio.sleep(1e-17)
        assert loop.time() > start

    elapsed = _run(pacer)
    assert elapsed >= 1.790018 + 3 * TIMER_QUANTUM_SECONDS * 0.99


def test_a_zero_sleep_does_not_move_time() -> None:
    async def yields() -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(1.0)
        start = loop.time()
        await asyncio.sleep(0)
        assert loop.time() == start

    assert _run(yields) == 1.0


def test_timers_keep_their_order_and_virtual_time_is_exact_to_the_grid() -> None:
    seen: list[tuple[str, float]] = []

    async def timers() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: seen.append(("b", loop.time())))
        loop.call_later(0.1, lambda: seen.append(("a", loop.time())))
        await asyncio.sleep(0.5)

    _run(timers)
    assert [name for name, _ in seen] == ["a", "b"]
    assert [round(at, 6) for _, at in seen] == [0.1, 0.3]
