"""The speech stage: the call's speech session (Nova Sonic, renewed before its limit, degraded down the ladder).

A session can fail loudly (an error event, a reset connection) or quietly: a stream that stops sending mid-reply
with no error. A watchdog notices the quiet kind: no event from Sonic within `stall_timeout_seconds` while a reply
is due (the caller's turn was heard, or a reply or a tool result is under way; not while a tool runs) means the
stream is stalled, and it is failed over like a broken one. On every failover the caller's turn that was not
answered yet is carried into the next session, as the caller's words, so it is answered rather than lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from oratio.voice_bridge.audio import frame_bytes
from oratio.voice_bridge.batching import AudioBatcher
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import (
    AgentAudio,
    CallerAudio,
    Direction,
    ErrorFrame,
    Fallback,
    Frame,
    Renew,
    Start,
    Stop,
    ToolCallFrame,
    ToolResultFrame,
    Transcript,
    TurnEnd,
)
from oratio.voice_bridge.pipeline import FrameProcessor, loop_time
from oratio.voice_bridge.ports import HistoryLine, SpeechError, SpeechSession, SpeechSessionFactory
from oratio.voice_bridge.processors.tasks import BackgroundTasks

logger = logging.getLogger("oratio.voice_bridge.processors")

# Sessions of one kind that may fail before the call moves down the ladder (Sonic sessions also end at
# their time limit, which is a failure the next session of the same kind repairs).
MAX_SAME_KIND_FAILURES = 2
# How long a closed session's output may take to end before its reader is cancelled.
READER_DRAIN_SECONDS = 2.0
# The watchdog looks this many times per stall timeout (so a stall is noticed within a quarter of it late).
WATCH_CHECKS_PER_TIMEOUT = 4
# Closing a session is two bounded steps (its closing events, then the stream), each within close_timeout.
CLOSE_STEPS = 2
# Stop reasons after which the agent owes the caller nothing until they speak again.
TURN_DONE = frozenset({"END_TURN", "INTERRUPTED"})

Clock = Callable[[], float]


class SpeechStage(FrameProcessor):
    """Holds the call's speech session: Nova Sonic first, renewed before its time limit, degraded down the
    ladder (another Sonic session with the conversation so far, then cascaded, then a spoken apology) when
    a session cannot open, dies or stalls. Caller audio is buffered whenever no session can take it, and
    replayed into the next one, so none is lost across a switch; a caller turn the failed session had heard but
    not answered is sent to the next one as text.
    """

    def __init__(
        self,
        settings: BridgeSettings,
        ladder: list[SpeechSessionFactory],
        apology: Callable[[], Awaitable[bytes]],
        *,
        clock: Clock = loop_time,
    ) -> None:
        super().__init__()
        if not ladder:
            raise ValueError("the speech ladder needs at least one session factory")
        self.settings = settings
        self.ladder = ladder
        self._apology = apology
        self._clock = clock
        self.session: SpeechSession | None = None
        self.rung = 0
        self.renewals = 0
        self.history: list[HistoryLine] = []
        self._opened_at = 0.0
        self._buffer: list[bytes] = []
        self._switching = False
        self._ended = False
        self.call_id = ""
        self._tasks = BackgroundTasks("SpeechStage", lambda: self.call_id)
        self._reader: asyncio.Task[Any] | None = None
        # What the watchdog and a failover need to know about the current turn.
        self._awaiting_reply = False  # the caller was heard, or a reply is under way
        self._last_event = 0.0  # when the current session last sent anything (or was last given something)
        self._asked_tools: set[str] = set()  # tool calls of the current session still waiting for their result
        self._unanswered: list[str] = []  # the caller's FINAL lines since the agent last finished a reply
        self._failed: list[SpeechSession] = []  # sessions failed over: whatever they still send is dropped
        self.stalls = 0
        self._switch_lock = asyncio.Lock()
        self._failures = 0
        # The last audio sent to the current session: a session that dies may not have taken in what was
        # sent just before the bridge noticed, so a failover replays it (a little repeated beats lost).
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0
        self._replay_limit = int(settings.sample_rate * 2 * settings.failover_replay_seconds)
        chunk_ms = settings.caller_audio_chunk_ms
        self._batcher = AudioBatcher(frame_bytes(settings.sample_rate, chunk_ms), chunk_ms / 1000, self._caller_audio)

    @property
    def buffered_bytes(self) -> int:
        return sum(len(chunk) for chunk in self._buffer)

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, CallerAudio):
            await self._batcher.push(frame.pcm)
        elif isinstance(frame, ToolResultFrame):
            await self._tool_result(frame)
        elif isinstance(frame, Start):
            self.call_id = frame.call_id
            await self.push(frame, direction)
            await self._switch(reason="call_start", first=True)
            self._tasks.spawn(self._force_renewal_timer(), "sonic-force-renewal")
        elif isinstance(frame, Stop):
            await self._end()
            await self.push(frame, direction)
        else:
            await self.push(frame, direction)

    async def stop(self) -> None:
        await self._end()

    # ----------------------------------------------------------------------------------- audio
    async def _caller_audio(self, pcm: bytes) -> None:
        session = self.session
        if self._switching or session is None:
            if not self._ended:
                self._buffer.append(pcm)
            return
        try:
            await session.send_audio(pcm)
            self._remember(pcm)
        except SpeechError as e:
            self._buffer.append(pcm)
            logger.warning("voice_bridge.send_failed", extra={"call_id": self.call_id, "error": type(e).__name__})
            self._tasks.spawn(self._failover(session, "send_failed"), "speech-failover")

    def _remember(self, pcm: bytes) -> None:
        self._recent.append(pcm)
        self._recent_bytes += len(pcm)
        while self._recent and self._recent_bytes - len(self._recent[0]) >= self._replay_limit:
            self._recent_bytes -= len(self._recent.popleft())

    async def _tool_result(self, frame: ToolResultFrame) -> None:
        session = self.session
        if session is None:
            return
        if frame.tool_use_id not in self._asked_tools:
            # Asked by a session that has failed since: the one now speaking never asked (it asks again, and the
            # tool relay answers that from this same run).
            logger.info(
                "voice_bridge.tool_result_for_failed_session",
                extra={"call_id": self.call_id, "tool": frame.name, "tool_use_id": frame.tool_use_id},
            )
            return
        self._asked_tools.discard(frame.tool_use_id)
        self._awaiting_reply, self._last_event = True, self._clock()  # the reply to the result is due now
        try:
            await session.send_tool_result(frame.tool_use_id, frame.content)
        except SpeechError:
            self._tasks.spawn(self._failover(session, "tool_result_failed"), "speech-failover")

    # ---------------------------------------------------------------------------------- reading
    async def _read(self, session: SpeechSession) -> None:
        try:
            async for frame in session.frames():
                if session in self._failed:
                    continue  # a failed-over session that wakes up again: its turn is being answered elsewhere
                if session is self.session:
                    self._note(frame)
                await self.push(frame, Direction.DOWNSTREAM)
                if isinstance(frame, TurnEnd) and frame.stop_reason != "TOOL_USE" and self._renewal_due():
                    self._tasks.spawn(self._renew(session, "turn_boundary"), "speech-renewal")
        except SpeechError as e:
            if session is self.session and not self._ended:
                logger.warning("voice_bridge.session_failed", extra={"call_id": self.call_id, "error": str(e)})
                await self.push(ErrorFrame("speech_session_failed", str(e)), Direction.DOWNSTREAM)
                self._tasks.spawn(self._failover(session, "session_failed"), "speech-failover")
            return
        if session is self.session and not self._ended:
            # The session ended without being asked to: treat it like a failure (Sonic closes at its limit).
            self._tasks.spawn(self._failover(session, "session_ended"), "speech-failover")

    def _note(self, frame: Frame) -> None:
        """Keep track of the turn: what the watchdog watches for and what a failover carries."""
        self._last_event = self._clock()
        if isinstance(frame, Transcript) and frame.final and frame.text.strip():
            text = frame.text.strip()
            self.history.append(HistoryLine(role=frame.role, text=text))
            if frame.role == "user":
                self._unanswered.append(text)
                self._awaiting_reply = True
                # The audio before this line is accounted for by it: a failover carries the words, not the sound.
                self._recent.clear()
                self._recent_bytes = 0
            else:
                self._unanswered.clear()
        elif isinstance(frame, AgentAudio):
            self._awaiting_reply = True
        elif isinstance(frame, ToolCallFrame):
            self._asked_tools.add(frame.tool_use_id)
        elif isinstance(frame, TurnEnd) and frame.stop_reason in TURN_DONE:
            self._awaiting_reply = False

    async def _watch(self, session: SpeechSession) -> None:
        """Fail the session over when it goes quiet while a reply is due (not while a tool it asked for runs)."""
        timeout = self.settings.sonic.stall_timeout_seconds
        while session is self.session and not self._ended:
            await asyncio.sleep(timeout / WATCH_CHECKS_PER_TIMEOUT)
            if session is not self.session or self._ended or self._switching:
                return
            silent = self._clock() - self._last_event
            if self._awaiting_reply and not self._asked_tools and silent >= timeout:
                self.stalls += 1
                logger.warning(
                    "voice_bridge.stream_stalled",
                    extra={"call_id": self.call_id, "kind": session.kind, "silent_seconds": round(silent, 2)},
                )
                await self.push(
                    ErrorFrame(
                        "speech_stalled", f"no event from {session.kind} for {silent:.1f} s while a reply was due"
                    ),
                    Direction.DOWNSTREAM,
                )
                await self._failover(session, "stalled")
                return

    # ---------------------------------------------------------------------------------- renewal
    def _renewal_due(self) -> bool:
        session = self.session
        return (
            session is not None
            and session.kind == "sonic"
            and self._clock() - self._opened_at >= self.settings.sonic.renew_after_seconds
        )

    async def _force_renewal_timer(self) -> None:
        while not self._ended:
            session = self.session
            if session is not None and session.kind == "sonic":
                left = self.settings.sonic.force_renew_after_seconds - (self._clock() - self._opened_at)
                if left <= 0:
                    # No turn boundary came in time: renew now rather than let Sonic cut the call.
                    await self._renew(session, "forced")
                    continue
                await asyncio.sleep(min(left, 1.0))
            else:
                await asyncio.sleep(1.0)

    async def _renew(self, old: SpeechSession, reason: str) -> None:
        if old is not self.session or self._ended:
            return
        await self._switch(reason=reason, retire=old, renewal=True)

    async def _failover(self, failed: SpeechSession, reason: str) -> None:
        if failed is not self.session or self._ended:
            return
        await self._switch(reason=reason, retire=failed, failed=True)

    async def _switch(
        self,
        *,
        reason: str,
        retire: SpeechSession | None = None,
        first: bool = False,
        renewal: bool = False,
        failed: bool = False,
    ) -> None:
        """Open the next session and make it current; audio is buffered from now until it takes over."""
        async with self._switch_lock:
            if self._ended or (retire is not None and retire is not self.session):
                return
            self._switching = True
            old = self.session
            if failed:
                self.session = None
                self._buffer[:0] = list(self._recent)
                if old is not None:
                    self._failed.append(old)
            carried = list(self._unanswered) if failed else []
            history = self.history[: len(self.history) - len(carried)]
            self._recent.clear()
            self._recent_bytes = 0
            started = self._clock()
            # A renewal, or a session's first failure (Sonic also ends sessions at its time limit), opens a
            # fresh session of the same kind with the conversation so far; repeated failures move down.
            if failed:
                self._failures += 1
            first_rung = self.rung + 1 if failed and self._failures > MAX_SAME_KIND_FAILURES else self.rung
            opened: SpeechSession | None = None
            for rung in range(first_rung, len(self.ladder)):
                factory = self.ladder[rung]
                try:
                    opened = await factory.open(self.settings.system_prompt, history, self.settings.tools)
                except SpeechError as e:
                    logger.warning(
                        "voice_bridge.open_failed",
                        extra={"call_id": self.call_id, "kind": factory.kind, "error": str(e)},
                    )
                    continue
                if rung != self.rung:
                    await self.push(Fallback(to=factory.kind, reason=reason), Direction.DOWNSTREAM)
                elif renewal or (failed and not first):
                    self.renewals += 1
                    renewed = Renew(self.renewals, self.buffered_bytes, reason, failover=failed)
                    await self.push(renewed, Direction.DOWNSTREAM)
                self.rung = rung
                break
            if opened is None:
                self._switching = False
                await self._give_up(reason)
                return
            # Replay what the caller said during the switch, carry the turn the failed session left unanswered,
            # then hand the live audio over.
            buffered, self._buffer = self._buffer, []
            self._asked_tools.clear()
            try:
                for chunk in buffered:
                    await opened.send_audio(chunk)
                if carried:
                    await opened.send_text(" ".join(carried))
            except SpeechError:
                self._buffer = buffered
                self.session = opened
                self._switching = False
                self._tasks.spawn(self._failover(opened, "replay_failed"), "speech-failover")
                return
            self.session = opened
            self._opened_at = self._last_event = self._clock()
            self._awaiting_reply = self._awaiting_reply or bool(carried)
            self._switching = False
            self._reader = self._tasks.spawn(self._read(opened), f"speech-reader-{opened.kind}")
            if opened.kind == "sonic":
                self._tasks.spawn(self._watch(opened), "sonic-watchdog")
            logger.info(
                "voice_bridge.session_open",
                extra={
                    "call_id": self.call_id,
                    "kind": opened.kind,
                    "reason": reason,
                    "carried_turn": bool(carried),
                    "switch_ms": round((self._clock() - started) * 1000, 1),
                },
            )
        if old is not None and old is not self.session:
            self._tasks.spawn(old.close(), "speech-close-old")

    async def _give_up(self, reason: str) -> None:
        """Nothing can speak for the agent: say sorry, then end the call. Never silence."""
        self._ended = True
        await self.push(Fallback(to="apology", reason=reason), Direction.DOWNSTREAM)
        try:
            pcm = await self._apology()
        except Exception:
            logger.exception("voice_bridge.apology_failed", extra={"call_id": self.call_id})
            pcm = b""
        if pcm:
            await self.push(AgentAudio(pcm, self.settings.sample_rate, source="apology"), Direction.DOWNSTREAM)
            await self.push(TurnEnd("END_TURN"), Direction.DOWNSTREAM)
        await self.push(Stop("speech_unavailable"), Direction.DOWNSTREAM)

    async def _end(self) -> None:
        if not self._ended:
            await self._batcher.flush()  # the caller's last words still reach the session before it closes
        self._batcher.close()
        self._ended = True
        session, self.session = self.session, None
        if session is not None:
            # Close first: the session's output then ends by itself and its reader returns, rather than
            # being cancelled mid-receive (which leaves the HTTP/2 stream's pending read dangling). Bounded: a
            # stalled or dead stream must not keep a call open after the caller hung up.
            try:
                async with asyncio.timeout(CLOSE_STEPS * self.settings.sonic.close_timeout_seconds):
                    await session.close()
            except Exception:
                logger.warning("voice_bridge.close_failed", extra={"call_id": self.call_id, "kind": session.kind})
            reader = self._reader
            if reader is not None and reader is not asyncio.current_task():
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(reader), READER_DRAIN_SECONDS)
        self._tasks.cancel_all()
