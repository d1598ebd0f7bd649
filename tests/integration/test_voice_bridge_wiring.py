"""The deployed bridge's wiring: settings from the environment the stack sets, the per-call runner that waits
for the provider's start message, and a whole call run by that runner against the Nova Sonic stand-in (the
AWS clients it built swapped for the stand-in's client and the local agent at their ports)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentcore.tenant_agent.wiring import split_tenant_config
from agentcore.voice_bridge import app as bridge_app
from agentcore.voice_bridge.wiring import (
    ENV_AGENT_RUNTIME_ARN,
    ENV_DEFAULT_AGENT_ID,
    ENV_REGION,
    BridgeRuntime,
    BridgeRuntimeSettings,
    CallRefusedError,
    TranscribeOnFirstUse,
    WiringError,
    await_start,
    sonic_tools,
)
from oratio.adapters.memory import InMemoryAgentDirectory, InMemoryCallSessionStore, InMemoryNumberRegistry
from oratio.adapters.nova_sonic import build_client
from oratio.agent_definitions.memory import MemoryDefinitionStore
from oratio.agent_definitions.merge import resolve
from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.source import CachedDefinitionSource
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config import load_tenant_file
from oratio.config.tenant import BusinessHours
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import Route, RoutingProfile
from oratio.domain.call_slots import SessionStoreLeases
from oratio.domain.calls import CallRouter, InboundCall
from oratio.ports import SystemClock
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from oratio.voice_bridge.serializers import TwilioSerializer, VonageSerializer, WireMessage
from oratio_local.phone import TwilioCaller, VonageCaller
from oratio_local.sonic_standin import Scenario, SonicStandIn, Turn
from tests.integration.test_voice_bridge_aws_speech import FakeTranscribeClient
from tests.integration.voice_bridge_harness import TENANT, rig

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
ALWAYS_OPEN = BusinessHours.model_validate(
    {
        "time_zone": "UTC",
        **{
            day: "00:00-23:59" for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        },
    }
)


def desk_agent() -> Agent:
    now = datetime.now(UTC)
    return Agent(
        vendor_id=TENANT,
        agent_id="desk",
        name="Desk",
        status=AgentStatus.ACTIVE,
        phone_number="+15557654321",
        created_at=now,
        updated_at=now,
    )


VONAGE_NUMBER = "+15557654321"  # the desk's Vonage number


def vonage_inbound(call_id: str) -> InboundCall:
    return InboundCall(contact_id=call_id, channel="voice", dialed_number=VONAGE_NUMBER)


class FixedCosts:
    """The call's recorded turn costs (what the tenant agent wrote), as one number."""

    def __init__(self, usd: float) -> None:
        self.usd = usd

    def total_usd(self, tenant_id: str, contact_id: str) -> float:
        return self.usd


RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:111122223333:runtime/oratio_cozy_comfort-AbCdEf1234"


def environment(**extra: str) -> dict[str, str]:
    tenant = load_tenant_file(TENANTS / f"{TENANT}.yaml")
    return {
        **split_tenant_config(tenant),
        ENV_AGENT_RUNTIME_ARN: RUNTIME_ARN,
        AGENTS.env_var: "oratio-agents",
        AGENT_DEFINITIONS.env_var: "oratio-agent-definitions",
        CONVERSATIONS.env_var: "oratio-conversations",
        USAGE.env_var: "oratio-usage",
        TENANT_STATE.env_var: "oratio-tenant-state",
        ENV_REGION: "us-east-1",
        **extra,
    }


def test_settings_come_from_the_environment_the_stack_sets() -> None:
    settings = BridgeRuntimeSettings.from_environ(environment())
    assert settings.tenant().tenant_id == TENANT
    assert settings.agent_runtime_arn == RUNTIME_ARN
    assert settings.sonic_model_id == "amazon.nova-2-sonic-v1:0"


