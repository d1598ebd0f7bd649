"""Lifecycle during a call: when the agent is paused, stopped or deleted while a caller is on the line, the caller
hears the agent's paused or closing line and is handed over (paused) or the call ends politely (stopped,
deleted), within one turn.

`LifecycleGate` sits right after the speech stage. At the call's start and after each of the caller's turns it
asks, off the audio path, whether the agent still takes conversations (a fresh read of its status). When it does
not: whatever the speech model says from then on is dropped, queued audio at the caller is flushed, the line is
spoken (synthesized; a tone if synthesis fails), the change is recorded (`Lifecycle`, and the line as the
agent's turn), a paused agent's call is handed over (`Transfer`), and the call ends (`Stop`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from oratio.agent_definitions.versions import LiveAgent
from oratio.domain.agents import AgentStatus
from oratio.voice_bridge.audio import apology_asset
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import (
    AgentAudio,
    Direction,
    Frame,
    Lifecycle,
    Start,
    Stop,
    ToolCallFrame,
    Transcript,
    Transfer,
    TurnEnd,
)
from oratio.voice_bridge.pipeline import FrameProcessor
from oratio.voice_bridge.ports import SpeechError, SpeechSynthesizer
from oratio.voice_bridge.processors import _cancel, _spawn

logger = logging.getLogger(__name__)

AgentCheck = Callable[[], Awaitable[LiveAgent]]
# What the speech model may still send once the agent is gone: none of it reaches the caller or the record.
_SILENCED = (AgentAudio, Transcript, ToolCallFrame, TurnEnd)
PAUSED_STOP = "agent_paused"
ENDED_STOP = "agent_stopped"


class LifecycleGate(FrameProcessor):
    """Checks the agent after each caller turn and closes the call when it no longer takes conversations."""

    def __init__(self, settings: BridgeSettings, check: AgentCheck, synthesizer: SpeechSynthesizer | None) -> None:
        super().__init__()
        self.settings = settings
        self._check = check
        self._synthesizer = synthesizer
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed_with: LiveAgent | None = None

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWNSTREAM:
            if self.closed_with is not None and isinstance(frame, _SILENCED):
                return
            if isinstance(frame, Start) or (
                isinstance(frame, Transcript) and frame.final and frame.role == "user" and frame.text.strip()
            ):
                _spawn(self._tasks, self._verify(), "agent-lifecycle-check")
        await self.push(frame, direction)

    async def stop(self) -> None:
        await _cancel(self._tasks)

    async def _verify(self) -> None:
        try:
            agent = await self._check()
        except Exception:
            # The call goes on: the definition source keeps the last good answer, and the next turn asks again.
            logger.exception("voice_bridge.lifecycle_check_failed")
            return
        if agent.takes_conversations or self.closed_with is not None:
            return
        self.closed_with = agent
        paused = agent.status is AgentStatus.PAUSED
        status = agent.status.value if agent.status is not None else "not_found"
        line = self.settings.paused_line if paused else self.settings.closing_line
        await self.push(Lifecycle(status, "handoff" if paused else "end", agent.version), Direction.DOWNSTREAM)
        # Pushed past this gate, so its own frames are not silenced.
        await self.push(Transcript(role="assistant", text=line, final=True), Direction.DOWNSTREAM)
        await self.push(AgentAudio(await self._speak(line), self.settings.sample_rate, source="lifecycle"))
        await self.push(TurnEnd("END_TURN"), Direction.DOWNSTREAM)
        if paused:
            await self.push(Transfer(f"agent {status}"), Direction.DOWNSTREAM)
        await self.push(Stop(PAUSED_STOP if paused else ENDED_STOP), Direction.DOWNSTREAM)

    async def _speak(self, line: str) -> bytes:
        if self._synthesizer is not None:
            try:
                return await self._synthesizer.synthesize(line, self.settings.sample_rate)
            except SpeechError:
                logger.warning("voice_bridge.lifecycle_line_unspoken")
        return apology_asset(self.settings.sample_rate)
