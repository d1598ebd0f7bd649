"""The call's record, kept like the Connect path's: FINAL transcripts as turns, and tool calls, interruptions,
renewals, fallbacks, lifecycle changes and usage as events; speech cost goes to the budget ledger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from oratio.agent.ports import AgentEventRecord, BudgetLedger, ConversationRecorder, TurnRecord
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

logger = logging.getLogger(__name__)


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
    ) -> None:
        super().__init__()
        self.settings = settings
        self._recorder = recorder
        self._ledger = ledger
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

    def _observe(self, frame: Frame) -> None:
        if isinstance(frame, Start):
            self.call_id = frame.call_id
        elif isinstance(frame, Transcript) and frame.final and frame.text.strip():
            if frame.role == "user":
                self._user_text.append(frame.text.strip())
            else:
                self._write(self._turn(frame.text.strip()))
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
            self._track(
                self._ledger.add(
                    self.settings.tenant_id, self._now(), "audio", _ledger_item(self.settings.sonic.model_id), cost
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
        """Wait for every write, then record the call's usage (one event, totals)."""
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