def test_missing_settings_are_named_by_their_environment_variables() -> None:
    env = environment()
    del env[ENV_AGENT_RUNTIME_ARN], env[USAGE.env_var]
    with pytest.raises(WiringError, match=f"{ENV_AGENT_RUNTIME_ARN}.*|{USAGE.env_var}") as raised:
        BridgeRuntimeSettings.from_environ(env)
    assert ENV_AGENT_RUNTIME_ARN in str(raised.value)
    assert USAGE.env_var in str(raised.value)


def test_sonic_may_call_exactly_the_agents_enabled_tools_with_their_schemas() -> None:
    tenant = load_tenant_file(TENANTS / f"{TENANT}.yaml")
    tools = sonic_tools(resolve(tenant, "desk", None))
    assert [t.name for t in tools] == [*tenant.agent.tools, *(b.name for b in tenant.agent.business_tools)]
    knowledge = next(t for t in tools if t.name == "knowledge_search")
    assert knowledge.input_schema["required"] == ["query"]
    # An agent that narrows its tools gives Sonic only those.
    narrowed = resolve(
        tenant, "desk", AgentOverrides.model_validate({"tools": {"builtin": ["end_call"], "business_tools": []}})
    )
    assert [t.name for t in sonic_tools(narrowed)] == ["end_call"]


def _stream(messages: list[WireMessage]) -> AsyncIterator[WireMessage]:
    async def gen() -> AsyncIterator[WireMessage]:
        for m in messages:
            yield m

    return gen()


def test_the_runner_waits_for_the_start_message_and_replays_what_it_read() -> None:
    caller = TwilioCaller()
    opening = caller.opening()

    async def scenario() -> tuple[str, int, list[WireMessage]]:
        start, replay = await await_start(TwilioSerializer(), _stream([*opening, "tail"]))
        return start.call_id, start.sample_rate, [m async for m in replay]

    call_id, rate, replayed = asyncio.run(scenario())
    assert (call_id, rate) == (caller.call_id, 8000)
    assert replayed == [*opening, "tail"]


def test_a_stream_that_never_starts_a_call_is_refused() -> None:
    connected = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    with pytest.raises(CallRefusedError, match="no start message"):
        asyncio.run(await_start(TwilioSerializer(), _stream([connected])))


def test_a_call_without_an_agent_is_refused_with_the_variable_to_set() -> None:
    runtime = BridgeRuntime(BridgeRuntimeSettings.from_environ(environment()))
    opening = VonageCaller("vonage-1").opening()

    async def scenario() -> None:
        start, _ = await await_start(VonageSerializer(), _stream(opening))
        await runtime.agent_for(start)

    with pytest.raises(CallRefusedError, match=ENV_DEFAULT_AGENT_ID):
        asyncio.run(scenario())


def riley(store: MemoryDefinitionStore) -> None:
    """Agent "desk" of the tenant, live on version 1: its own persona and Nova Sonic voice."""
    spec = AgentSpec(
        name="Riley",
        business_type="retail",
        character_config=CharacterConfig(
            business_name="Cozy Comfort Bedding", persona="Riley, the night-owl sleep advisor of Cozy Comfort"
        ),
        definition=AgentOverrides.model_validate({"voice": {"voice_id": "matthew"}}),
    )
    at = datetime(2026, 11, 30, tzinfo=UTC)
    store.put(
        DefinitionVersion(vendor_id=TENANT, agent_id="desk", version=1, spec=spec, author="a", note="n", created_at=at)
    )
    store.set_pointer(TENANT, "desk", AgentStatus.ACTIVE, 1)


