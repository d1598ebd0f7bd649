"""The caller output: agent audio re-framed and paced to the caller; a barge-in (or the agent being stopped
mid-reply) flushes what is queued. Being where audio leaves for the caller, it also times each turn as the
caller hears it (their final transcript to the first frame back on the wire) and counts failovers, for the
bridge's CloudWatch metrics."""

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
    Fallback,
    Frame,
    Interruption,
    Lifecycle,
    Mark,
    Renew,
    Start,
    Stop,
    Transcript,
    TurnEnd,
)
from oratio.voice_bridge.metrics import BridgeMetrics
from oratio.voice_bridge.pipeline import FrameProcessor, loop_time
from oratio.voice_bridge.processors.tasks import BackgroundTasks
from oratio.voice_bridge.serializers import FrameSerializer, WireMessage

Clock = Callable[[], float]


class CallerOutput(FrameProcessor):
    """The last step: agent audio cut into 20 ms frames, sent to the caller at playback pace (at most
    `playback_lead_seconds` ahead, so the provider holds little that a barge-in must clear). An
    Interruption drops every queued frame at once and tells the provider to clear what it holds.

    `metrics` gets each turn's latency (the caller's final transcript to the first frame sent after it, with the
    speech in use) and each failover (a Fallback down the ladder, or a failed session replaced by a fresh one)."""

    def __init__(
        self,
        settings: BridgeSettings,
        serializer: FrameSerializer,
        send: Callable[[WireMessage], Awaitable[None]],
        *,
        clock: Clock = loop_time,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._metrics = metrics or BridgeMetrics.silent()
        self._speech = "sonic"
        self._caller_done: float | None = None  # when the caller's turn ended, until the first frame back
        self._older_frames = 0  # frames of an earlier reply still queued when the caller's turn ended
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
        elif isinstance(frame, Transcript):
            if frame.role == "user" and frame.final and frame.text.strip():
                self._caller_done = self._clock()  # the latest final line: the caller may add to their turn
                self._older_frames = len(self._queue)
        elif isinstance(frame, Fallback):
            self._metrics.failover(to=frame.to, reason=frame.reason, call_id=self.call_id)
            if frame.to != "apology":
                self._speech = frame.to
        elif isinstance(frame, Renew) and frame.failover:
            self._metrics.failover(to=self._speech, reason=frame.reason, call_id=self.call_id)
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
        self._older_frames = 0
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
            if self._older_frames:
                self._older_frames -= 1  # the end of the previous reply, not the answer to this turn
            elif self._caller_done is not None:
                turn_ms = (self._clock() - self._caller_done) * 1000
                self._caller_done = None
                self._metrics.turn_latency(turn_ms, speech=self._speech, call_id=self.call_id)
            self.frames_sent += 1
            timeline += frame_seconds
