"""The voice bridge against the local Nova Sonic stand-in, through the real aws-sdk-bedrock-runtime client
(HTTP/2 + TLS on 127.0.0.1, AWS event-stream framing), with the tenant agent served locally for tools."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from oratio.voice_bridge.bridge import VoiceCall
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
            assert session.events[:5] == ["sessionStart", "promptStart", "contentStart:TEXT:SYSTEM", "textInput", "contentEnd"]
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
            assert usage and usage[0].detail["cost_usd"] > 0
            assert outcome.cost_usd > 0

    run(scenario())
