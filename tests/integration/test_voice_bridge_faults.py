"""Faults the voice bridge meets, injected through the real aws-sdk-bedrock-runtime client against the Sonic
stand-in (its fault modes) and at the bridge's ports: a stream that stops mid-reply with no error, a connection
reset mid-reply, a TLS close while a tool runs, a tool slower than Sonic waits, the agent client timing out, and
DynamoDB throttling the recorder. Each call ends with the caller hearing something and its records complete:
the turn (said once), the events, the cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from agentcore.tenant_agent.client import AgentUnavailableError
from oratio.adapters.dynamodb import DataUnavailableError
from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder
from oratio.agent.contracts import InvocationRequest, ReplyEvent, ToolRequest, UserMessage
from oratio.agent.ports import AgentEventRecord, TurnRecord
from oratio.voice_bridge.bridge import VoiceCall
from oratio_local.phone import LocalCaller, TwilioCaller
from oratio_local.sonic_standin import Scenario, SonicStandIn, ToolUse, Turn
from tests.integration.voice_bridge_harness import TENANT, Rig, bridge_settings, rig

QUESTION = Turn(heard="What's your return policy?", reply="You can return items within 30 days.", reply_seconds=1.0)
FOLLOW_UP = Turn(heard="And shipping?", reply="Shipping is free over fifty dollars.")
TOOL_TURN = Turn(
    heard="Do you have a queen down comforter?",
    reply="Here is what I found: {tool_summary}",
    tool=ToolUse(name="knowledge_search", arguments={"query": "queen down comforter price"}),
)
# Faults are noticed quickly in tests; the defaults are for real calls.
STALL_SECONDS = 0.6


def answered(sonic: SonicStandIn, turns: int) -> Any:
    return lambda: sum(s.turns_answered for s in sonic.sessions) >= turns


def turns(r: Rig, caller: LocalCaller) -> list[tuple[str | None, str]]:
    return [(t.user_text, t.reply_text) for t in r.recorder.turns(TENANT, caller.call_id)]


def events(r: Rig, caller: LocalCaller, kind: str) -> list[dict[str, Any]]:
    return [e.detail for e in r.recorder.events(TENANT, caller.call_id, kind)]


class CountingAgent:
    """The tenant agent's client, counting the tool requests it runs and optionally slowing or failing them."""

    def __init__(self, inner: Any, *, tool_delay: float = 0.0, tool_error: Exception | None = None) -> None:
        self._inner = inner
        self.tool_delay = tool_delay
        self.tool_error = tool_error
        self.tool_runs = 0
        self.messages = 0
        self.message_error: Exception | None = None

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        if isinstance(request.input, ToolRequest):
            self.tool_runs += 1
            if self.tool_delay:
                await asyncio.sleep(self.tool_delay)
            if self.tool_error is not None:
                raise self.tool_error
        elif isinstance(request.input, UserMessage):
            self.messages += 1
            if self.message_error is not None:
                error, self.message_error = self.message_error, None
                raise error
        async for event in self._inner.invoke(request, session_id):
            yield event


def settings(**overrides: Any) -> Any:
    base = bridge_settings(stall_timeout_seconds=STALL_SECONDS)
    return base.model_copy(update=overrides)


def test_a_stream_that_stops_mid_reply_is_noticed_and_the_turn_carried_into_a_fresh_session() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION, FOLLOW_UP], stall_on_turns={1}))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))  # answered by the session after the stalled one
                await c.wait_for(lambda: call.output.queued_frames == 0)
                await c.say()
                await c.wait_for(answered(sonic, 2))

            outcome, _ = await r.call(caller, settings(), talk)
            stalled, fresh = sonic.sessions[0], sonic.sessions[1]
            assert stalled.faults == ["stall:1"]
            assert fresh.text_turns == [QUESTION.heard]  # the interrupted turn, carried as the caller's words
            assert fresh.history == []  # ... and not twice: the unanswered line is not in the history as well
            assert outcome.speech == "sonic"
            # Every turn said and recorded once, the stall recorded, the call's speech cost counted
            assert turns(r, caller) == [(QUESTION.heard, QUESTION.reply), (FOLLOW_UP.heard, FOLLOW_UP.reply)]
            assert [e["reason"] for e in events(r, caller, "renewal")] == ["stalled"]
            assert events(r, caller, "usage")[0]["cost_usd"] > 0
            assert caller.heard.audio_frames >= 50  # the full replies (1 s, then 0.6 s), after half of the first

    asyncio.run(scenario())


def test_a_caller_who_hangs_up_during_a_stall_ends_the_call_with_the_unanswered_turn_kept() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION], stall_on_turns={1}))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(lambda: bool(sonic.sessions[0].faults))  # the stream went silent
                # the caller gives up before the watchdog's (long) timeout

            outcome, _ = await r.call(caller, bridge_settings(stall_timeout_seconds=30.0), talk)
            assert outcome.reason == "caller_hung_up"
            (turn,) = r.recorder.turns(TENANT, caller.call_id)
            assert (turn.user_text, turn.reply_text, turn.outcome) == (QUESTION.heard, "", "failed")

    asyncio.run(scenario())


def test_a_connection_reset_mid_reply_fails_over_with_the_turn_carried() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION], reset_on_turns={1}))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))

            await r.call(caller, settings(), talk)
            assert sonic.sessions[0].faults == ["reset:1"]
            assert sonic.sessions[-1].text_turns == [QUESTION.heard]
            assert turns(r, caller) == [(QUESTION.heard, QUESTION.reply)]
            assert events(r, caller, "renewal")  # the failover is recorded
            assert caller.heard.audio_frames > 0

    asyncio.run(scenario())


