"""A short spoken call through the voice bridge, entirely local: a Twilio-shaped caller, the bridge, the
Nova Sonic stand-in over HTTP/2 + TLS through the real SDK client, and the tenant agent served on
127.0.0.1 answering Sonic's tool call. The bridge speaks as the agent the call is for: its system prompt, tools,
voice and lines come from that agent's live definition (read from the local tables), and its status is checked
after each caller turn. The caller's lines come from the tenant's business. What `make demo` shows last."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass

from agentcore.tenant_agent.client import HttpAgentClient
from agentcore.voice_bridge.wiring import agent_definition, call_settings
from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder
from oratio.adapters.nova_sonic import NovaSonicSessionFactory, build_client
from oratio.agent_definitions.source import DefinitionSource
from oratio.config import TenantConfig
from oratio.voice_bridge.bridge import CallContext, CallOutcome, VoiceCall
from oratio.voice_bridge.cascaded import CascadedSessionFactory
from oratio.voice_bridge.config import SonicSettings
from oratio.voice_bridge.ports import SpeechSessionFactory
from oratio.voice_bridge.serializers import TwilioSerializer
from oratio_local.phone import TwilioCaller
from oratio_local.scripts import caller_lines
from oratio_local.sonic_standin import Scenario, SonicStandIn, ToolUse, Turn
from oratio_local.speech import ScriptedRecognizer, ToneSynthesizer


def script(tenant: TenantConfig) -> list[Turn]:
    """Two caller turns from the tenant's business: a product question Sonic answers with knowledge search (its
    first passage said as a sentence, never the tool's JSON), and a goodbye."""
    lines = caller_lines(tenant)
    return [
        Turn(
            heard=lines.product,
            reply="Let me check. {tool_summary}",
            tool=ToolUse(name="knowledge_search", arguments={"query": lines.product_query}),
        ),
        Turn(heard=lines.goodbye, reply=f"Thanks for calling {tenant.business.name}. Goodbye!"),
    ]


@dataclass
class SpokenCall:
    outcome: CallOutcome
    recorder: InMemoryConversationRecorder
    tenant_id: str
    call_id: str
    frames_heard: int
    sonic_events: list[str]
    speaks_as: str


async def spoken_call(
    tenant: TenantConfig, agent_id: str, agent_base_url: str, definitions: DefinitionSource
) -> SpokenCall:
    turns = script(tenant)
    live = await definitions.live(tenant.tenant_id, agent_id)
    definition = agent_definition(tenant, live)
    recorder, ledger = InMemoryConversationRecorder(), InMemoryBudgetLedger()
    async with SonicStandIn(Scenario(turns=turns)) as sonic, HttpAgentClient(agent_base_url) as agent:
        sonic_settings = SonicSettings(endpoint_uri=sonic.endpoint, voice_id=definition.voice.voice_id)
        settings = call_settings(
            tenant, definition, TwilioSerializer().sample_rate, sonic=sonic_settings, playback_speed=20.0
        )
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
            agent_check=lambda: definitions.live(tenant.tenant_id, agent_id, max_age_seconds=0),
        )

        def answered(turns: int) -> Callable[[], bool]:
            return lambda: sum(session.turns_answered for session in sonic.sessions) >= turns

        async def talk() -> None:
            await caller.dial()
            for turn in range(1, len(turns) + 1):
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
            outcome,
            recorder,
            tenant.tenant_id,
            caller.call_id,
            caller.heard.audio_frames,
            sonic.sessions[0].events,
            sonic.sessions[0].system_prompt.splitlines()[0],
        )


def print_spoken_call(result: SpokenCall) -> None:
    events = result.sonic_events
    print(f"  Nova Sonic stand-in received: {', '.join(dict.fromkeys(e.split(':')[0] for e in events))}")
    print(f"  its system prompt opens: {result.speaks_as}")
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


def run(tenant: TenantConfig, agent_id: str, agent_base_url: str) -> SpokenCall:
    """The call over the local tables the demo's vendor API wrote (moto in process)."""
    from oratio.agent_definitions.dynamodb import DynamoDBDefinitionReader
    from oratio.agent_definitions.source import CachedDefinitionSource
    from oratio.tables import AGENT_DEFINITIONS, AGENTS

    reader = DynamoDBDefinitionReader(os.environ[AGENTS.env_var], os.environ[AGENT_DEFINITIONS.env_var])
    return asyncio.run(spoken_call(tenant, agent_id, agent_base_url, CachedDefinitionSource(reader)))


__all__ = ["SpokenCall", "print_spoken_call", "run", "spoken_call"]
