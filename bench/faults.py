"""Faults: slots leaked after lost end events, callers turned away by a burst on the live-call counter, and replies
lost under injected faults, on the Connect path and through the voice bridge. Counts, not timings (the one
time-like figure, the burst's last admission, is in virtual time; the stall notice is wall-clock and says so).

- Slot leases: N bridge calls open slots through the call router over moto DynamoDB and their end events never
  come; the clock is replayed one lease on, N new callers ring, the reconciler Lambda handler runs. Leaked =
  slots still counted for calls that ended, after that.
- Counter burst: 50 calls of one tenant routed at once (threads) through the router's session store over moto,
  with DynamoDB's transaction conflicts injected for overlapping transactions on the counter; and the same burst
  replayed in virtual time (25 ms per transaction, assumed) for when the last caller is admitted.
- Connect replies: turns through the real code hook use cases and turn worker (in-memory stores) under each
  fault; lost = a reply the agent produced that was neither said nor recorded as missed.
- Bridge replies: calls through the real aws-sdk-bedrock-runtime client against the Sonic stand-in, one per fault
  mode; lost = a caller turn with no reply said and no turn recorded. Excludes: the network, real Sonic.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from bench.stats import report_value
from oratio.adapters.dynamodb import ConflictRetry, DataUnavailableError, DynamoDBCallSessionStore
from oratio.adapters.memory import FixedClock, InMemoryAgentDirectory, InMemoryNumberRegistry
from oratio.adapters.memory_agent import (
    InMemoryBudgetLedger,
    InMemoryConversationRecorder,
    InMemoryWorkflowStateStore,
)
from oratio.adapters.memory_voice import InMemoryBreakerStore, InMemoryTurnMailbox, RecorderTranscripts
from oratio.adapters.nova_sonic import NovaSonicSessionFactory, build_client
from oratio.agent.contracts import InvocationRequest, ReplyEvent, TextChunk, ToolRequest, ToolResultEvent, TurnComplete
from oratio.agent.ports import AgentEventRecord, TurnRecord
from oratio.config import load_tenant_file
from oratio.connect_voice.lex import LexCodeHookEvent
from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.profile import VoiceProfile
from oratio.connect_voice.service import ConnectVoice, FlowCall
from oratio.connect_voice.worker import AgentTurnRunner, InProcessTurnWorker
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_events import TENANT_ID_ENV_VAR
from oratio.domain.call_routing import Route, RoutingProfile
from oratio.domain.call_slots import SlotReclaimer
from oratio.domain.calls import CallRouter, InboundCall
from oratio.domain.circuit_breaker import BreakerPolicy, CircuitBreakers
from oratio.tables import CONVERSATIONS, TENANT_STATE
from oratio.voice_bridge.bridge import CallContext, VoiceCall
from oratio.voice_bridge.cascaded import CascadedSessionFactory
from oratio.voice_bridge.config import BridgeSettings, SonicSettings, ToolSpec
from oratio.voice_bridge.ports import SpeechSessionFactory
from oratio.voice_bridge.serializers import TwilioSerializer
from oratio_local.dynamodb import create_tables, table_name
from oratio_local.events import lambda_context, lex_code_hook_event, scheduled_event
from oratio_local.faults import BURST, ContendedClient, replay_burst
from oratio_local.lambdas import load_handler
from oratio_local.phone import LocalCaller, TwilioCaller
from oratio_local.sonic_standin import Scenario, SonicStandIn, ToolUse, Turn
from oratio_local.speech import ScriptedRecognizer, ToneSynthesizer

ROOT = Path(__file__).resolve().parents[1]
TENANT = load_tenant_file(ROOT / "tenants" / "cozy-comfort.yaml")
TENANT_ID = TENANT.tenant_id
NUMBER = "+15552333464"
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
LOST_END_EVENTS = 50
CONNECT_TURNS_PER_FAULT = 5
REPLY = "Yes, we ship to Canada in five to seven days."


def run() -> None:
    print("faults — slots leaked, callers turned away and replies lost under injected faults (counts)")
    logging.disable(logging.CRITICAL)  # every fault is logged loudly, by design; the table is the point here
    try:
        _slots()
        _burst()
        _connect_replies()
        asyncio.run(_bridge_replies())
        # The SDK's own request-body tasks of streams a fault cut short end with an error nobody awaits; they are
        # reported when collected: collect them while the log is still quiet.
        gc.collect()
    finally:
        logging.disable(logging.NOTSET)


# ------------------------------------------------------------------------------------------ slots
def _agent() -> Agent:
    return Agent(
        vendor_id=TENANT_ID,
        agent_id="front-desk",
        name="Front desk",
        status=AgentStatus.ACTIVE,
        phone_number=NUMBER,
        created_at=OPEN_TIME - timedelta(days=30),
        updated_at=OPEN_TIME - timedelta(days=1),
    )


def _moto() -> Any:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    return mock_aws()


def _slots() -> None:
    with _moto():
        client = boto3.client("dynamodb", region_name="us-east-1")
        names = create_tables(client)
        sessions = DynamoDBCallSessionStore(names[CONVERSATIONS.key], names[TENANT_STATE.key], client=client)
        profile = RoutingProfile.from_tenant(TENANT).model_copy(update={"max_concurrent_calls": LOST_END_EVENTS})
        clock = FixedClock(OPEN_TIME)
        router = CallRouter(
            profile,
            InMemoryAgentDirectory([_agent()]),
            sessions,
            clock,
            InMemoryNumberRegistry({NUMBER: TENANT_ID}),  # the tenant stack claimed it at deploy
            reclaimer=SlotReclaimer(TENANT_ID, sessions),
        )

        def ring(contact: str) -> Route:
            return router.route(InboundCall(contact_id=contact, channel="voice", dialed_number=NUMBER)).route

        opened = [ring(f"lost-{n}") for n in range(LOST_END_EVENTS)].count(Route.AGENT)
        clock.advance(timedelta(seconds=profile.call_slots.lease_seconds + 1))
        admitted = [ring(f"next-{n}") for n in range(LOST_END_EVENTS)].count(Route.AGENT)
        os.environ.update(
            {
                TENANT_ID_ENV_VAR: TENANT_ID,
                CONVERSATIONS.env_var: table_name(CONVERSATIONS),
                TENANT_STATE.env_var: table_name(TENANT_STATE),
            }
        )
        for n in range(LOST_END_EVENTS):  # the new calls end normally
            sessions.close(TENANT_ID, f"next-{n}", clock.now(), outcome="completed")
        reconciler = load_handler("call_reconciler")
        setattr(reconciler, "clock", clock)  # noqa: B010 - the handler's replaceable clock
        with redirect_stdout(io.StringIO()):
            reconciler.lambda_handler(scheduled_event(at=clock.now()), lambda_context("bench-reconciler"))
        leaked = sessions.active_calls(TENANT_ID)
    report_value("slot leases: calls whose end event was lost", opened, "calls")
    report_value("  callers admitted one lease later (of 50)", admitted, "calls")
    report_value("  slots leaked after the reconciler", leaked, "slots")


# ------------------------------------------------------------------------------------------ burst
def _burst() -> None:
    with _moto():
        client = boto3.client("dynamodb", region_name="us-east-1")
        names = create_tables(client)
        contended = ContendedClient(client)
        # The virtual-time replay below sizes the budget; here the shared machine's wall clock must not decide.
        sessions = DynamoDBCallSessionStore(
            names[CONVERSATIONS.key],
            names[TENANT_STATE.key],
            client=contended,
            conflict_retry=ConflictRetry(budget_seconds=60),
        )
        profile = RoutingProfile.from_tenant(TENANT).model_copy(update={"max_concurrent_calls": BURST})
        router = CallRouter(
            profile,
            InMemoryAgentDirectory([_agent()]),
            sessions,
            FixedClock(OPEN_TIME),
            InMemoryNumberRegistry({NUMBER: TENANT_ID}),
        )
        calls = [InboundCall(contact_id=f"burst-{n}", channel="voice", dialed_number=NUMBER) for n in range(BURST)]
        with ThreadPoolExecutor(max_workers=BURST) as pool:
            routes = [decision.route for decision in pool.map(router.route, calls)]
    report_value("counter burst of 50 (moto, threads): admitted", routes.count(Route.AGENT), "calls")
    report_value("  turned away while slots were free", BURST - routes.count(Route.AGENT), "calls")
    report_value("  transaction conflicts retried", contended.conflicts, "conflicts")
    latest = max(replay_burst(ConflictRetry(), seed=seed)[1] for seed in range(10))
    report_value("  last caller admitted, virtual time (10 replays, max)", latest, "s")
    report_value("  of the router's conflict budget", ConflictRetry().budget_seconds, "s")


# ---------------------------------------------------------------------------------------- Connect
class _Agent:
    """The tenant agent answering one line after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        await asyncio.sleep(self.delay)
        yield TextChunk(text=REPLY)
        yield TurnComplete(
            session_id=session_id, model_id="nova-lite", routing_reason="simple", role="greeter", qualification_score=0
        )


