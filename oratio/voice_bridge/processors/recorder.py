"""The call's record, kept like the Connect path's: FINAL transcripts as turns, and tool calls, interruptions,
renewals, fallbacks, lifecycle changes and usage as events; every metered use (Sonic tokens, and Polly characters
and Transcribe seconds of the cascaded fallback) goes to the ledger; the call, its turns and relayed tools are
OpenTelemetry spans."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Literal

from oratio.agent.ports import AgentEventRecord, BudgetLedger, ConversationRecorder, TurnRecord
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import Channel
from oratio.metering import Charge, CostCategory, Meter, record_charges
from oratio.retry import RetryPolicy, backoff_delay
from oratio.tracing import end_span, session_attributes, start_child
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import (
    Direction,
    Fallback,
    Frame,
    Interruption,
    Lifecycle,
    Renew,
    Start,
    ToolCallFrame,
    ToolResultFrame,
    Transcript,
    Transfer,
    Usage,
)
from oratio.voice_bridge.pipeline import FrameProcessor

logger = logging.getLogger("oratio.voice_bridge.processors")

# A throttled write is tried this many times in all, pausing up to 0.1, 0.2, 0.4 ... s (full jitter, at most 2 s).
RECORD_RETRY = RetryPolicy(attempts=6, base_seconds=0.1, cap_seconds=2.0)


class CallRecorder(FrameProcessor):
    """Persists the call like the Connect path does: FINAL transcripts as turns (caller line + agent reply),
    and tool calls, interruptions, renewals, fallbacks, lifecycle changes and usage as events; speech cost goes
    to the budget ledger. Writes run in tasks: a slow table never stalls audio. A failed write (DynamoDB
    throttling it) is retried with backoff, then logged with the call id, never fatal. A caller turn still
    unanswered when the call ends is recorded as a failed turn, so the transcript shows what the caller said."""

    def __init__(
        self,
        settings: BridgeSettings,
        recorder: ConversationRecorder,
        ledger: BudgetLedger,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
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
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not secrets
        self.retried_writes = 0
        self.failed_writes = 0
        self._turn_order = asyncio.Lock()
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
                self._write(self._turn(frame.text.strip(), failed=frame.failed))
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
        elif isinstance(frame, Lifecycle):
            self._event("lifecycle", {"status": frame.status, "action": frame.action, "version": frame.version})
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
        tenant, at, agent, session = self.settings.tenant_id, self._now(), self.settings.agent_id, self.call_id or None
        event = str(uuid.uuid4())  # one id for every retry of this write: a retried charge counts once
        self._write(
            self._retrying(
                lambda: record_charges(
                    self._ledger, charges, tenant_id=tenant, at=at, agent_id=agent, session_id=session, event_id=event
                ),
                "ledger",
            )
        )

    def _turn(self, reply: str, *, failed: bool = False, error: str | None = None) -> Coroutine[Any, Any, None]:
        user_text = " ".join(self._user_text) or None
        tools, self._tools, self._user_text = tuple(self._tools), [], []
        settings, at, kind = self.settings, self._now(), self._speech_kind
        outcome: Literal["ok", "fallback", "failed"] = "failed" if failed else "ok" if kind == "sonic" else "fallback"

        async def write() -> None:
            # Retried step by step (a retried sequence number would leave a gap, a retried turn would not), and one
            # turn after the other: a throttled turn must not let the next one take an earlier sequence number.
            async with self._turn_order:
                await write_in_order()

        async def write_in_order() -> None:
            sequence = await self._retrying(
                lambda: self._recorder.next_sequence(settings.tenant_id, self.call_id), "sequence"
            )
            if sequence is None:
                return
            record = TurnRecord(
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
                outcome=outcome,
                error=error,
                at=at,
            )
            await self._retrying(lambda: self._recorder.record_turn(record), "turn")

        return write()

    def _event(self, kind: str, detail: dict[str, Any]) -> None:
        event = AgentEventRecord(
            tenant_id=self.settings.tenant_id,
            session_id=self.call_id,
            kind=kind,  # type: ignore[arg-type]  # one of the Literal's voice-bridge kinds
            at=self._now(),
            detail=detail,
        )
        self._write(self._retrying(lambda: self._recorder.record_event(event), f"event:{kind}"))

    def _write(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(self._safely(coro))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _safely(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except Exception:
            self.failed_writes += 1
            logger.exception("voice_bridge.record_failed", extra={"call_id": self.call_id})

    async def _retrying[T](self, write: Callable[[], Awaitable[T]], what: str) -> T | None:
        """One write, retried with doubling, jittered pauses; None (logged with the call id) if every try failed."""
        for attempt in range(RECORD_RETRY.attempts):
            try:
                return await write()
            except Exception as e:
                if attempt + 1 == RECORD_RETRY.attempts:
                    self.failed_writes += 1
                    logger.exception(
                        "voice_bridge.record_failed",
                        extra={"call_id": self.call_id, "write": what, "attempts": attempt + 1},
                    )
                    return None
                self.retried_writes += 1
                logger.warning(
                    "voice_bridge.record_retry",
                    extra={"call_id": self.call_id, "write": what, "error": type(e).__name__, "attempt": attempt + 1},
                )
                await self._sleep(backoff_delay(RECORD_RETRY, attempt, self._rng.random))
        return None

    async def flush(self) -> None:
        """Record a caller turn the call ended on without an answer and the Transcribe time of a cascaded
        fallback, wait for every write, then record the call's usage (one event, totals), and end the call's spans."""
        if self.call_id and self._user_text:
            self._write(self._turn("", failed=True, error="the call ended before it was answered"))
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
