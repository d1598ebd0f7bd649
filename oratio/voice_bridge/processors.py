"""The call's processors, in pipeline order: speech (Nova Sonic, renewal, fallback) → tool relay (the tenant
agent) → recorder (what is persisted) → caller output (paced frames, barge-in flush).

Each handles the frames it knows and passes the rest on. Work that must not hold up the chain (reading a
speech session, a tool call, paced output) runs in tasks each processor owns and stops in `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from oratio.agent.contracts import (
    CustomerIdentity,
    EndCall,
    ErrorEvent,
    Handoff,
    InvocationRequest,
    ToolRequest,
    ToolResultEvent,
)
from oratio.config.tenant import Channel
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
    Transfer,
    TurnEnd,
)
from oratio.voice_bridge.pipeline import FrameProcessor
from oratio.voice_bridge.ports import HistoryLine, SpeechError, SpeechSession, SpeechSessionFactory, SpeechSynthesizer

logger = logging.getLogger(__name__)

# Sessions of one kind that may fail before the call moves down the ladder (Sonic sessions also end at
# their time limit, which is a failure the next session of the same kind repairs).
MAX_SAME_KIND_FAILURES = 2
# How long a closed session's output may take to end before its reader is cancelled.
READER_DRAIN_SECONDS = 2.0

Clock = Callable[[], float]


def _spawn(tasks: set[asyncio.Task[Any]], coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    task = asyncio.create_task(coro, name=name)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def _cancel(tasks: set[asyncio.Task[Any]]) -> None:
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ------------------------------------------------------------------------------------------- speech
class SpeechStage(FrameProcessor):
    """Holds the call's speech session: Nova Sonic first, renewed before its time limit, degraded down the
    ladder (another Sonic session with the conversation so far, then cascaded, then a spoken apology) when
    a session cannot open or dies. Caller audio is buffered whenever no session can take it, and replayed
    into the next one, so none is lost across a switch.
    """

    def __init__(
        self,
        settings: BridgeSettings,
        ladder: list[SpeechSessionFactory],
        apology: Callable[[], Awaitable[bytes]],
        *,
        clock: Clock = time.monotonic,
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
        self._replying = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[Any] | None = None
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
            await self.push(frame, direction)
            await self._switch(reason="call_start", first=True)
            _spawn(self._tasks, self._force_renewal_timer(), "sonic-force-renewal")
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
            logger.warning("voice_bridge.send_failed", extra={"error": type(e).__name__})
            _spawn(self._tasks, self._failover(session, "send_failed"), "speech-failover")

    def _remember(self, pcm: bytes) -> None:
        self._recent.append(pcm)
        self._recent_bytes += len(pcm)
        while self._recent and self._recent_bytes - len(self._recent[0]) >= self._replay_limit:
            self._recent_bytes -= len(self._recent.popleft())

    async def _tool_result(self, frame: ToolResultFrame) -> None:
        session = self.session
        if session is None:
            return
        try:
            await session.send_tool_result(frame.tool_use_id, frame.content)
        except SpeechError:
            _spawn(self._tasks, self._failover(session, "tool_result_failed"), "speech-failover")

    # ---------------------------------------------------------------------------------- reading
    async def _read(self, session: SpeechSession) -> None:
        try:
            async for frame in session.frames():
                if isinstance(frame, Transcript) and frame.final and frame.text.strip():
                    self.history.append(HistoryLine(role=frame.role, text=frame.text.strip()))
                if isinstance(frame, AgentAudio):
                    self._replying = True
                await self.push(frame, Direction.DOWNSTREAM)
                if isinstance(frame, TurnEnd) and frame.stop_reason != "TOOL_USE":
                    self._replying = False
                    if self._renewal_due():
                        _spawn(self._tasks, self._renew(session, "turn_boundary"), "speech-renewal")
        except SpeechError as e:
            if session is self.session and not self._ended:
                logger.warning("voice_bridge.session_failed", extra={"error": str(e)})
                await self.push(ErrorFrame("speech_session_failed", str(e)), Direction.DOWNSTREAM)
                _spawn(self._tasks, self._failover(session, "session_failed"), "speech-failover")
            return
        if session is self.session and not self._ended:
            # The session ended without being asked to: treat it like a failure (Sonic closes at its limit).
            _spawn(self._tasks, self._failover(session, "session_ended"), "speech-failover")

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
                    opened = await factory.open(self.settings.system_prompt, list(self.history), self.settings.tools)
                except SpeechError as e:
                    logger.warning("voice_bridge.open_failed", extra={"kind": factory.kind, "error": str(e)})
                    continue
                if rung != self.rung:
                    await self.push(Fallback(to=factory.kind, reason=reason), Direction.DOWNSTREAM)
                elif renewal or (failed and not first):
                    self.renewals += 1
                    await self.push(Renew(self.renewals, self.buffered_bytes, reason), Direction.DOWNSTREAM)
                self.rung = rung
                break
            if opened is None:
                self._switching = False
                await self._give_up(reason)
                return
            # Replay what the caller said during the switch, then hand the live audio over.
            buffered, self._buffer = self._buffer, []
            try:
                for chunk in buffered:
                    await opened.send_audio(chunk)
            except SpeechError:
                self._buffer = buffered
                self.session = opened
                self._switching = False
                _spawn(self._tasks, self._failover(opened, "replay_failed"), "speech-failover")
                return
            self.session = opened
            self._opened_at = self._clock()
            self._switching = False
            self._reader = _spawn(self._tasks, self._read(opened), f"speech-reader-{opened.kind}")
            logger.info(
                "voice_bridge.session_open",
                extra={"kind": opened.kind, "reason": reason, "switch_ms": round((self._clock() - started) * 1000, 1)},
            )
        if old is not None and old is not self.session:
            _spawn(self._tasks, old.close(), "speech-close-old")

    async def _give_up(self, reason: str) -> None:
        """Nothing can speak for the agent: say sorry, then end the call. Never silence."""
        self._ended = True
        await self.push(Fallback(to="apology", reason=reason), Direction.DOWNSTREAM)
        try:
            pcm = await self._apology()
        except Exception:
            logger.exception("voice_bridge.apology_failed")
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
            # being cancelled mid-receive (which leaves the HTTP/2 stream's pending read dangling).
            await session.close()
            reader = self._reader
            if reader is not None and reader is not asyncio.current_task():
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(reader), READER_DRAIN_SECONDS)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()


# --------------------------------------------------------------------------------------------- tools
class ToolRelay(FrameProcessor):
    """Answers the speech model's tool calls with the tenant agent, off the audio path. A tool that takes
    longer than `holding_after_seconds` gets the spoken holding line; one that fails or overruns its
    deadline still gets a typed error result, so the model never waits forever."""

    def __init__(
        self,
        settings: BridgeSettings,
        agent: Any,  # agentcore.tenant_agent.client.AgentClient
        synthesizer: SpeechSynthesizer | None,
        *,
        call_id: Callable[[], str],
        customer: Callable[[], CustomerIdentity | None],
    ) -> None:
        super().__init__()
        self.settings = settings
        self._agent = agent
        self._synthesizer = synthesizer
        self._call_id = call_id
        self._customer = customer
        self._tasks: set[asyncio.Task[Any]] = set()
        self._holding: bytes | None = None

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, ToolCallFrame) and direction is Direction.DOWNSTREAM:
            _spawn(self._tasks, self._run(frame), f"tool-{frame.name}")
        await self.push(frame, direction)

    async def stop(self) -> None:
        await _cancel(self._tasks)

    async def _run(self, call: ToolCallFrame) -> None:
        work = asyncio.create_task(self._invoke(call))
        try:
            done, _ = await asyncio.wait({work}, timeout=self.settings.holding_after_seconds)
            if not done:
                await self._say_holding_line()
            async with asyncio.timeout(self.settings.tool_timeout_seconds):
                result = await work
        except TimeoutError:
            work.cancel()
            result = ToolResultFrame(call.tool_use_id, call.name, "timeout", {"error": "the tool took too long"})
        except Exception:
            logger.exception("voice_bridge.tool_failed", extra={"tool": call.name})
            result = ToolResultFrame(call.tool_use_id, call.name, "error", {"error": "the tool failed"})
        await self.push(result, Direction.UPSTREAM)  # to the speech session
        await self.push(result, Direction.DOWNSTREAM)  # to the recorder
        if result.status == "ok" and "handoff" in result.content:
            handoff = result.content["handoff"]
            await self.push(
                Transfer(str(handoff.get("reason", "")), str(handoff.get("summary", ""))), Direction.DOWNSTREAM
            )

    async def _invoke(self, call: ToolCallFrame) -> ToolResultFrame:
        request = InvocationRequest(
            tenant_id=self.settings.tenant_id,
            agent_id=self.settings.agent_id,
            channel=Channel.VOICE,
            customer=self._customer(),
            session_id=self._call_id(),
            input=ToolRequest(tool_use_id=call.tool_use_id, name=call.name, arguments=call.arguments),
        )
        outcome: ToolResultFrame | None = None
        async for event in self._agent.invoke(request, self._call_id()):
            if isinstance(event, ToolResultEvent) and event.tool_use_id == call.tool_use_id:
                outcome = ToolResultFrame(call.tool_use_id, call.name, event.status, dict(event.content))
            elif isinstance(event, Handoff):
                outcome = ToolResultFrame(
                    call.tool_use_id, call.name, "ok", {"handoff": {"reason": event.reason, "summary": event.summary}}
                )
            elif isinstance(event, EndCall) and outcome is None:
                outcome = ToolResultFrame(call.tool_use_id, call.name, "ok", {"end_call": {"reason": event.reason}})
            elif isinstance(event, ErrorEvent) and outcome is None:
                outcome = ToolResultFrame(call.tool_use_id, call.name, "error", {"error": event.message})
        return outcome or ToolResultFrame(call.tool_use_id, call.name, "error", {"error": "the agent gave no result"})

    async def _say_holding_line(self) -> None:
        if self._synthesizer is None:
            return
        try:
            if self._holding is None:
                self._holding = await self._synthesizer.synthesize(
                    self.settings.holding_line, self.settings.sample_rate
                )
        except SpeechError:
            logger.warning("voice_bridge.holding_line_unavailable")
            return
        await self.push(AgentAudio(self._holding, self.settings.sample_rate, source="holding"), Direction.DOWNSTREAM)
        await self.push(TurnEnd("HOLDING"), Direction.DOWNSTREAM)