class _ThrottledOnce(InMemoryTurnMailbox):
    def __init__(self) -> None:
        super().__init__()
        self.throttled = False

    async def put(self, tenant_id: str, contact_id: str, outcome: TurnOutcome) -> Any:
        if not self.throttled:
            self.throttled = True
            raise DataUnavailableError("ThrottlingException (injected)")
        return await super().put(tenant_id, contact_id, outcome)


class _LateWorker:
    """A worker whose invoke response reaches the code hook after it stopped waiting."""

    def __init__(self, runner: AgentTurnRunner, transit: float) -> None:
        self._runner, self._transit = runner, transit

    async def run(self, job: TurnJob, wait_seconds: float) -> TurnOutcome | None:
        async def delivered() -> TurnOutcome:
            outcome = await self._runner.run(job)
            await asyncio.sleep(self._transit)
            return outcome

        task = asyncio.ensure_future(delivered())
        done, _ = await asyncio.wait({task}, timeout=wait_seconds)
        await asyncio.gather(task)  # let it finish: the mailbox write is what counts
        return task.result() if done else None


async def _connect_turn(fault: str, n: int) -> tuple[bool, bool]:
    """One held turn under `fault`: (said to the caller, recorded as missed)."""
    profile = VoiceProfile.from_tenant(TENANT).model_copy(
        update={
            "connect": TENANT.voice.connect.model_copy(
                update={"max_silence_seconds": 1.5, "audio_filler_delay_ms": 500}
            )
        }
    )
    skew = timedelta(seconds={"skew_minus_1s": -1, "skew_plus_1s": 1}.get(fault, 0))
    clock = FixedClock(OPEN_TIME).now
    recorder = InMemoryConversationRecorder()
    mailbox: InMemoryTurnMailbox = _ThrottledOnce() if fault == "throttled_write" else InMemoryTurnMailbox()
    breakers = CircuitBreakers(TENANT_ID, InMemoryBreakerStore(), BreakerPolicy(profile.connect.breaker), clock)
    delay = {"late_response": 0.2, "after_handover": 2.5}.get(fault, 1.0)
    runner = AgentTurnRunner(
        agent=_Agent(delay), mailbox=mailbox, breakers=breakers, recorder=recorder, clock=lambda: clock() + skew
    )
    worker: Any = _LateWorker(runner, profile.deadline_seconds) if fault == "late_response" else None
    in_process = InProcessTurnWorker(runner)
    voice = ConnectVoice(
        profile,
        breakers=breakers,
        worker=worker or in_process,
        mailbox=mailbox,
        recorder=recorder,
        transcripts=RecorderTranscripts(recorder),
        budget=InMemoryBudgetLedger(),
        workflow_states=InMemoryWorkflowStateStore(),
        clock=clock,
        poll_seconds=0.05,
    )
    contact = f"contact-{fault}-{n}"
    attributes = {"contact_id": contact, "agent_id": "front-desk", "speech_mode": "speech_to_speech"}
    event = LexCodeHookEvent.model_validate(
        lex_code_hook_event("Do you ship to Canada?", session_id=contact, session_attributes=attributes)
    )
    held = await voice.lex_turn(event)
    state = held["sessionState"]["sessionAttributes"]
    rounds = str(profile.connect.max_holding_rounds) if fault == "after_handover" else "0"
    call = FlowCall(
        contact_id=contact,
        caller=None,
        attributes={**attributes, "pending_turn": state["pending_turn"], "holding_rounds": rounds},
        parameters={"action": "pickup"},
    )
    answer = await voice.pickup(call)
    await in_process.drain()
    missed = bool(recorder.events(TENANT_ID, contact, "missed_reply"))
    return answer["prompt"] == REPLY, missed


