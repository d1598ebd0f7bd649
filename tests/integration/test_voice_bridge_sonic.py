"""The voice bridge against the local Nova Sonic stand-in, through the real aws-sdk-bedrock-runtime client
(HTTP/2 + TLS on 127.0.0.1, AWS event-stream framing), with the tenant agent served locally for tools."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from oratio.agent_definitions.memory import MemoryDefinitionStore
from oratio.agent_definitions.source import CachedDefinitionSource
from oratio.domain.agents import AgentStatus
from oratio.voice_bridge.audio import frame_bytes
from oratio.voice_bridge.bridge import VoiceCall
from oratio.voice_bridge.metrics import BridgeMetrics
from oratio.voice_bridge.serializers import VonageSerializer
from oratio_local.phone import LocalCaller, TwilioCaller, VonageCaller
from oratio_local.sonic_standin import Scenario, SonicStandIn, ToolUse, Turn
from tests.integration.voice_bridge_harness import TENANT, bridge_settings, rig

QUESTION = Turn(heard="What's your return policy?", reply="You can return items within 30 days.")
TOOL_TURN = Turn(
    heard="Do you have a queen down comforter?",
    reply="Here is what I found: {tool_result}.",
    tool=ToolUse(name="knowledge_search", arguments={"query": "queen down comforter price"}),
)


def answered(sonic: SonicStandIn, turns: int) -> Any:
    return lambda: sum(s.turns_answered for s in sonic.sessions) >= turns


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_call_opens_sonic_in_order_and_persists_only_final_transcripts() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION]))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: c.heard.audio_frames >= 25)

            outcome, _ = await r.call(caller, bridge_settings(), talk)
            session = sonic.sessions[0]
            assert session.signed
            assert session.model_id == "amazon.nova-2-sonic-v1:0"
            assert session.events[:5] == [
                "sessionStart",
                "promptStart",
                "contentStart:TEXT:SYSTEM",
                "textInput",
                "contentEnd",
            ]
            assert session.events[5] == "contentStart:AUDIO:USER"
            assert session.events[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]
            assert session.audio_rate == 8_000
            assert session.tools == ["knowledge_search"]
            assert session.audio_bytes == caller.sent_pcm_bytes
            # 0.6 s of reply at 8 kHz is 30 frames of 20 ms, all delivered as Twilio media messages.
            assert caller.heard.audio_frames == 30
            turns = r.recorder.turns(TENANT, caller.call_id)
            assert [(t.user_text, t.reply_text) for t in turns] == [(QUESTION.heard, QUESTION.reply)]
            events = r.recorder.events(TENANT, caller.call_id)
            usage = [e for e in events if e.kind == "usage"]
            assert usage
            assert usage[0].detail["cost_usd"] > 0
            assert outcome.cost_usd > 0

    run(scenario())


def test_sonic_tool_use_is_answered_by_the_tenant_agent_and_returned_as_tool_content() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[TOOL_TURN]))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))

            await r.call(caller, bridge_settings(), talk)
            session = sonic.sessions[0]
            assert session.events.count("contentStart:TOOL:TOOL") == 1
            (result,) = session.tool_results.values()
            passages = json.loads(result)
            assert "comforter" in json.dumps(passages).lower()  # the lexical knowledge search found it
            turns = r.recorder.turns(TENANT, caller.call_id)
            bridge_turn = next(t for t in turns if t.routing_reason.startswith("voice bridge"))
            assert bridge_turn.tools == ("knowledge_search",)
            kinds = [e.kind for e in r.recorder.events(TENANT, caller.call_id)]
            assert kinds.count("tool_call") == 2  # the call and its result

    run(scenario())


def test_barge_in_clears_the_twilio_buffer_and_drops_queued_frames() -> None:
    async def scenario() -> None:
        long_reply = Turn(heard="Tell me everything.", reply="Well. There is a lot to say.", reply_seconds=4.0)
        sonic = SonicStandIn(Scenario(turns=[long_reply], speed=40.0))
        async with rig(sonic) as r:
            caller = TwilioCaller()
            settings = bridge_settings().model_copy(update={"playback_speed": 2.0})

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(lambda: c.heard.audio_frames >= 5)
                await c.say(seconds=0.3, pause=0.2)  # the caller talks over the agent
                await c.wait_for(lambda: c.heard.clears >= 1)

            outcome, _ = await r.call(caller, settings, talk)
            assert sonic.sessions[0].interrupted == 1
            assert caller.heard.clears == 1
            # Sonic sent 4 s (200 frames) faster than real time; the barge-in dropped what was queued.
            assert outcome.frames_dropped > 0
            assert caller.heard.audio_frames < 200
            # Nothing of the interrupted reply reaches the caller after the clear: the queue was flushed, not
            # played out (without the flush the queued frames follow the clear when the call ends).
            assert caller.heard.frames_after_clear == 0
            assert len(r.recorder.events(TENANT, caller.call_id, "interruption")) == 1

    run(scenario())


def test_renewal_at_a_turn_boundary_carries_the_conversation_and_loses_no_caller_audio() -> None:
    async def scenario() -> None:
        turns = [Turn(heard=f"Question {n}", reply=f"Answer {n}.") for n in range(1, 5)]
        sonic = SonicStandIn(Scenario(turns=turns))
        async with rig(sonic) as r:
            caller = TwilioCaller()
            settings = bridge_settings(renew_after_seconds=0.3, force_renew_after_seconds=30.0)

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                for n in range(1, 5):
                    await c.say()
                    await c.wait_for(answered(sonic, n))
                    await c.wait_for(lambda: call.output.queued_frames == 0)  # the reply was played out
                    await asyncio.sleep(0.35)

            outcome, _ = await r.call(caller, settings, talk)
            assert outcome.renewals >= 1
            assert len(sonic.sessions) == outcome.renewals + 1
            # Every byte the caller sent reached exactly one Sonic session.
            assert sum(s.audio_bytes for s in sonic.sessions) == caller.sent_pcm_bytes
            second = sonic.sessions[1]
            assert second.history[:2] == [("user", "Question 1"), ("assistant", "Answer 1.")]
            assert second.events.index("contentStart:AUDIO:USER") > second.events.index("textInput")
            assert all(s.closed_cleanly for s in sonic.sessions)
            replies = [t.reply_text for t in r.recorder.turns(TENANT, caller.call_id)]
            assert replies == [f"Answer {n}." for n in range(1, 5)]  # no reply was cut off
            assert len(r.recorder.events(TENANT, caller.call_id, "renewal")) == outcome.renewals

    run(scenario())


def test_a_session_with_no_turn_boundary_is_renewed_by_the_forced_timer_before_sonic_cuts_it() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[]))
        async with rig(sonic) as r:
            caller = TwilioCaller()
            # No turn ever ends, so only the forced renewal timer can renew the session.
            settings = bridge_settings(renew_after_seconds=0.2, force_renew_after_seconds=0.4)

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.wait_for(lambda: len(sonic.sessions) >= 2, timeout=6)
                await c.wait_for(lambda: call.speech.session is not None and not call.speech._switching)

            outcome, _ = await r.call(caller, settings, talk)
            assert outcome.renewals >= 1
            (renewal, *_) = r.recorder.events(TENANT, caller.call_id, "renewal")
            assert renewal.detail["reason"] == "forced"
            assert sum(s.audio_bytes for s in sonic.sessions) == caller.sent_pcm_bytes  # none lost in the switch

    run(scenario())


def test_an_expired_session_is_replaced_with_the_conversation_so_far() -> None:
    async def scenario() -> None:
        turns = [Turn(heard="First", reply="One."), Turn(heard="Second", reply="Two.")]
        sonic = SonicStandIn(Scenario(turns=turns, expire_after_seconds=0.4))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: len(sonic.sessions) >= 2)
                await c.say()
                await c.wait_for(answered(sonic, 2))

            outcome, _ = await r.call(caller, bridge_settings(), talk)
            assert outcome.speech == "sonic"
            assert sonic.sessions[1].history == [("user", "First"), ("assistant", "One.")]
            assert [t.reply_text for t in r.recorder.turns(TENANT, caller.call_id)] == ["One.", "Two."]

    run(scenario())


def test_sonic_refusing_to_open_degrades_to_the_cascaded_path() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(refuse_all_after=0))
        async with rig(sonic, lines=["Do you ship to Canada?"]) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(lambda: bool(r.recorder.turns(TENANT, c.call_id)))
                await c.wait_for(lambda: c.heard.audio_frames > 0)

            outcome, _ = await r.call(caller, bridge_settings(), talk)
            assert outcome.speech == "cascaded"
            assert all(s.refused for s in sonic.sessions)
            (fallback,) = r.recorder.events(TENANT, caller.call_id, "fallback")
            assert fallback.detail["to"] == "cascaded"
            turn = next(
                t for t in r.recorder.turns(TENANT, caller.call_id) if t.routing_reason == "voice bridge (cascaded)"
            )
            assert turn.user_text == "Do you ship to Canada?"
            assert turn.reply_text
            assert turn.outcome == "fallback"
            assert r.synthesizer.spoken  # the reply was spoken by the synthesizer

    run(scenario())


def test_sonic_dying_mid_call_with_no_new_session_moves_to_cascaded_without_losing_audio() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION], fail_after_turns=1, refuse_all_after=1))
        async with rig(sonic, lines=["Are you still there?"]) as r:
            caller = TwilioCaller()
            cascaded_bytes: list[int] = []

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: call.speech.session is not None and call.speech.session.kind == "cascaded")
                await c.say()
                await c.wait_for(lambda: len(r.recorder.turns(TENANT, c.call_id)) >= 2)
                session = call.speech.session
                assert session is not None
                cascaded_bytes.append(session.audio_bytes_sent + call.speech.buffered_bytes)

            settings = bridge_settings()
            outcome, _ = await r.call(caller, settings, talk)
            assert outcome.speech == "cascaded"
            assert [e.detail["to"] for e in r.recorder.events(TENANT, caller.call_id, "fallback")] == ["cascaded"]
            assert sonic.sessions[1].refused
            # What Sonic took in plus what the cascaded recognizer got covers all the caller said: the last
            # half second sent to the dying session is replayed, so some audio may repeat, none is lost. The
            # replay keeps whole caller audio events, so it may hold up to one event more than half a second.
            covered = sonic.sessions[0].audio_bytes + cascaded_bytes[0]
            replay = int(settings.sample_rate * 2 * settings.failover_replay_seconds)
            event = frame_bytes(settings.sample_rate, settings.caller_audio_chunk_ms)
            assert caller.sent_pcm_bytes <= covered <= caller.sent_pcm_bytes + replay + event
            replies = [t.routing_reason for t in r.recorder.turns(TENANT, caller.call_id)]
            assert replies == ["voice bridge (sonic)", "voice bridge (cascaded)"]

    run(scenario())


def test_when_nothing_can_speak_the_caller_hears_an_apology_and_the_call_ends() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(refuse_all_after=0))
        async with rig(sonic, recognizer_fails=True) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.wait_for(lambda: call.end.ended.is_set())

            outcome, _ = await r.call(caller, bridge_settings(), talk)
            assert outcome.reason == "speech_unavailable"
            assert outcome.speech == "apology"
            assert caller.heard.audio_frames > 0  # never silence
            assert r.synthesizer.spoken == [bridge_settings().apology_text]
            assert [e.detail["to"] for e in r.recorder.events(TENANT, caller.call_id, "fallback")] == ["apology"]

    run(scenario())


def test_a_vonage_call_runs_sonic_at_16_khz_with_binary_l16_frames() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION], sample_rate=16_000))
        async with rig(sonic) as r:
            caller = VonageCaller("vonage-call-uuid-0001")

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: c.heard.audio_frames >= 30)

            await r.call(caller, bridge_settings(16_000), talk, serializer=VonageSerializer())
            assert sonic.sessions[0].audio_rate == 16_000
            assert caller.heard.audio_bytes == 30 * 640
            assert r.recorder.turns(TENANT, caller.call_id)[0].reply_text == QUESTION.reply

    run(scenario())


def test_caller_audio_reaches_sonic_in_events_of_the_configured_duration() -> None:
    async def one_call(chunk_ms: int) -> tuple[list[int], int, int]:
        sonic = SonicStandIn(Scenario(turns=[QUESTION]))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))

            settings = bridge_settings().model_copy(update={"caller_audio_chunk_ms": chunk_ms})
            await r.call(caller, settings, talk)
            return sonic.sessions[0].audio_event_bytes, sonic.sessions[0].audio_bytes, caller.sent_pcm_bytes

    for chunk_ms in (20, 100):
        sizes, received, sent = run(one_call(chunk_ms))
        full = frame_bytes(8_000, chunk_ms)
        assert received == sent  # nothing lost, whatever the event size
        assert set(sizes[:-1]) == {full}, f"{chunk_ms} ms events should carry {full} bytes each"
        assert 0 < sizes[-1] <= full


def _live_agent(status: AgentStatus) -> Any:
    store = MemoryDefinitionStore()
    store.set_pointer(TENANT, "front-desk", AgentStatus.ACTIVE, None)
    source = CachedDefinitionSource(store)

    def check() -> Any:
        return source.live(TENANT, "front-desk", max_age_seconds=0)

    return store, check


@pytest.mark.parametrize(
    ("status", "line", "reason", "handed_over"),
    [
        (AgentStatus.PAUSED, "PAUSED LINE", "agent_paused", True),
        (AgentStatus.STOPPED, "CLOSING LINE", "agent_stopped", False),
        (AgentStatus.DELETED, "CLOSING LINE", "agent_stopped", False),
    ],
)
def test_an_agent_paused_or_stopped_during_the_call_closes_it_after_the_callers_next_turn(
    status: AgentStatus, line: str, reason: str, handed_over: bool
) -> None:
    second = Turn(heard="And what about pillows?", reply="Pillows are on aisle nine.", reply_seconds=2.0)

    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION, second]))
        async with rig(sonic) as r:
            caller = TwilioCaller()
            store, check = _live_agent(status)
            settings = bridge_settings().model_copy(
                update={"paused_line": "PAUSED LINE", "closing_line": "CLOSING LINE"}
            )

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                store.set_pointer(TENANT, "front-desk", status, None)  # the vendor acts mid-call
                await c.say()
                await c.wait_for(lambda: call.end.ended.is_set(), timeout=20)

            outcome, _ = await r.call(caller, settings, talk, agent_check=check)
            assert outcome.reason == reason
            turns = r.recorder.turns(TENANT, caller.call_id)
            assert [t.reply_text for t in turns] == [QUESTION.reply, line]
            lifecycle = r.recorder.events(TENANT, caller.call_id, "lifecycle")
            assert [e.detail["status"] for e in lifecycle] == [status.value]
            assert bool(r.recorder.events(TENANT, caller.call_id, "handoff")) is handed_over
            # Nothing Sonic said after the change reached the record.
            assert second.reply not in [t.reply_text for t in turns]

    run(scenario())


def test_an_agent_that_stays_active_is_checked_each_turn_and_the_call_goes_on() -> None:
    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION]))
        async with rig(sonic) as r:
            caller = TwilioCaller()
            store, check = _live_agent(AgentStatus.ACTIVE)

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: c.heard.audio_frames >= 25)

            outcome, _ = await r.call(caller, bridge_settings(), talk, agent_check=check)
            assert outcome.reason == "caller_hung_up"
            assert store.pointer_reads >= 2  # at the start and after the caller's turn
            assert not r.recorder.events(TENANT, caller.call_id, "lifecycle")

    run(scenario())


def _emf(lines: list[str], metric: str) -> list[dict[str, Any]]:
    """The EMF documents among `lines` that declare `metric`, each checked against the EMF specification: every
    dimension and metric a directive names is a member of the document's root."""
    found = []
    for line in lines:
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert isinstance(document["_aws"]["Timestamp"], int)
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(document[d], str) for d in dimension_set), dimension_set
        if any(m["Name"] == metric for m in directive["Metrics"]):
            assert isinstance(document[metric], int | float)
            found.append(document)
    return found


