"""The call recorder: what a bridge call leaves in the conversation records and the budget ledger."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Literal

from oratio.agent.ports import AgentEventRecord, BudgetLedger, ConversationRecorder, TurnRecord
from oratio.agent.resilience import RetryPolicy, backoff_delay
from oratio.config.tenant import Channel
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
    ) -> None:
        super().__init__()
        self.settings = settings
        self._recorder = recorder
        self._ledger = ledger
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

    def _observe(self, frame: Frame) -> None:
        if isinstance(frame, Start):
            self.call_id = frame.call_id
        elif isinstance(frame, Transcript) and frame.final and frame.text.strip():
            if frame.role == "user":
                self._user_text.append(frame.text.strip())
            else:
                self._write(self._turn(frame.text.strip(), failed=frame.failed))
        elif isinstance(frame, ToolCallFrame):
            self._tools.append(frame.name)
            self._event(
                "tool_call", {"tool": frame.name, "tool_use_id": frame.tool_use_id, "arguments": frame.arguments}
            )
        elif isinstance(frame, ToolResultFrame):
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
        if cost > 0:
            tenant, at, item = self.settings.tenant_id, self._now(), _ledger_item(self.settings.sonic.model_id)
            self._write(self._retrying(lambda: self._ledger.add(tenant, at, "audio", item, cost), "ledger"))

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
        """Record a caller turn the call ended on without an answer, the call's usage (one event, totals), then
        wait for every write."""
        if self.call_id and self._user_text:
            self._write(self._turn("", failed=True, error="the call ended before it was answered"))
        if self.call_id and any(vars_of(self.usage)):
            self._event("usage", {**vars_of(self.usage), "cost_usd": round(self.cost_usd, 6)})
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def stop(self) -> None:
        await self.flush()


def vars_of(usage: Usage) -> dict[str, int]:
    return {
        "speech_input_tokens": usage.speech_input_tokens,
        "text_input_tokens": usage.text_input_tokens,
        "speech_output_tokens": usage.speech_output_tokens,
        "text_output_tokens": usage.text_output_tokens,
    }


def _ledger_item(model_id: str) -> str:
    # Ledger keys are "#"-separated; model ids never contain one, but be safe.
    return model_id.replace("#", "-")