def _connect_replies() -> None:
    faults = ("late_response", "throttled_write", "skew_minus_1s", "skew_plus_1s", "after_handover")
    said = missed = lost = 0
    for fault in faults:
        for n in range(CONNECT_TURNS_PER_FAULT):
            heard, recorded = asyncio.run(_connect_turn(fault, n))
            said += heard
            missed += recorded
            lost += not heard and not recorded
    turns = len(faults) * CONNECT_TURNS_PER_FAULT
    print(f"  connect faults, {CONNECT_TURNS_PER_FAULT} held turns each: {', '.join(faults)}")
    report_value(f"connect replies said (of {turns})", said, "replies")
    report_value("  recorded as missed (caller handed over first)", missed, "replies")
    report_value("  lost (neither said nor recorded)", lost, "replies")


# ----------------------------------------------------------------------------------------- bridge
KNOWLEDGE = ToolSpec(
    name="knowledge_search",
    description="Search the business's knowledge",
    input_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
QUESTION = Turn(heard="What's your return policy?", reply="You can return items within 30 days.", reply_seconds=1.0)
TOOL_TURN = Turn(
    heard="Do you have a queen down comforter?",
    reply="Here is what I found: {tool_summary}",
    tool=ToolUse(name="knowledge_search", arguments={"query": "queen down comforter"}),
)
BRIDGE_FAULTS = {
    "stall mid-reply": (Scenario(turns=[QUESTION], stall_on_turns={1}), 0.0),
    "connection reset mid-reply": (Scenario(turns=[QUESTION], reset_on_turns={1}), 0.0),
    "TLS close during a tool call": (Scenario(turns=[TOOL_TURN], close_during_tool_on_turns={1}), 0.3),
    "tool slower than Sonic waits": (Scenario(turns=[TOOL_TURN], tool_wait_seconds=0.4), 0.7),
}


class _ToolAgent:
    """The tenant agent as the bridge's tool relay calls it: one knowledge passage after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.tool_runs = 0

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        if isinstance(request.input, ToolRequest):
            self.tool_runs += 1
            await asyncio.sleep(self.delay)
            passage = {"text": "The Cloud down comforter comes in queen for $129."}
            yield ToolResultEvent(tool_use_id=request.input.tool_use_id, status="ok", content={"passages": [passage]})


class _Records(InMemoryConversationRecorder):
    """The conversation records, throttled like DynamoDB for the first two writes of each kind."""

    def __init__(self, throttle: bool) -> None:
        super().__init__()
        self._left = {"sequence": 2, "turn": 2, "event": 2} if throttle else {}

    def _maybe(self, kind: str) -> None:
        if self._left.get(kind):
            self._left[kind] -= 1
            raise DataUnavailableError("ThrottlingException (injected)")

    async def next_sequence(self, tenant_id: str, session_id: str) -> int:
        self._maybe("sequence")
        return await super().next_sequence(tenant_id, session_id)

    async def record_turn(self, turn: TurnRecord) -> None:
        self._maybe("turn")
        await super().record_turn(turn)

    async def record_event(self, event: AgentEventRecord) -> None:
        self._maybe("event")
        await super().record_event(event)


async def _bridge_call(scenario: Scenario, tool_delay: float, *, throttle: bool = False) -> tuple[bool, bool, int]:
    """One call under a fault: (the reply was heard, the turn was recorded, tool runs)."""
    sonic = SonicStandIn(scenario)
    settings = BridgeSettings(
        tenant_id=TENANT_ID,
        agent_id="front-desk",
        system_prompt="You are Cozy Comfort's phone assistant.",
        tools=(KNOWLEDGE,),
        sonic=SonicSettings(stall_timeout_seconds=0.6, open_timeout_seconds=3.0),
        holding_after_seconds=5.0,
        playback_speed=50.0,
    )
    async with sonic:
        sonic_settings = settings.sonic.model_copy(update={"endpoint_uri": sonic.endpoint})
        settings = settings.model_copy(update={"sonic": sonic_settings})
        client = await build_client(
            sonic_settings,
            ca_file=sonic.ca_file,
            aws_access_key_id="AKIDLOCAL",
            aws_secret_access_key="local",  # noqa: S106 - the local stand-in's throw-away credentials
        )
        agent, records = _ToolAgent(tool_delay), _Records(throttle)
        synthesizer = ToneSynthesizer()

        def ladder(context: CallContext) -> list[SpeechSessionFactory]:
            return [
                NovaSonicSessionFactory(client, sonic_settings, settings.sample_rate),
                CascadedSessionFactory(
                    settings,
                    ScriptedRecognizer([]),
                    agent,
                    synthesizer,
                    call_id=lambda: context.call_id,
                    customer=context.customer,
                ),
            ]

        caller = TwilioCaller()
        call = VoiceCall(
            settings,
            TwilioSerializer(),
            caller.receive_from_bridge,
            ladder=ladder,
            agent=agent,
            synthesizer=synthesizer,
            recorder=records,
            ledger=InMemoryBudgetLedger(),
        )

        async def talk(c: LocalCaller) -> None:
            await c.dial()
            await c.say()
            try:
                await c.wait_for(lambda: sum(s.turns_answered for s in sonic.sessions) >= 1, timeout=10)
                await c.wait_for(lambda: call.output.queued_frames == 0, timeout=5)
            except TimeoutError:
                pass  # lost: counted below
            await c.hang_up()

        try:
            side = asyncio.create_task(talk(caller))
            await asyncio.wait_for(call.run(caller.messages()), 30)
            await side
        finally:
            await client.close()
        replied = [t for t in records.turns(TENANT_ID, caller.call_id) if t.reply_text]
        return sum(s.turns_answered for s in sonic.sessions) >= 1, bool(replied), agent.tool_runs


async def _bridge_replies() -> None:
    lost = 0
    cases = [(name, scenario, delay, False) for name, (scenario, delay) in BRIDGE_FAULTS.items()]
    cases.append(("DynamoDB throttling the recorder", Scenario(turns=[QUESTION]), 0.0, True))
    for name, scenario, delay, throttle in cases:
        heard, recorded, tool_runs = await _bridge_call(scenario, delay, throttle=throttle)
        lost += not (heard and recorded)
        note = f", tool ran {tool_runs}x" if scenario.turns[0].tool else ""
        print(
            f"  bridge, {name}: reply {'said' if heard else 'LOST'}, turn {'recorded' if recorded else 'MISSING'}{note}"
        )
    report_value(f"bridge replies lost under {len(cases)} faults", lost, "replies")
