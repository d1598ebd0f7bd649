"""One call through the bridge: the transport's messages in, the pipeline, the provider's messages out.

    Pipeline([
        SpeechStage(...),   # Nova Sonic (renewed, degraded to cascaded, then an apology)
        LifecycleGate(...), # the agent paused or stopped mid-call: its line, then handover or end (when checked)
        ToolRelay(...),     # Sonic's toolUse answered by the tenant agent, off the audio path
        CallRecorder(...),  # FINAL transcripts, tool calls, interruptions, renewals, usage and cost
        CallerOutput(...),  # 20 ms frames at playback pace; barge-in flushes the queue; turn latency metrics
        CallEnd(),          # notices that the bridge itself ended the call
    ])

The transport (AgentCore's WebSocket, or a local socket) only moves wire messages; the serializer turns
them into frames and back. Nothing here knows which provider is on the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from oratio.agent.contracts import CustomerIdentity
from oratio.agent.ports import BudgetLedger, ConversationRecorder
from oratio.voice_bridge.audio import apology_asset
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import Direction, Frame, Start, Stop
from oratio.voice_bridge.metrics import BridgeMetrics
from oratio.voice_bridge.pipeline import FrameProcessor, Pipeline
from oratio.voice_bridge.ports import SpeechError, SpeechSessionFactory, SpeechSynthesizer
from oratio.voice_bridge.processors import AgentCheck, CallerOutput, CallRecorder, LifecycleGate, SpeechStage, ToolRelay
from oratio.voice_bridge.serializers import FrameSerializer, WireFormatError, WireMessage

logger = logging.getLogger(__name__)


@dataclass
class CallContext:
    """Who is on the line, known once the provider's start message arrives."""

    call_id: str = ""
    caller: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    def customer(self) -> CustomerIdentity | None:
        return CustomerIdentity(kind="phone", value=self.caller) if self.caller else None


class CallEnd(FrameProcessor):
    """The pipeline's tail: a Stop reaching it means the call is over (whoever ended it)."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = asyncio.Event()
        self.reason = ""

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, Stop) and not self.ended.is_set():
            self.reason = frame.reason
            self.ended.set()


@dataclass
class CallOutcome:
    call_id: str
    reason: str
    renewals: int
    speech: str
    frames_sent: int
    frames_dropped: int
    cost_usd: float


# Builds the speech ladder for one call (Sonic first, then cascaded), given the call's context.
LadderFactory = Callable[[CallContext], list[SpeechSessionFactory]]


class VoiceCall:
    """Everything one call needs; `run` returns when the call is over."""

    def __init__(
        self,
        settings: BridgeSettings,
        serializer: FrameSerializer,
        send: Callable[[WireMessage], Awaitable[None]],
        *,
        ladder: LadderFactory,
        agent: Any,
        synthesizer: SpeechSynthesizer | None,
        recorder: ConversationRecorder,
        ledger: BudgetLedger,
        agent_check: AgentCheck | None = None,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        """`metrics`: where the call's CloudWatch metrics go (EMF lines on stdout when deployed; none if left out)."""
        self.settings = settings
        self.serializer = serializer
        self.context = CallContext()
        self._synthesizer = synthesizer
        self.speech = SpeechStage(settings, ladder(self.context), self._apology)
        self.lifecycle = LifecycleGate(settings, agent_check, synthesizer) if agent_check is not None else None
        self.tools = ToolRelay(
            settings, agent, synthesizer, call_id=lambda: self.context.call_id, customer=self.context.customer
        )
        self.recorder = CallRecorder(settings, recorder, ledger)
        self.output = CallerOutput(settings, serializer, send, metrics=metrics)
        self.end = CallEnd()
        gate: list[FrameProcessor] = [self.lifecycle] if self.lifecycle is not None else []
        self.pipeline = Pipeline([self.speech, *gate, self.tools, self.recorder, self.output, self.end])

    async def _apology(self) -> bytes:
        if self._synthesizer is not None:
            with contextlib.suppress(SpeechError):
                return await self._synthesizer.synthesize(self.settings.apology_text, self.settings.sample_rate)
        return apology_asset(self.settings.sample_rate)

    async def run(self, messages: AsyncIterator[WireMessage]) -> CallOutcome:
        await self.pipeline.start()
        reader = asyncio.create_task(self._feed(messages))
        ended = asyncio.create_task(self.end.ended.wait())
        try:
            await asyncio.wait({reader, ended}, return_when=asyncio.FIRST_COMPLETED)
            if not self.end.ended.is_set():
                await self.pipeline.queue_frame(Stop("caller_hung_up"))
        finally:
            reader.cancel()
            ended.cancel()
            await asyncio.gather(reader, ended, return_exceptions=True)
            await self.pipeline.stop()
        return CallOutcome(
            call_id=self.context.call_id,
            reason=self.end.reason,
            renewals=self.speech.renewals,
            speech=self.speech.ladder[self.speech.rung].kind if self.end.reason != "speech_unavailable" else "apology",
            frames_sent=self.output.frames_sent,
            frames_dropped=self.output.frames_dropped,
            cost_usd=self.recorder.cost_usd,
        )

    async def _feed(self, messages: AsyncIterator[WireMessage]) -> None:
        async for message in messages:
            try:
                frame = self.serializer.deserialize(message)
            except WireFormatError as e:
                logger.warning("voice_bridge.bad_message", extra={"error": str(e)})
                continue
            if frame is None:
                continue
            if isinstance(frame, Start):
                self.context.call_id = frame.call_id
                self.context.parameters = dict(frame.parameters)
                self.context.caller = frame.parameters.get("caller") or frame.parameters.get("from") or None
            await self.pipeline.queue_frame(frame)
            if isinstance(frame, Stop):
                return
