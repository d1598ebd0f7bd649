"""Nova Sonic on the replay clock. The SDK's transport (awscrt) moves the bidirectional stream's bytes on native
threads the replay clock cannot see, so while an event is between the bridge and the Sonic stand-in the event
loop looks idle and the clock would jump ahead (a session open would time out in virtual seconds that were
milliseconds of real time). `InFlight` counts the event messages on the wire, per session, and holds the clock
while any is: the bridge's sends until the stand-in has read them, the stand-in's writes until the bridge has
received them, and a stream's opening and closing until they return. A closed stream's count is dropped. A
session the stand-in refuses at open (Sonic unavailable) never has its events read: its count is dropped, and
the refusal's end (written once the stand-in stops draining the request) is held until the client's open fails
on it (else the bridge's open timeout could run out in virtual time while the refusal is on a native thread).
"""

from __future__ import annotations

import threading
from typing import Any

from oratio_local.replay.clock import VirtualClock

# Real seconds a closed stream's output end is waited for before the clock is let go anyway (it comes in
# milliseconds; past this the bridge's own bounded wait, in virtual time, decides as it would deployed).
END_WAIT_REAL_SECONDS = 1.0


class InFlight:
    """The stand-in's `WireObserver`, and the per-session counts the client side adds to."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self._closed: set[int] = set()
        self._refused: set[int] = set()
        self._ending: set[int] = set()  # the input is closed: the output's end is on its way
        self._ended: set[int] = set()
        self._held = False
        self.opened = 0

    def _change(self, session: int, delta: int) -> None:
        with self._lock:
            if session in self._closed:
                return
            self._counts[session] = max(0, self._counts.get(session, 0) + delta)
            self._settle()

    def _settle(self) -> None:
        busy = any(self._counts.values())
        if busy and not self._held:
            self._clock._acquire()
            self._held = True
        elif not busy and self._held:
            self._clock._release()
            self._held = False

    def close(self, session: int) -> None:
        with self._lock:
            self._closed.add(session)
            if session in self._ending and session not in self._ended:
                self._counts[session] = 1  # only the output's end is still awaited
            else:
                self._counts.pop(session, None)
            self._settle()

    def awaiting_end(self, session: int) -> None:
        """The client closed its input: the stand-in ends the output next, over the native transport; the
        bridge waits for that end (bounded in virtual time), so the clock is held until it arrives."""
        with self._lock:
            if session in self._ending or session in self._closed:
                return
            self._ending.add(session)
            self._counts[session] = self._counts.get(session, 0) + 1
            self._settle()
        timer = threading.Timer(END_WAIT_REAL_SECONDS, self.ended, args=(session,))
        timer.daemon = True
        timer.start()

    def ended(self, session: int) -> None:
        """The stream's output ended (or the real-time bound passed)."""
        with self._lock:
            if session not in self._ending or session in self._ended:
                return
            self._ended.add(session)
            if session in self._closed:
                self._counts.pop(session, None)
            else:
                self._counts[session] = max(0, self._counts.get(session, 0) - 1)
            self._settle()

    # the stand-in's side
    def refused(self, session: int) -> None:
        with self._lock:
            self._refused.add(session)
            self._counts[session] = 0  # what the client sent on it will never be read
            self._settle()

    def read(self, session: int) -> None:
        self._change(session, -1)

    def written(self, session: int) -> None:
        self._change(session, +1)

    # the client's side
    def sending(self, session: int) -> None:
        if session not in self._refused:  # a refused session's events are drained unread
            self._change(session, +1)

    def received(self, session: int) -> None:
        self._change(session, -1)


class ClockedSonicClient:
    """The SDK's `AsyncBedrockRuntimeClient`, with each bidirectional stream counted by `InFlight`."""

    def __init__(self, client: Any, flight: InFlight) -> None:
        self._client, self._flight = client, flight

    async def invoke_model_with_bidirectional_stream(self, request: Any) -> Any:
        self._flight.opened += 1
        number = self._flight.opened
        try:
            with self._flight._clock.busy():  # the connection and the request reach the stand-in
                stream = await self._client.invoke_model_with_bidirectional_stream(request)
        except BaseException:
            self._flight.close(number)  # a stream that did not open has nothing more on the wire
            raise
        return _Stream(stream, self._flight, number)

    async def close(self) -> None:
        with self._flight._clock.busy():  # the connection's TLS close reaches the stand-in
            await self._client.close()


class _Input:
    def __init__(self, inner: Any, flight: InFlight, number: int) -> None:
        self._inner, self._flight, self._number = inner, flight, number

    async def send(self, chunk: Any) -> None:
        self._flight.sending(self._number)
        await self._inner.send(chunk)

    async def close(self) -> None:
        with self._flight._clock.busy():
            await self._inner.close()
        if self.output_open:
            self._flight.awaiting_end(self._number)

    output_open = False  # set once the response's output is being read, cleared when it ends


class _Output:
    def __init__(self, inner: Any, flight: InFlight, number: int, input_stream: _Input) -> None:
        self._inner, self._flight, self._number = inner, flight, number
        self._input = input_stream
        input_stream.output_open = True

    async def receive(self) -> Any:
        try:
            event = await self._inner.receive()
        except Exception:  # a modelled exception event is a message received too, and the output's end
            self._flight.received(self._number)
            self._end()
            raise
        if event is None:
            self._end()
        else:
            self._flight.received(self._number)
        return event

    def _end(self) -> None:
        self._input.output_open = False
        self._flight.ended(self._number)


class _Stream:
    def __init__(self, inner: Any, flight: InFlight, number: int) -> None:
        self._inner, self._flight, self._number = inner, flight, number
        self.input_stream = _Input(inner.input_stream, flight, number)

    async def await_output(self) -> Any:
        # The response's headers are on their way back: counted like a message (not a plain hold), so that a
        # refused session's count can be dropped while its refusal waits for the stand-in to stop draining.
        self._flight.sending(self._number)
        try:
            response, output = await self._inner.await_output()
        except BaseException:
            self._flight.close(self._number)  # refused or broken at open: nothing more on the wire
            raise
        self._flight.received(self._number)
        return response, _Output(output, self._flight, self._number, self.input_stream)

    async def close(self) -> None:
        self._flight.close(self._number)
        with self._flight._clock.busy():
            await self._inner.close()
