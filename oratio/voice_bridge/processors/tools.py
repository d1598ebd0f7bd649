"""The tool relay: Nova Sonic's tool calls answered by the tenant agent, off the audio path.

A session that fails while a tool runs is replaced by one that asks for the same tool again (it is answering the
same carried turn): an identical call (same tool, same arguments) within `tool_reuse_seconds` gets the first
run's result, so a tool never runs twice for one question, and a lookup slower than Sonic waits is not lost.
"""

from __future__ import annotations

import asyncio
import json
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
from oratio.voice_bridge.pipeline import FrameProcessor, loop_time
from oratio.voice_bridge.ports import SpeechError, SpeechSynthesizer
from oratio.voice_bridge.processors.tasks import BackgroundTasks

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
        clock: Callable[[], float] = loop_time,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._agent = agent
        self._synthesizer = synthesizer
        self._call_id = call_id
        self._customer = customer
        self._clock = clock
        self._tasks = BackgroundTasks("ToolRelay", call_id)
        self._holding: bytes | None = None
        # (tool, arguments) -> (when asked, the run answering it): a repeat within the reuse window joins it.
        self._runs: dict[tuple[str, str], tuple[float, asyncio.Task[ToolResultFrame]]] = {}
        self._handed_off: set[asyncio.Task[ToolResultFrame]] = set()
        self.reused = 0

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, ToolCallFrame) and direction is Direction.DOWNSTREAM:
            self._tasks.spawn(self._run(frame), f"tool-{frame.name}")
        await self.push(frame, direction)

    async def stop(self) -> None:
        await self._tasks.stop()
        for _, run in self._runs.values():
            run.cancel()

    async def _run(self, call: ToolCallFrame) -> None:
        run = self._run_for(call)
        done, _ = await asyncio.wait({run}, timeout=self.settings.holding_after_seconds)
        if not done:
            await self._say_holding_line()
        answer = await asyncio.shield(run)
        result = ToolResultFrame(call.tool_use_id, call.name, answer.status, answer.content)
        await self.push(result, Direction.UPSTREAM)  # to the speech session
        await self.push(result, Direction.DOWNSTREAM)  # to the recorder
        if result.status == "ok" and "handoff" in result.content and run not in self._handed_off:
            self._handed_off.add(run)  # one handoff per run, however many calls it answered
            handoff = result.content["handoff"]
            await self.push(
                Transfer(str(handoff.get("reason", "")), str(handoff.get("summary", ""))), Direction.DOWNSTREAM
            )

    def _run_for(self, call: ToolCallFrame) -> asyncio.Task[ToolResultFrame]:
        """The run answering this call: a recent identical call's, or a new one."""
        now = self._clock()
        window = self.settings.tool_reuse_seconds
        self._runs = {key: entry for key, entry in self._runs.items() if now - entry[0] <= window}
        key = (call.name, json.dumps(call.arguments, sort_keys=True, default=str))
        if key in self._runs:
            self.reused += 1
            logger.info("voice_bridge.tool_call_joined", extra={"call_id": self._call_id(), "tool": call.name})
            return self._runs[key][1]
        run = asyncio.create_task(self._bounded(call), name=f"tool-run-{call.name}")
        self._runs[key] = (now, run)
        return run

    async def _bounded(self, call: ToolCallFrame) -> ToolResultFrame:
        """The tool's result, a timeout result past `tool_timeout_seconds`, or an error result: never a raise."""
        try:
            async with asyncio.timeout(self.settings.tool_timeout_seconds):
                return await self._invoke(call)
        except TimeoutError:
            return ToolResultFrame(call.tool_use_id, call.name, "timeout", {"error": "the tool took too long"})
        except Exception:
            logger.exception("voice_bridge.tool_failed", extra={"call_id": self._call_id(), "tool": call.name})
            return ToolResultFrame(call.tool_use_id, call.name, "error", {"error": "the tool failed"})

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
            logger.warning("voice_bridge.holding_line_unavailable", extra={"call_id": self._call_id()})
            return
        await self.push(AgentAudio(self._holding, self.settings.sample_rate, source="holding"), Direction.DOWNSTREAM)
        await self.push(TurnEnd("HOLDING"), Direction.DOWNSTREAM)
