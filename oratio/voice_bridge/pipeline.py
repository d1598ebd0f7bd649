"""Small frame processors chained as a `Pipeline([...])` (pipecat's model, our own code).

Each processor handles the frames it knows and pushes the rest on in the same direction. Pushing is
a direct await on the neighbour, so a frame crosses the whole chain without queue hops; processors
that must not block the chain (speech sessions, tools, paced output) run their own tasks.
"""

from __future__ import annotations

import asyncio
import logging
from itertools import pairwise

from oratio.voice_bridge.frames import Direction, Frame

logger = logging.getLogger(__name__)


def loop_time() -> float:
    """The running event loop's clock: the processors' default (`time.monotonic` on a standard loop), so a call
    replayed on a virtual clock paces and times out in that clock's seconds."""
    return asyncio.get_running_loop().time()


class FrameProcessor:
    """One step of the call. Override `process`; call `push` for what goes on."""

    def __init__(self) -> None:
        self._next: FrameProcessor | None = None
        self._prev: FrameProcessor | None = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def link(self, nxt: FrameProcessor) -> None:
        self._next = nxt
        nxt._prev = self

    async def process(self, frame: Frame, direction: Direction) -> None:
        """Handle `frame`; the default passes it on untouched."""
        await self.push(frame, direction)

    async def push(self, frame: Frame, direction: Direction = Direction.DOWNSTREAM) -> None:
        target = self._next if direction is Direction.DOWNSTREAM else self._prev
        if target is not None:
            await target.process(frame, direction)

    async def start(self) -> None:
        """Start background work (called once, first to last, before any frame)."""

    async def stop(self) -> None:
        """Stop background work and release resources (called once, last to first)."""


class _Edge(FrameProcessor):
    """The pipeline's own ends: frames leaving it are handed to the pipeline's neighbours."""

    def __init__(self, owner: Pipeline, direction: Direction) -> None:
        super().__init__()
        self._owner = owner
        self._direction = direction

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is self._direction:
            await self._owner.push(frame, direction)


class Pipeline(FrameProcessor):
    """Processors in order, itself a processor (so pipelines nest)."""

    def __init__(self, processors: list[FrameProcessor]) -> None:
        super().__init__()
        if not processors:
            raise ValueError("a pipeline needs at least one processor")
        self.processors = processors
        self._head = _Edge(self, Direction.UPSTREAM)
        self._tail = _Edge(self, Direction.DOWNSTREAM)
        chain: list[FrameProcessor] = [self._head, *processors, self._tail]
        for left, right in pairwise(chain):
            left.link(right)

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWNSTREAM:
            await self.processors[0].process(frame, direction)
        else:
            await self.processors[-1].process(frame, direction)

    async def queue_frame(self, frame: Frame) -> None:
        """Feed a frame in at the top (what the transport does with every inbound message)."""
        await self.process(frame, Direction.DOWNSTREAM)

    async def start(self) -> None:
        for processor in self.processors:
            await processor.start()

    async def stop(self) -> None:
        for processor in reversed(self.processors):
            try:
                await processor.stop()
            except Exception:
                logger.exception("voice_bridge.processor_stop_failed", extra={"processor": processor.name})
