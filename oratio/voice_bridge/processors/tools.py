"""The tool relay: Nova Sonic's tool calls answered by the tenant agent, off the audio path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
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
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import AgentAudio, Direction, Frame, ToolCallFrame, ToolResultFrame, Transfer, TurnEnd
from oratio.voice_bridge.pipeline import FrameProcessor
from oratio.voice_bridge.ports import SpeechError, SpeechSynthesizer
from oratio.voice_bridge.processors.tasks import cancel as _cancel
from oratio.voice_bridge.processors.tasks import spawn as _spawn

logger = logging.getLogger("oratio.voice_bridge.processors")


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
