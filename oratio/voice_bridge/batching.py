"""Caller audio joined into fewer, larger speech events.

Telephony delivers the caller's audio in 20 ms frames; sent one by one, each would be a Nova Sonic
`audioInput` event that the SDK serializes, SigV4-signs and writes on its own, which is most of what a call
costs the bridge (see `make bench`, section `voice_calls`). The batcher joins consecutive frames into one
event of `chunk_bytes` and never holds a partial batch longer than `max_delay_seconds` after its first
frame arrived, so the end of an utterance reaches the speech model at most that much later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class AudioBatcher:
    """Collects PCM pushed in any chunk size and hands `send` batches of at least `chunk_bytes`, in order."""

    def __init__(self, chunk_bytes: int, max_delay_seconds: float, send: Callable[[bytes], Awaitable[None]]) -> None:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        self.chunk_bytes = chunk_bytes
        self.max_delay_seconds = max_delay_seconds
        self._send = send
        self._parts: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._late: asyncio.Task[None] | None = None

    @property
    def pending_bytes(self) -> int:
        return self._size

    async def push(self, pcm: bytes) -> None:
        if not pcm:
            return
        self._parts.append(pcm)
        self._size += len(pcm)
        if self._size >= self.chunk_bytes:
            await self.flush()
        elif self._timer is None:
            # The first frame of a batch starts its clock: the batch leaves by then, full or not.
            self._timer = asyncio.get_running_loop().call_later(self.max_delay_seconds, self._flush_late)

    async def flush(self) -> None:
        """Send whatever is pending now (a partial batch too)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._parts:
            return
        batch = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts, self._size = [], 0
        await self._send(batch)

    def _flush_late(self) -> None:
        self._timer = None
        self._late = asyncio.create_task(self.flush(), name="caller-audio-late-batch")

    def close(self) -> None:
        """Forget pending audio and stop the timer (the call is over)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._parts, self._size = [], 0