def test_each_bridge_turn_writes_its_latency_as_a_cloudwatch_emf_line_for_the_tenant_dashboard() -> None:
    lines: list[str] = []

    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(turns=[QUESTION]))
        async with rig(sonic) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(answered(sonic, 1))
                await c.wait_for(lambda: c.heard.audio_frames >= 25)

            settings = bridge_settings()
            metrics = BridgeMetrics(settings.tenant_id, settings.agent_id, sink=lines.append)
            await r.call(caller, settings, talk, metrics=metrics)

    run(scenario())
    (latency,) = _emf(lines, "TurnLatency")
    (directive,) = latency["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == f"Oratio/{TENANT}"
    assert directive["Metrics"] == [{"Name": "TurnLatency", "Unit": "Milliseconds"}]
    assert ["service", "front_door"] in directive["Dimensions"]
    assert (latency["service"], latency["front_door"], latency["speech"]) == ("voice_bridge", "bridge", "sonic")
    assert latency["agent"] == "front-desk"
    assert latency["TurnLatency"] > 0
    assert latency["call_id"] not in {d for s in directive["Dimensions"] for d in s}  # a property, not a dimension
    assert _emf(lines, "BridgeFailovers") == []


def test_a_failover_to_cascaded_is_counted_and_the_cascaded_turn_timed_as_cascaded() -> None:
    lines: list[str] = []

    async def scenario() -> None:
        sonic = SonicStandIn(Scenario(refuse_all_after=0))
        async with rig(sonic, lines=["Do you ship to Canada?"]) as r:
            caller = TwilioCaller()

            async def talk(c: LocalCaller, call: VoiceCall) -> None:
                await c.say()
                await c.wait_for(lambda: bool(r.recorder.turns(TENANT, c.call_id)))
                await c.wait_for(lambda: c.heard.audio_frames > 0)

            settings = bridge_settings()
            metrics = BridgeMetrics(settings.tenant_id, settings.agent_id, sink=lines.append)
            await r.call(caller, settings, talk, metrics=metrics)

    run(scenario())
    (failover,) = _emf(lines, "BridgeFailovers")
    assert (failover["to"], failover["BridgeFailovers"]) == ("cascaded", 1)
    assert ["service", "front_door", "to"] in failover["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert [d["speech"] for d in _emf(lines, "TurnLatency")] == ["cascaded"]
