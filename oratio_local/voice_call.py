"""A short spoken call through the voice bridge, entirely local: a Twilio-shaped caller, the bridge, the
Nova Sonic stand-in over HTTP/2 + TLS through the real SDK client, and the tenant agent served on
127.0.0.1 answering Sonic's tool call. What `make demo` shows as its last step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from agentcore.tenant_agent.client import HttpAgentClient
from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder
from oratio.adapters.nova_sonic import NovaSonicSessionFactory, build_client
from oratio.voice_bridge.bridge import CallContext, CallOutcome, VoiceCall
from oratio.voice_bridge.cascaded import CascadedSessionFactory
from oratio.voice_bridge.config import BridgeSettings, SonicSettings, ToolSpec
from oratio.voice_bridge.ports import SpeechSessionFactory
from oratio.voice_bridge.serializers import TwilioSerializer
from oratio_local.phone import TwilioCaller
from oratio_local.sonic_standin import Scenario, SonicStandIn, ToolUse, Turn
from oratio_local.speech import ScriptedRecognizer, ToneSynthesizer

SCRIPT = [
    Turn(
        heard="Do you have a queen down comforter?",
        reply="Let me check. Here is what I found: {tool_summary}",
        tool=ToolUse(name="knowledge_search", arguments={"query": "queen down comforter"}),
    ),
    Turn(heard="Great, thanks. Bye!", reply="Thanks for calling Cozy Comfort. Goodbye!"),
]


@dataclass
class SpokenCall:
    outcome: CallOutcome
    recorder: InMemoryConversationRecorder
    tenant_id: str
    call_id: str
    frames_heard: int
    sonic_events: list[str]


async def spoken_call(tenant_id: str, agent_base_url: str) -> SpokenCall:
    settings = BridgeSettings(
        tenant_id=tenant_id,
        agent_id="front-desk",
        system_prompt="You are the business's phone assistant.",
        tools=(
            ToolSpec(
                name="knowledge_search",
                description="Search the business's knowledge",
                input_schema={"type": "object", "properties": {"query": {"type": "string"}}},
            ),
        ),
        playback_speed=20.0,
    )
    recorder, ledger = InMemoryConversationRecorder(), InMemoryBudgetLedger()
    async with SonicStandIn(Scenario(turns=SCRIPT)) as sonic, HttpAgentClient(agent_base_url) as agent:
        sonic_settings = SonicSettings(endpoint_uri=sonic.endpoint)
        settings = settings.model_copy(update={"sonic": sonic_settings})
        client = await build_client(
            sonic_settings,
            ca_file=sonic.ca_file,
            aws_access_key_id="LOCAL",
            aws_secret_access_key="LOCAL",  # noqa: S106 - the stand-in does not check signatures
        )

        def ladder(context: CallContext) -> list[SpeechSessionFactory]:
            return [
                NovaSonicSessionFactory(client, sonic_settings, settings.sample_rate),
                CascadedSessionFactory(
                    settings,
                    ScriptedRecognizer(),
                    agent,
                    ToneSynthesizer(),
                    call_id=lambda: context.call_id,
                    customer=context.customer,
                ),
            ]

        caller = TwilioCaller(speed=10.0)
        call = VoiceCall(
            settings,
            TwilioSerializer(),
            caller.receive_from_bridge,
            ladder=ladder,
            agent=agent,
            synthesizer=ToneSynthesizer(),
            recorder=recorder,
            ledger=ledger,
        )

        def answered(turns: int) -> Callable[[], bool]:
            return lambda: sum(session.turns_answered for session in sonic.sessions) >= turns

        async def talk() -> None:
            await caller.dial()
            for turn in range(1, len(SCRIPT) + 1):
                await caller.say()
                await caller.wait_for(answered(turn), timeout=20)
                await caller.wait_for(lambda: call.output.queued_frames == 0, timeout=20)  # reply played out
            await caller.hang_up()

        try:
            side = asyncio.create_task(talk())
            outcome = await call.run(caller.messages())
            await side
        finally:
            await client.close()
        return SpokenCall(
            outcome, recorder, tenant_id, caller.call_id, caller.heard.audio_frames, sonic.sessions[0].events
        )


def print_spoken_call(result: SpokenCall) -> None:
    events = result.sonic_events
    print(f"  Nova Sonic stand-in received: {', '.join(dict.fromkeys(e.split(':')[0] for e in events))}")
    for turn in result.recorder.turns(result.tenant_id, result.call_id):
        print(f"\n  caller: {turn.user_text}")
        print(f"  agent:  {turn.reply_text[:160]}")
        if turn.tools:
            print(f"  [tools via the tenant agent: {', '.join(turn.tools)}]")
    kinds = [e.kind for e in result.recorder.events(result.tenant_id, result.call_id)]
    print(
        f"\n  [{result.frames_heard} Twilio media frames played; events recorded: {', '.join(kinds)}; "
        f"speech cost ${result.outcome.cost_usd:.5f}; ended: {result.outcome.reason}]"
    )


def run(tenant_id: str, agent_base_url: str) -> SpokenCall:
    return asyncio.run(spoken_call(tenant_id, agent_base_url))


__all__ = ["SpokenCall", "print_spoken_call", "run", "spoken_call"]
