"""The replay clock: virtual time that moves only when every part of a replayed call is waiting.

A call on the Connect path is several things at once: the code hook's event loop waiting (up to the caller's
silence budget) for the worker Lambda, the worker's loop reading the agent's stream on another thread, DynamoDB
calls on executor threads. Real waits would make a slow turn take seconds and make outcomes depend on machine
speed; here an event loop's `time()` is the clock's, and when every participant is idle the clock jumps to the
earliest deadline any of them waits for. So a 4 s agent turn takes milliseconds, the holding line and the
pickups happen exactly as the deadlines say, and the same script always gives the same transcript.

Participants: `VirtualEventLoop`s (busy while running callbacks, idle in select), work they hand to thread
pools (busy from the submit until the pool thread has run the job and its done-callbacks, by when the result is
on the loop's ready queue), threads inside `busy()` (a fake AWS service computing), and `sleep_until` (a fake
service waiting on virtual time, e.g. a slow agent). The clock never moves while a loop has callbacks ready.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as futures
import math
import selectors
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

TIMER_QUANTUM_SECONDS = 1e-6  # virtual timers fall on this grid (see VirtualEventLoop.call_at)
REAL_POLL_SECONDS = 0.002  # how often an idle loop looks at its real selector while the clock is held
STALL_SECONDS = 20.0  # real seconds with the clock held and nothing happening: a participant was lost


class ReplayClockStalled(RuntimeError):
    """The clock waited in real time for a participant that never finished (a bug, never a slow machine)."""


class VirtualClock:
    """Wall time (`now`, aware) and monotonic time (`monotonic`) of one replayed call."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the replay clock needs a timezone-aware start")
        self._start = start
        self._elapsed = 0.0
        self._busy = 0
        self._cond = threading.Condition()
        self._deadlines: dict[object, float | None] = {}
        self._loops: weakref.WeakSet[VirtualEventLoop] = weakref.WeakSet()
        self._lent = threading.local()

    # ------------------------------------------------------------------------------------- reading
    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    @property
    def elapsed(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds` from outside any loop (the caller pausing, hold music)."""
        with self._cond:
            self._elapsed += max(0.0, seconds)
            self._cond.notify_all()

    # ---------------------------------------------------------------------------------- accounting
    def _acquire(self) -> None:
        with self._cond:
            self._busy += 1

    def _release(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    @contextmanager
    def lent_to_loop(self) -> Iterator[None]:
        """This thread holds the clock and is about to run an event loop (a handler): the loop takes the hold
        over for its run instead of taking one of its own, so the clock never moves between the two."""
        self._lent.value = True
        try:
            yield
        finally:
            self._lent.value = False

    def _loop_starts(self) -> None:
        if not getattr(self._lent, "value", False):
            self._acquire()

    def _loop_stops(self) -> None:
        if not getattr(self._lent, "value", False):
            self._release()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Hold the clock while this thread computes."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def sleep_until(self, seconds_from_now: float, *, held: bool = True) -> None:
        """Block this thread until virtual time has moved on by `seconds_from_now`. With `held`, the thread was
        holding the clock (inside `busy`): the hold is let go while it sleeps and taken back when it wakes."""
        token = object()
        with self._cond:
            deadline = self._elapsed + seconds_from_now
            self._deadlines[token] = deadline
            if held:
                self._busy -= 1
            self._cond.notify_all()
            self._wait(lambda: self._elapsed >= deadline, token)
            del self._deadlines[token]
            if held:
                self._busy += 1

    def _wait(self, done: Callable[[], bool], token: object) -> None:
        """Wait under the lock until `done()`; moves the clock when everything is idle. Caller holds the lock."""
        stalled_since = time.monotonic()
        while not done():
            if self._busy == 0 and self._advance():
                stalled_since = time.monotonic()
                continue
            self._cond.wait(REAL_POLL_SECONDS)
            if time.monotonic() - stalled_since > STALL_SECONDS:
                raise ReplayClockStalled(f"nothing moved for {STALL_SECONDS:g} s (busy={self._busy})")

    def _advance(self) -> bool:
        """Jump to the earliest deadline anyone idle waits for; False when nobody waits on time."""
        pending = [d for d in self._deadlines.values() if d is not None]
        if not pending or any(loop._ready for loop in list(self._loops)):  # type: ignore[attr-defined]
            return False
        target = min(pending)
        if target <= self._elapsed:
            return False
        self._elapsed = target
        self._cond.notify_all()
        return True

    # ------------------------------------------------------------------------------------- loops
    def idle_select(self, loop: VirtualEventLoop, real: selectors.BaseSelector, timeout: float | None) -> Any:
        """A loop's select: real events if any, else wait (moving time when all are idle) until its deadline."""
        with self._cond:
            self._busy -= 1
            deadline = None if timeout is None else self._elapsed + timeout
            self._deadlines[loop] = deadline
            self._cond.notify_all()
            try:
                stalled_since = time.monotonic()
                while True:
                    events = real.select(0)
                    if events:
                        return events
                    if deadline is not None and self._elapsed >= deadline:
                        return []
                    if self._busy == 0 and self._advance():
                        stalled_since = time.monotonic()
                        continue
                    self._cond.wait(REAL_POLL_SECONDS)
                    if time.monotonic() - stalled_since > STALL_SECONDS:
                        raise ReplayClockStalled(f"an event loop waited {STALL_SECONDS:g} s (busy={self._busy})")
            finally:
                self._deadlines.pop(loop, None)
                self._busy += 1


class _VirtualSelector(selectors.BaseSelector):
    def __init__(self, real: selectors.BaseSelector, loop: VirtualEventLoop, clock: VirtualClock) -> None:
        self._real, self._loop, self._clock = real, loop, clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return self._real.select(0)
        return self._clock.idle_select(self._loop, self._real, timeout)  # type: ignore[no-any-return]

    def close(self) -> None:
        self._real.close()

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Any:
        return self._real.get_map()


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An event loop on the replay clock (see the module docstring)."""

    def __init__(self, clock: VirtualClock) -> None:
        self._virtual_clock = clock
        real = selectors.DefaultSelector()
        super().__init__(real)
        self._selector = _VirtualSelector(real, self, clock)
        clock._loops.add(self)

    def time(self) -> float:
        return self._virtual_clock.monotonic()

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:  # type: ignore[override]
        # Rounded up to the grid: a sleep shorter than asyncio's clock resolution would otherwise be due at once,
        # and a loop that sleeps until "a hair later" (a pacer) would spin without virtual time ever moving on.
        # The tick count is rounded first so that float noise (0.1 / 1e-6 = 100000.00000000001) does not lift a
        # timer on the grid to the next point.
        when = math.ceil(round(when / TIMER_QUANTUM_SECONDS, 6)) * TIMER_QUANTUM_SECONDS
        return super().call_at(when, callback, *args, context=context)

    def call_later(self, delay: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:  # type: ignore[override]
        # A positive delay is due strictly later, on the next grid point at the least. `now + delay` for a delay
        # below the float resolution at `now` (a pacer's `ahead - lead` of 1e-17 s) is `now` itself, and rounding
        # cannot lift it: the timer would be due at once, forever, and the clock would never move again.
        now = self.time()
        when = now + delay
        if delay > 0:
            when = max(when, (round(now / TIMER_QUANTUM_SECONDS) + 1) * TIMER_QUANTUM_SECONDS)
        return self.call_at(when, callback, *args, context=context)

    def run_forever(self) -> None:
        self._virtual_clock._loop_starts()
        try:
            super().run_forever()
        finally:
            self._virtual_clock._loop_stops()


_participant = threading.local()


@contextmanager
def participant() -> Iterator[None]:
    """Mark this thread as part of the replayed call: event loops it creates run on the replay clock (threads
    of other things in the process, such as the agent server's, keep real time)."""
    before = getattr(_participant, "value", False)
    _participant.value = True
    try:
        yield
    finally:
        _participant.value = before


class VirtualLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """New event loops of participant threads run on `clock` while this policy is installed."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        if getattr(_participant, "value", False):
            return VirtualEventLoop(self._clock)
        return super().new_event_loop()


def _running_clock() -> VirtualClock | None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop._virtual_clock if isinstance(loop, VirtualEventLoop) else None


_submit = futures.ThreadPoolExecutor.submit
_run_work_item = futures.thread._WorkItem.run


def _held_submit(self: futures.ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Work a virtual loop hands to a thread pool holds the clock until the pool thread is done with it."""
    clock = _running_clock()
    if clock is None:
        return _submit(self, fn, *args, **kwargs)

    def job() -> Any:
        return fn(*args, **kwargs)

    job._replay_clock = clock  # type: ignore[attr-defined]
    clock._acquire()
    try:
        return _submit(self, job)
    except BaseException:
        clock._release()
        raise


def _run_then_release(self: Any) -> None:
    clock = getattr(self.fn, "_replay_clock", None)
    try:
        _run_work_item(self)  # the job, then the future's done-callbacks (which hand the result to the loop)
    finally:
        if clock is not None:
            clock._release()


@contextmanager
def virtual_loops(clock: VirtualClock) -> Iterator[None]:
    """Install `VirtualLoopPolicy` for the block (loops made inside it keep the clock after it ends), and let
    thread-pool work of virtual loops hold the clock."""
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(VirtualLoopPolicy(clock))
    futures.ThreadPoolExecutor.submit = _held_submit  # type: ignore[method-assign,assignment]
    futures.thread._WorkItem.run = _run_then_release  # type: ignore[method-assign]
    try:
        yield
    finally:
        futures.ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign]
        futures.thread._WorkItem.run = _run_work_item  # type: ignore[method-assign]
        asyncio.set_event_loop_policy(previous)