def test_the_deployed_runner_carries_a_vonage_call_at_16_khz_through_sonic_and_records_it() -> None:
    turn = Turn(heard="Are you open on Sunday?", reply="We are open from ten to four on Sunday.")

    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[turn]))
        async with rig(sonic) as r:
            runtime = BridgeRuntime(BridgeRuntimeSettings.from_environ(environment(**{ENV_DEFAULT_AGENT_ID: "desk"})))
            store = MemoryDefinitionStore()
            riley(store)
            runtime.definitions = CachedDefinitionSource(store)  # the DynamoDB reader's place
            client = await build_client(
                runtime.sonic_settings().model_copy(update={"endpoint_uri": sonic.endpoint}),
                ca_file=sonic.ca_file,
                aws_access_key_id="AKIDLOCAL",
                aws_secret_access_key="local",
            )
            # The AWS clients the runtime built, swapped for local ones at the same ports.
            runtime._clients.update(sonic=client)  # Transcribe's is built only if the call falls back
            runtime.agent, runtime.recorder, runtime.ledger = r.agent, r.recorder, r.ledger  # type: ignore[assignment]
            # The call's session, as the telephony webhook's router opened it, in an in-memory store.
            sessions = InMemoryCallSessionStore()
            router = CallRouter(
                RoutingProfile.from_tenant(runtime.tenant).model_copy(update={"hours": ALWAYS_OPEN}),
                InMemoryAgentDirectory([desk_agent()]),
                sessions,
                SystemClock(),
                InMemoryNumberRegistry({VONAGE_NUMBER: runtime.tenant.tenant_id}),
            )
            assert router.route(vonage_inbound("vonage-call-1")).route is Route.AGENT
            runtime.leases, runtime.costs = SessionStoreLeases(sessions), FixedCosts(0.002)
            bridge_app.set_call_runner(runtime.run_call)
            runner = bridge_app.call_runner()
            assert runner is not None
            caller = VonageCaller("vonage-call-1", speed=20.0)

            async def talk() -> None:
                await caller.dial()
                await caller.say()
                await caller.wait_for(lambda: sum(s.turns_answered for s in sonic.sessions) >= 1, timeout=20)
                await caller.wait_for(lambda: caller.heard.audio_frames >= 25, timeout=20)
                await caller.hang_up()

            try:
                side = asyncio.create_task(talk())
                outcome = await asyncio.wait_for(
                    runner(VonageSerializer(), caller.receive_from_bridge, caller.messages()), 30
                )
                await side
            finally:
                bridge_app.set_call_runner(None)
                await client.close()
            session = sonic.sessions[0]
            assert session.audio_rate == 16_000
            assert session.model_id == "amazon.nova-2-sonic-v1:0"
            # The call speaks as the agent it was routed to: its persona and its voice.
            assert "You are Riley, the night-owl sleep advisor of Cozy Comfort." in session.system_prompt
            assert session.voice_id == "matthew"
            assert "knowledge_search" in session.tools
            assert outcome.reason == "caller_hung_up"
            turns = r.recorder.turns(TENANT, "vonage-call-1")
            assert [(t.user_text, t.reply_text) for t in turns] == [(turn.heard, turn.reply)]
            # The bridge closed the call's session itself (Vonage's end event may never come): slot back, cost kept
            closed = sessions.get(TENANT, "vonage-call-1")
            assert closed is not None
            assert (closed.status.value, closed.outcome) == ("closed", "bridge_caller_hung_up")
            assert closed.total_cost_usd == pytest.approx(outcome.cost_usd + 0.002)
            assert sessions.active_calls(TENANT) == 0
            # A call that stayed on Sonic never built the cascaded rung's Transcribe client (nor imported its SDK).
            assert runtime._clients.get("transcribe") is None

    asyncio.run(scenario())


def test_the_cascaded_rung_gets_its_transcribe_client_when_it_first_listens() -> None:
    fake = FakeTranscribeClient([None])
    asked: list[str] = []

    async def client() -> FakeTranscribeClient:
        asked.append("transcribe")
        return fake

    recognizer = TranscribeOnFirstUse(client, language_code="en-US")
    assert asked == []

    async def listen() -> None:
        stream = await recognizer.start(8_000)
        await stream.close()

    asyncio.run(listen())
    assert asked == ["transcribe"]
    assert [(r.language_code, r.media_sample_rate_hertz) for r in fake.requests] == [("en-US", 8_000)]
