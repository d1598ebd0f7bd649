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
from datetime import UTC, datetime
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
from oratio.agent.ports import AgentEventRecord, BudgetLedger, ConversationRecorder, TurnRecord
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import Channel
from oratio.metering import Charge, CostCategory, Meter, record_charges
from oratio.tracing import end_span, session_attributes, start_child
from oratio.voice_bridge.audio import Framer, frame_bytes, seconds_of_pcm
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import (
    AgentAudio,
    CallerAudio,
    Clear,
    Direction,
    ErrorFrame,
    Fallback,
    Frame,
    Interruption,
    Mark,
    Renew,
    Start,
    Stop,
    ToolCallFrame,
    ToolResultFrame,
    Transcript,
    Transfer,
    TurnEnd,
    Usage,
)
from oratio.voice_bridge.pipeline import FrameProcessor
from oratio.voice_bridge.ports import HistoryLine, SpeechError, SpeechSession, SpeechSessionFactory, SpeechSynthesizer
from oratio.voice_bridge.serializers import FrameSerializer, WireMessage

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

    @property
    def buffered_bytes(self) -> int:
        return sum(len(chunk) for chunk in self._buffer)

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, CallerAudio):
            await self._caller_audio(frame.pcm)
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


# ------------------------------------------------------------------------------------------ recorder
class CallRecorder(FrameProcessor):
    """Persists the call like the Connect path does: FINAL transcripts as turns (caller line + agent reply),
    and tool calls, interruptions, renewals, fallbacks and usage as events; speech cost goes to the budget
    ledger. Writes run in tasks: a slow table never stalls audio. A failed write is logged, never fatal."""

    def __init__(
        self,
        settings: BridgeSettings,
        recorder: ConversationRecorder,
        ledger: BudgetLedger,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        meter: Meter | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._recorder = recorder
        self._ledger = ledger
        self._meter = meter or Meter(load_price_catalog(), load_model_catalog())
        self._cascaded_since: datetime | None = None
        # OpenTelemetry: the call, each caller-to-reply turn and each relayed tool (no-ops without an SDK).
        self._call_span: Any = None
        self._turn_span: Any = None
        self._tool_spans: dict[str, Any] = {}
        self._now = now
        self.call_id = ""
        self._user_text: list[str] = []
        self._tools: list[str] = []
        self._pending: set[asyncio.Task[Any]] = set()
        self._speech_kind = "sonic"
        self.caller_audio_bytes = 0
        self.usage = Usage()
        self.cost_usd = 0.0

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWNSTREAM:
            self._observe(frame)
        await self.push(frame, direction)

    @property
    def _trace_attributes(self) -> dict[str, str]:
        return session_attributes(
            session_id=self.call_id, tenant_id=self.settings.tenant_id, agent_id=self.settings.agent_id, channel="voice"
        )

    def _observe(self, frame: Frame) -> None:
        if isinstance(frame, Start):
            self.call_id = frame.call_id
            self._call_span = start_child(None, "oratio.bridge_call", self._trace_attributes)
        elif isinstance(frame, Transcript) and frame.final and frame.text.strip():
            if frame.role == "user":
                self._user_text.append(frame.text.strip())
                if self._turn_span is None:
                    self._turn_span = start_child(
                        self._call_span, "oratio.turn", {**self._trace_attributes, "oratio.speech": self._speech_kind}
                    )
            else:
                if self._turn_span is not None:
                    end_span(self._turn_span)
                    self._turn_span = None
                if self._speech_kind == "cascaded":  # Polly spoke it
                    self._charge(self._meter.polly_characters(self.settings.cascaded_voice_engine, frame.text))
                self._write(self._turn(frame.text.strip()))
        elif isinstance(frame, ToolCallFrame):
            self._tools.append(frame.name)
            self._tool_spans[frame.tool_use_id] = start_child(
                self._turn_span or self._call_span,
                f"oratio.tool {frame.name}",
                {**self._trace_attributes, "oratio.tool": frame.name},
            )
            self._event(
                "tool_call", {"tool": frame.name, "tool_use_id": frame.tool_use_id, "arguments": frame.arguments}
            )
        elif isinstance(frame, ToolResultFrame):
            span = self._tool_spans.pop(frame.tool_use_id, None)
            if span is not None:
                span.set_attribute("oratio.tool_status", frame.status)
                end_span(span, error=frame.status if frame.status != "ok" else None)
            self._event("tool_call", {"tool": frame.name, "tool_use_id": frame.tool_use_id, "status": frame.status})
        elif isinstance(frame, Interruption):
            self._event("interruption", {"speech": self._speech_kind})
        elif isinstance(frame, Renew):
            self._event(
                "renewal",
                {"session": frame.session_number, "buffered_bytes": frame.buffered_bytes, "reason": frame.reason},
            )
        elif isinstance(frame, Fallback):
            self._speech_kind = frame.to
            if frame.to == "cascaded" and self._cascaded_since is None:
                self._cascaded_since = self._now()
            self._event("fallback", {"to": frame.to, "reason": frame.reason})
        elif isinstance(frame, Transfer):
            self._event("handoff", {"reason": frame.reason, "summary": frame.summary})
        elif isinstance(frame, Usage):
            self._add_usage(frame)

    def _add_usage(self, usage: Usage) -> None:
        for name in ("speech_input_tokens", "text_input_tokens", "speech_output_tokens", "text_output_tokens"):
            setattr(self.usage, name, getattr(self.usage, name) + getattr(usage, name))
        cost = self.settings.prices.cost_usd(
            usage.speech_input_tokens, usage.text_input_tokens, usage.speech_output_tokens, usage.text_output_tokens
        )
        self.cost_usd += cost
        charge = Charge(
            CostCategory.SPEECH_TO_SPEECH,
            self.settings.sonic.model_id,
            usage.speech_input_tokens + usage.text_input_tokens + usage.speech_output_tokens + usage.text_output_tokens,
            "tokens",
            cost,
        )
        self._charge(charge)

    def _charge(self, *charges: Charge) -> None:
        """Spend of this call to the ledger (month, day, agent and the call's own breakdown), off the audio path."""
        self.cost_usd += sum(c.usd for c in charges if c.category is not CostCategory.SPEECH_TO_SPEECH)
        self._track(
            record_charges(
                self._ledger,
                charges,
                tenant_id=self.settings.tenant_id,
                at=self._now(),
                agent_id=self.settings.agent_id,
                session_id=self.call_id or None,
            )
        )

    def _turn(self, reply: str) -> Coroutine[Any, Any, None]:
        user_text = " ".join(self._user_text) or None
        tools, self._tools, self._user_text = tuple(self._tools), [], []
        settings, at, kind = self.settings, self._now(), self._speech_kind

        async def write() -> None:
            sequence = await self._recorder.next_sequence(settings.tenant_id, self.call_id)
            await self._recorder.record_turn(
                TurnRecord(
                    tenant_id=settings.tenant_id,
                    session_id=self.call_id,
                    agent_id=settings.agent_id,
                    channel=Channel.VOICE.value,
                    sequence=sequence,
                    user_text=user_text,
                    reply_text=reply,
                    model_id=settings.sonic.model_id if kind == "sonic" else None,
                    routing_reason=f"voice bridge ({kind})",
                    role="voice",
                    tools=tools,
                    outcome="ok" if kind == "sonic" else "fallback",
                    at=at,
                )
            )

        return write()

    def _event(self, kind: str, detail: dict[str, Any]) -> None:
        event = AgentEventRecord(
            tenant_id=self.settings.tenant_id,
            session_id=self.call_id,
            kind=kind,  # type: ignore[arg-type]  # one of the Literal's voice-bridge kinds
            at=self._now(),
            detail=detail,
        )
        self._track(self._recorder.record_event(event))

    def _write(self, coro: Coroutine[Any, Any, None]) -> None:
        self._track(coro)

    def _track(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(self._safely(coro))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _safely(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception:
            logger.exception("voice_bridge.record_failed", extra={"call_id": self.call_id})

    async def flush(self) -> None:
        """Wait for every write, then record the call's usage (one event, totals), and end the call's spans."""
        if self._cascaded_since is not None:
            # Transcribe is billed for the audio streamed to it: the caller's line from the switch to the end.
            seconds = (self._now() - self._cascaded_since).total_seconds()
            self._cascaded_since = None
            self._charge(self._meter.transcribe_stream(seconds))
        if self.call_id and any(vars_of(self.usage)):
            self._event("usage", {**vars_of(self.usage), "cost_usd": round(self.cost_usd, 6)})
        persistence = start_child(self._call_span, "oratio.persistence", self._trace_attributes)
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        end_span(persistence)
        for span in (*self._tool_spans.values(), self._turn_span, self._call_span):
            if span is not None:
                end_span(span)
        self._tool_spans, self._turn_span, self._call_span = {}, None, None

    async def stop(self) -> None:
        await self.flush()


def vars_of(usage: Usage) -> dict[str, int]:
    return {
        "speech_input_tokens": usage.speech_input_tokens,
        "text_input_tokens": usage.text_input_tokens,
        "speech_output_tokens": usage.speech_output_tokens,
        "text_output_tokens": usage.text_output_tokens,
    }


# ------------------------------------------------------------------------------------ caller output
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
        clock: Clock = time.perf_counter,
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
        self._tasks: set[asyncio.Task[Any]] = set()
        self.frames_sent = 0
        self.frames_dropped = 0
        self.latencies: list[float] = []  # seconds from a speech chunk's arrival to its first wire frame
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
        _spawn(self._tasks, self._sender(), "caller-output")

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, AgentAudio):
            self._enqueue(frame)
        elif isinstance(frame, TurnEnd):
            rest = self._framer_for().flush()
            if rest is not None:
                self._queue.append(self._serializer.serialize_audio(rest))
                self._wake()
        elif isinstance(frame, Interruption):
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
        if audio.created_at:
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
        await _cancel(self._tasks)

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
