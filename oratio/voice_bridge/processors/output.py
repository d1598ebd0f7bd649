"""The caller output: agent audio re-framed and paced to the caller; a barge-in (or the agent being stopped
mid-reply) flushes what is queued."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from oratio.voice_bridge.audio import Framer, frame_bytes, seconds_of_pcm
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import (
    AgentAudio,
    Clear,
    Direction,
    Frame,
    Interruption,
    Lifecycle,
    Mark,
    Start,
    Stop,
    TurnEnd,
)
from oratio.voice_bridge.pipeline import FrameProcessor, loop_time
from oratio.voice_bridge.processors.tasks import BackgroundTasks
from oratio.voice_bridge.serializers import FrameSerializer, WireMessage

Clock = Callable[[], float]


class CallerOutput(FrameProcessor):
    """The last step: agent audio cut into 20 ms frames, sent to the caller at playback pace (at most
    `playback_lead_seconds` ahead, so the provider holds little that a barge-in must clear). An
    Interruption drops every queued frame at once and tells the provider to clear what it holds."""

    def __init__(
        self,
        settings: BridgeSettings,
        serializer: FrameSerializer,
        send: Callable[[WireMessage], Awaitable[None]],
        *,
        clock: Clock = loop_time,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._serializer = serializer
        self._send = send
        self._clock = clock
        # Wire messages ready to send: a speech chunk is serialized when it arrives (one codec pass for all its
        # frames), and a barge-in drops whatever is still queued.
        self._queue: deque[WireMessage] = deque()
        self._framer: Framer | None = None
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.call_id = ""
        self._tasks = BackgroundTasks("CallerOutput", lambda: self.call_id)
        self.frames_sent = 0
        self.frames_dropped = 0
        # Seconds from a speech chunk's arrival (nothing queued before it) to its first frame on the wire.
        self.latencies: list[float] = []
        self._closing = False
        self._first_of_chunk: float | None = None

    @property
    def queued_frames(self) -> int:
        """Frames waiting to be sent (0 once the reply so far has been played out)."""
        return len(self._queue)

    def _framer_for(self) -> Framer:
        if self._framer is None:
            self._framer = Framer(frame_bytes(self._serializer.sample_rate))
        return self._framer

    async def start(self) -> None:
        self._tasks.spawn(self._sender(), "caller-output")

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, Start):
            self.call_id = frame.call_id
        elif isinstance(frame, AgentAudio):
            self._enqueue(frame)
        elif isinstance(frame, TurnEnd):
            rest = self._framer_for().flush()
            if rest is not None:
                self._queue.append(self._serializer.serialize_audio(rest))
                self._wake()
        elif isinstance(frame, Interruption | Lifecycle):
            await self._flush_for_barge_in()
        elif isinstance(frame, Stop):
            await self._drain_then_close()
        elif isinstance(frame, Mark | Clear):
            message = self._serializer.serialize_control(frame)
            if message is not None:
                await self._send(message)
            return
        await self.push(frame, direction)

    def _enqueue(self, audio: AgentAudio) -> None:
        frames = self._framer_for().push(audio.pcm)
        if not frames:
            return
        if audio.created_at and not self._queue:
            # Only a chunk that finds nothing queued is timed: a later one waits behind audio still playing.
            self._first_of_chunk = audio.created_at
        self._queue.extend(self._serializer.serialize_audio_frames(frames))
        self._wake()

    def _wake(self) -> None:
        self._idle.clear()
        self._ready.set()

    async def _flush_for_barge_in(self) -> None:
        self.frames_dropped += len(self._queue)
        self._queue.clear()
        self._framer_for().drop()
        self._idle.set()
        message = self._serializer.serialize_control(Clear())
        if message is not None:
            await self._send(message)

    async def _drain_then_close(self) -> None:
        # The caller hears the end of the last reply (the apology, a goodbye) before the line closes.
        rest = self._framer_for().flush()
        if rest is not None:
            self._queue.append(self._serializer.serialize_audio(rest))
            self._wake()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(
                seconds_of_pcm(
                    len(self._queue) * frame_bytes(self._serializer.sample_rate), self._serializer.sample_rate
                )
                / self.settings.playback_speed
                + 2
            ):
                await self._idle.wait()
        self._closing = True

    async def stop(self) -> None:
        await self._tasks.stop()

    async def _sender(self) -> None:
        frame_seconds = 0.02 / self.settings.playback_speed
        lead = self.settings.playback_lead_seconds / self.settings.playback_speed
        timeline = 0.0  # when the caller will have heard everything sent so far
        while True:
            if not self._queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            now = self._clock()
            timeline = max(timeline, now)
            ahead = timeline - now
            if ahead > lead:
                await asyncio.sleep(ahead - lead)
                continue
            message = self._queue.popleft()
            first = self._first_of_chunk
            if first is not None:
                self.latencies.append(self._clock() - first)
                self._first_of_chunk = None
            await self._send(message)
            self.frames_sent += 1
            timeline += frame_seconds