def test_a_tls_close_during_a_tool_call_runs_the_tool_once_and_the_reply_is_said() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[TOOL_TURN], close_during_tool_on_turns={1}))
        async with rig(sonic) as r:
            agent = CountingAgent(r.agent, tool_delay=0.3)  # the tool is still running when the connection closes
            r.agent = agent  # type: ignore[assignment]
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))

            await r.call(caller, settings(), talk)
            assert sonic.sessions[0].faults == ["tls_close:1"]
            assert agent.tool_runs == 1  # the fresh session's identical request joined the running one
            ((heard, reply),) = turns(r, caller)
            assert heard == TOOL_TURN.heard
            assert reply.startswith("Here is what I found:")
            assert "comforter" in reply.lower()

    asyncio.run(scenario())


def test_a_tool_slower_than_sonic_waits_is_still_answered() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[TOOL_TURN], tool_wait_seconds=0.4))
        async with rig(sonic) as r:
            agent = CountingAgent(r.agent, tool_delay=0.7)
            r.agent = agent  # type: ignore[assignment]
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))

            await r.call(caller, settings(), talk)
            assert "tool_timeout:1" in sonic.sessions[0].faults
            assert agent.tool_runs == 1
            ((heard, reply),) = turns(r, caller)
            assert (heard, reply.startswith("Here is what I found:")) == (TOOL_TURN.heard, True)

    asyncio.run(scenario())


def test_an_agent_that_times_out_on_a_tool_still_gets_the_caller_an_answer_and_an_error_recorded() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[TOOL_TURN]))
        async with rig(sonic) as r:
            r.agent = CountingAgent(r.agent, tool_error=AgentUnavailableError("the agent timed out"))  # type: ignore[assignment]
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: c.heard.audio_frames >= 25)

            await r.call(caller, settings(), talk)
            assert [e.get("status") for e in events(r, caller, "tool_call")] == [None, "error"]
            ((heard, _),) = turns(r, caller)
            assert heard == TOOL_TURN.heard

    asyncio.run(scenario())


def test_on_the_cascaded_path_an_agent_timing_out_gets_the_trouble_line_and_the_call_goes_on() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(refuse_all_after=0))
        async with rig(sonic, lines=["Do you ship to Canada?", "Do you ship to Canada?"]) as r:
            agent = CountingAgent(r.agent)
            agent.message_error = AgentUnavailableError("the agent timed out")
            r.agent = agent  # type: ignore[assignment]
            caller = TwilioCaller()
            call_settings = settings()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(lambda: len(r.recorder.turns(TENANT, c.call_id)) >= 1)
                await c.say()
                await c.wait_for(lambda: len(r.recorder.turns(TENANT, c.call_id)) >= 2)

            outcome, _ = await r.call(caller, call_settings, talk)
            assert outcome.speech == "cascaded"
            first, second = r.recorder.turns(TENANT, caller.call_id)[:2]
            assert (first.reply_text, first.outcome) == (call_settings.trouble_text, "failed")
            assert second.reply_text  # answered by the agent
            assert second.outcome == "fallback"
            assert call_settings.trouble_text in r.synthesizer.spoken

    asyncio.run(scenario())


class ThrottledRecorder(InMemoryConversationRecorder):
    """The conversation records behind DynamoDB that throttles the first `failures` writes of each kind."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = {"sequence": failures, "turn": failures, "event": failures}
        self.throttled = 0

    def _throttle(self, kind: str) -> None:
        if self.failures[kind]:
            self.failures[kind] -= 1
            self.throttled += 1
            raise DataUnavailableError(f"DynamoDB {kind} write on conversations: ThrottlingException (injected)")

    async def next_sequence(self, tenant_id: str, session_id: str) -> int:
        self._throttle("sequence")
        return await super().next_sequence(tenant_id, session_id)

    async def record_turn(self, turn: TurnRecord) -> None:
        self._throttle("turn")
        await super().record_turn(turn)

    async def record_event(self, event: AgentEventRecord) -> None:
        self._throttle("event")
        await super().record_event(event)


class ThrottledLedger(InMemoryBudgetLedger):
    def __init__(self) -> None:
        super().__init__()
        self.throttled = 0

    async def add(self, tenant_id: str, at: Any, category: str, item: str, usd: float, **where: Any) -> None:
        if not self.throttled:
            self.throttled += 1
            raise DataUnavailableError("DynamoDB update_item on usage: ThrottlingException (injected)")
        await super().add(tenant_id, at, category, item, usd, **where)


def test_dynamodb_throttling_the_recorder_loses_no_turn_event_or_cost() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[TOOL_TURN, FOLLOW_UP]))
        async with rig(sonic) as r:
            r.recorder = ThrottledRecorder(failures=2)
            r.ledger = ThrottledLedger()
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: call.output.queued_frames == 0)
                await c.say()
                await c.wait_for(answered(sonic, 2))

            outcome, _ = await r.call(caller, settings(), talk)
            assert r.recorder.throttled == 6
            assert r.ledger.throttled == 1
            assert [heard for heard, _ in turns(r, caller)] == [TOOL_TURN.heard, FOLLOW_UP.heard]
            assert len(events(r, caller, "tool_call")) == 2
            (usage,) = events(r, caller, "usage")
            assert usage["cost_usd"] > 0
            assert await r.ledger.month_to_date_usd(TENANT, datetime.now(UTC)) == pytest.approx(outcome.cost_usd)

    asyncio.run(scenario())
