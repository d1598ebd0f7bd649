"""Shared set-up for the voice bridge tests: the Sonic stand-in, the real SDK client pointed at it, the
tenant agent served on 127.0.0.1 in local mode, and a call wired the way the bridge runtime wires one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentcore.tenant_agent import app as agent_app
from agentcore.tenant_agent.client import HttpAgentClient
from agentcore.tenant_agent.wiring import RuntimeSettings, build_engine
from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder
from oratio.adapters.nova_sonic import NovaSonicSessionFactory, build_client
from oratio.voice_bridge.bridge import CallContext, CallOutcome, VoiceCall
from oratio.voice_bridge.cascaded import CascadedSessionFactory
from oratio.voice_bridge.config import BridgeSettings, SonicSettings, ToolSpec
from oratio.voice_bridge.metrics import BridgeMetrics
from oratio.voice_bridge.ports import SpeechSessionFactory
from oratio.voice_bridge.processors import AgentCheck
from oratio.voice_bridge.serializers import FrameSerializer, TwilioSerializer
from oratio_local.agent_server import serve_on_loopback
from oratio_local.phone import LocalCaller
from oratio_local.sonic_standin import SonicStandIn
from oratio_local.speech import ScriptedRecognizer, ToneSynthesizer

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
TENANT = "cozy-comfort"
KNOWLEDGE_TOOL = ToolSpec(
    name="knowledge_search",
    description="Search the business's knowledge",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)


def bridge_settings(sample_rate: int = 8_000, **sonic: Any) -> BridgeSettings:
    return BridgeSettings(
        tenant_id=TENANT,
        agent_id="front-desk",
        system_prompt="You are Cozy Comfort's phone assistant.",
        tools=(KNOWLEDGE_TOOL,),
        sample_rate=sample_rate,
        sonic=SonicSettings(**{"open_timeout_seconds": 3.0, **sonic}),
        holding_after_seconds=5.0,
        playback_speed=50.0,
    )


@dataclass
class Rig:
    sonic: SonicStandIn
    agent: HttpAgentClient
    recorder: InMemoryConversationRecorder
    ledger: InMemoryBudgetLedger
    recognizer: ScriptedRecognizer
    synthesizer: ToneSynthesizer

    async def call(
        self,
        caller: LocalCaller,
        settings: BridgeSettings,
        script: Any,
        serializer: FrameSerializer | None = None,
        agent_check: AgentCheck | None = None,
        metrics: BridgeMetrics | None = None,
    ) -> tuple[CallOutcome, VoiceCall]:
        """Run one call: `script(caller, call)` plays the caller's side, then the caller hangs up."""
        serializer = serializer or TwilioSerializer()
        endpoint = settings.sonic.model_copy(update={"endpoint_uri": self.sonic.endpoint})
        settings = settings.model_copy(update={"sonic": endpoint})
        client = await build_client(
            endpoint, ca_file=self.sonic.ca_file, aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local"
        )
        call_holder: list[VoiceCall] = []

        def ladder(context: CallContext) -> list[SpeechSessionFactory]:
            return [
                NovaSonicSessionFactory(client, endpoint, settings.sample_rate),
                CascadedSessionFactory(
                    settings,
                    self.recognizer,
                    self.agent,
                    self.synthesizer,
                    call_id=lambda: context.call_id,
                    customer=context.customer,
                ),
            ]

        call = VoiceCall(
            settings,
            serializer,
            caller.receive_from_bridge,
            ladder=ladder,
            agent=self.agent,
            synthesizer=self.synthesizer,
            recorder=self.recorder,
            ledger=self.ledger,
            agent_check=agent_check,
            metrics=metrics,
        )
        call_holder.append(call)

        async def caller_side() -> None:
            await caller.dial()
            await script(caller, call)
            await caller.hang_up()

        try:
            side = asyncio.create_task(caller_side())
            outcome = await asyncio.wait_for(call.run(caller.messages()), 30)
            if not side.done():
                side.cancel()
            results = await asyncio.gather(side, return_exceptions=True)
            if results and isinstance(results[0], BaseException) and not isinstance(results[0], asyncio.CancelledError):
                raise results[0]
        finally:
            await client.close()
        return outcome, call


@asynccontextmanager
async def rig(
    sonic: SonicStandIn,
    *,
    lines: list[str] | None = None,
    recognizer_fails: bool = False,
    synthesizer_fails: bool = False,
) -> AsyncIterator[Rig]:
    agent_app.set_engine(build_engine(RuntimeSettings(local_mode=True, tenant_id=TENANT, tenants_dir=TENANTS)))
    try:
        with serve_on_loopback(agent_app.app) as base_url:
            async with sonic, HttpAgentClient(base_url) as agent:
                yield Rig(
                    sonic=sonic,
                    agent=agent,
                    recorder=InMemoryConversationRecorder(),
                    ledger=InMemoryBudgetLedger(),
                    recognizer=ScriptedRecognizer(lines, fail=recognizer_fails),
                    synthesizer=ToneSynthesizer(fail=synthesizer_fails),
                )
    finally:
        agent_app.set_engine(None)
