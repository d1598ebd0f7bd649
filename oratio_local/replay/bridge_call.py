"""A replayed call on a telephony front door.

Twilio: the call's webhook goes to the telephony webhook Lambda (its code asset, signed with Twilio's own
`RequestValidator`); the TwiML it answers is acted on as Twilio would: `<Say>` then `<Hangup/>`, or `<Dial>` the
tenant's Connect number, after which the call runs the inbound contact flow like any Connect call (the deployed
webhook dials Twilio calls through to Connect: see `oratio/voice_bridge/webhooks.py` for why they do not stream).

Vonage: the signed answer callback goes to the same Lambda; an NCCO `talk` is what the caller hears; an NCCO
`connect` to the bridge's presigned `wss://` URL streams the call, in Vonage's WebSocket format (L16 16 kHz),
into the voice bridge app's `/ws` route with the deployed runtime's wiring (`BridgeRuntime`, built from the
synthesized runtime's environment): Nova Sonic is the local stand-in (real SDK client, HTTP/2 over TLS) whose
scenario is made from the script's lines; Sonic's tool calls go to the tenant agent through the deployed
`AgentCoreAgentClient`, turns and events to DynamoDB (moto). Everything runs on the replay clock.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from oratio.replay.deployment import Deployment
from oratio.replay.script import ScriptError
from oratio.replay.transcript import ExpectationFailed
from oratio_local.phone import FRAME_SECONDS, VonageCaller
from oratio_local.replay.aws_services import activate
from oratio_local.replay.clock import participant, virtual_loops
from oratio_local.replay.runner import REGION, CallBase, ConnectCall
from oratio_local.replay.sonic_flight import ClockedSonicClient, InFlight
from oratio_local.replay.telephony import (
    ProviderInstruction,
    read_ncco,
    read_twiml,
    stream_session,
    twilio_request,
    vonage_request,
)
from oratio_local.rule_model import GOODBYE_WORDS, PERSON_WORDS
from oratio_local.sonic_standin import Scenario, SonicStandIn, ToolUse
from oratio_local.sonic_standin import Turn as SonicTurn
from oratio_local.transcribe_standin import ScriptedTranscribeClient

LOCAL_BRIDGE_NUMBER = "+15550100999"  # the tenant's Twilio/Vonage number when its file lists none
SPEAKING_WORDS_PER_SECOND = 2.8  # how long the stand-in's reply audio lasts for its words (about 170 words a minute)
SONIC_SPEED = 2.0  # the stand-in sends reply audio this many times faster than it plays (as Sonic does)
REPLY_PLAYED_SECONDS = 0.6  # a reply is over when no audio reached the caller for this long
BARGE_IN_AFTER_SECONDS = 0.4  # an `interrupt` turn starts once the caller has heard this much of the reply
CALLER_SPEECH_SECONDS = 0.5  # how long a caller's line sounds (the stand-in hears a turn by its energy)
TURN_WAIT_SECONDS = 60.0  # replay-clock seconds a caller waits for an answer before the script fails
WEBHOOK_SERVICE = "voice_webhook"


def _bridge_number(call: CallBase) -> str:
    numbers = call.tenant.voice.bridge_numbers
    return numbers[0] if numbers else LOCAL_BRIDGE_NUMBER


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", text.lower()) for w in words)


def sonic_turn(call: CallBase, said: str) -> SonicTurn:
    """Nova Sonic's side of one caller line: heard (its ASR text) and answered the way a speech model with the
    agent's tools would: a request for a person calls `transfer_to_human`, a goodbye `end_call`, anything else
    asks the tenant agent's `knowledge_search` and says what it found."""
    if _has(said, PERSON_WORDS):
        tool = ToolUse(name="transfer_to_human", arguments={"reason": "caller_request"})
        reply = "Of course, I'll connect you with a colleague now."
    elif _has(said, GOODBYE_WORDS):
        tool = ToolUse(name="end_call", arguments={"reason": "caller said goodbye"})
        reply = f"Thanks for calling {call.tenant.business.name}. Goodbye!"
    else:
        tool = ToolUse(name="knowledge_search", arguments={"query": said})
        reply = "{tool_summary} Is there anything else I can help with?"
    # How long the reply sounds: its words at a speaking pace ({tool_summary} counts as a sentence or two).
    words = len(reply.replace("{tool_summary}", "x " * 20).split())
    return SonicTurn(heard=said, reply=reply, tool=tool, reply_seconds=words / SPEAKING_WORDS_PER_SECOND)


def scenario_for(call: CallBase) -> Scenario:
    """The Sonic stand-in's scenario; its turns are added as the caller says each line (`VonageCall._say`), so a
    typed caller (`talk`) is heard as a scripted one is. `given.speech_down: [speech_to_speech]`: Nova Sonic
    refuses every session, so the bridge goes down its ladder."""
    refuse_all_after = 0 if "speech_to_speech" in call.script.given.speech_down else None
    return Scenario(turns=[], speed=SONIC_SPEED, sample_rate=16_000, refuse_all_after=refuse_all_after)


def transcribe_for(call: CallBase) -> ScriptedTranscribeClient:
    """Amazon Transcribe streaming on the bridge's cascaded rung: the caller's lines are its transcripts (added
    as they are said; the bridge's own Transcribe adapter runs against it); `given.speech_down` naming
    `cascaded` makes it refuse."""
    return ScriptedTranscribeClient([], refuse="cascaded" in call.script.given.speech_down)


# ----------------------------------------------------------------------------------------- Twilio
class TwilioCall(ConnectCall):
    """A Twilio call: the webhook's TwiML first, then (on `<Dial>`) the Connect number's inbound flow."""

    def enter(self, client: Any, deployment: Deployment) -> bool:
        assert self.services is not None
        number = _bridge_number(self)
        self.add("system", f"{self.script.caller} dials {number} ({self.tenant.tenant_id}, Twilio)", "dial")
        webhook = self.services.container(deployment.function_by_handler_folder(WEBHOOK_SERVICE).name)
        call_sid = "CA" + self.contact_id.replace("-", "")
        with participant():
            instruction = read_twiml(webhook.invoke(twilio_request(call_sid, number, self.script.caller)))
        for text in instruction.said:
            self.add("assistant", text, "say", by="twilio")
        if instruction.dial is not None:
            # Without a callerId, Twilio presents the inbound caller's own number to the dialled party.
            self.connect_caller = instruction.dial_caller_id or self.script.caller
            self.add(
                "flow",
                f"Twilio dials {instruction.dial} (the tenant's Connect number) as {self.connect_caller}",
                "dial",
            )
            return True
        self.finish(_route_of(self, client, call_sid), "ended")
        return False

    def deployed(self, *, bridge_number: str | None = None) -> Any:
        return super().deployed(bridge_number=_bridge_number(self))


def _route_of(call: CallBase, client: Any, call_id: str) -> str:
    """The call router's route for a provider call, from the call session the webhook's router wrote."""
    from oratio.adapters.dynamodb import DynamoDBCallSessionStore

    sessions = DynamoDBCallSessionStore(call.tables["conversations"], call.tables["tenant_state"], client=client)
    session = sessions.get(call.tenant.tenant_id, call_id)
    return session.route.value if session is not None else ""


# ----------------------------------------------------------------------------------------- Vonage
class TimelineRecorder:
    """The bridge's conversation recorder as deployed, and what it records, on the call's timeline."""

    def __init__(self, inner: Any, call: VonageCall) -> None:
        self._inner, self._call = inner, call

    async def next_sequence(self, tenant_id: str, session_id: str) -> int:
        return int(await self._inner.next_sequence(tenant_id, session_id))

    async def record_turn(self, turn: Any) -> None:
        if turn.reply_text:
            self._call.replies_recorded += 1
            self._call.add("assistant", turn.reply_text, "say", by="sonic" if turn.model_id else "cascaded")
        await self._inner.record_turn(turn)

    async def record_event(self, event: Any) -> None:
        detail = dict(event.detail)
        if event.kind == "tool_call" and detail.get("status") not in (None, "started"):
            tool = detail.get("tool")
            self._call.add("agent", f"tool {tool}: {detail.get('status')}", "tool", tool=tool)
        elif event.kind == "interruption":
            self._call.add("caller", "[speaks over the agent]", "interruption")
        elif event.kind == "handoff":
            self._call.transferred = True
            self._call.add("flow", f"handoff to a person ({detail.get('reason')})", "transfer")
        elif event.kind == "fallback":
            self._call.add("flow", f"speech falls back to {detail.get('to')} ({detail.get('reason')})", "voice")
        await self._inner.record_event(event)


class _ClockHeldAgent:
    """The deployed agent client, holding the replay clock while the tenant agent works (its reader thread is
    not a pool thread, so the clock would not otherwise know it is busy)."""

    def __init__(self, agent: Any, call: VonageCall) -> None:
        self._agent, self._call = agent, call

    async def reply_text(self, request: Any, session_id: str) -> str:
        from agentcore.tenant_agent.client import reply_text_of

        return await reply_text_of(self.invoke(request, session_id))

    async def invoke(self, request: Any, session_id: str) -> AsyncIterator[Any]:
        with self._call.clock.busy():
            async for event in self._agent.invoke(request, session_id):
                yield event


class _ReplayCaller(VonageCaller):
    """Vonage's WebSocket side of the call: its first message carries the NCCO's headers; it notes when it last
    heard the agent, and whether any audio still reached it after the bridge told it to clear."""

    def __init__(self, call_id: str, caller: str, headers: dict[str, str]) -> None:
        super().__init__(call_id, caller_number=caller, speed=1.0)
        self._headers = headers
        self.last_audio_at = 0.0
        self.heard_since_turn = 0
        self.speaking = False  # the caller is saying a line
        self.leaked_after_clear = 0  # agent audio heard after a clear while the caller was still talking over it

    def opening(self) -> list[Any]:
        import json

        message = {"event": "websocket:connected", "content-type": "audio/l16;rate=16000", **self._headers}
        return [json.dumps(message)]

    async def receive_from_bridge(self, message: Any) -> None:
        await super().receive_from_bridge(message)
        if isinstance(message, bytes):
            self.last_audio_at = asyncio.get_running_loop().time()
            self.heard_since_turn += 1
            if self.heard.clears and self.speaking:
                self.leaked_after_clear += 1

    async def quiet_for(self, seconds: float) -> None:
        """Keep the line open until no agent audio arrived for `seconds`."""
        loop = asyncio.get_running_loop()
        await self.wait_for(lambda: loop.time() - self.last_audio_at >= seconds, timeout=TURN_WAIT_SECONDS)


class _LocalWebSocket:
    """The WebSocket the bridge app's `/ws` route is handed, as AgentCore's would be: Vonage's messages in, the
    bridge's messages out to the caller."""

    def __init__(self, caller: _ReplayCaller) -> None:
        self._caller = caller
        self._messages = caller.messages()

    async def accept(self) -> None:
        return None

    async def receive(self) -> dict[str, Any]:
        message = await anext(self._messages, None)
        if message is None:
            return {"type": "websocket.disconnect", "code": 1000}
        key = "bytes" if isinstance(message, bytes) else "text"
        return {"type": "websocket.receive", key: message}

    async def send_text(self, text: str) -> None:
        await self._caller.receive_from_bridge(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._caller.receive_from_bridge(data)

    async def close(self, code: int = 1000) -> None:
        return None


class VonageCall(CallBase):
    """A Vonage call: the webhook's NCCO, then (on `connect`) the call's audio through the voice bridge."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.transferred = False
        self.ended_by_bridge = ""
        self.replies_recorded = 0  # the bridge's turns with a reply, whichever speech rung answered
        self._sonic: SonicStandIn | None = None
        self._transcribe = transcribe_for(self)

    def answered_turns(self) -> int:
        """Caller turns the bridge has answered: Sonic's count, or the replies recorded (the cascaded rung's)."""
        sonic = self._sonic.sessions if self._sonic is not None else []
        return max(sum(s.turns_answered for s in sonic), self.replies_recorded)

    def delay_agent(self, seconds: float) -> None:
        raise ScriptError(f"{self.result.path}: agent_seconds is replayed on the Connect front door only")

    def run(self) -> None:
        with self.deployed(bridge_number=_bridge_number(self)) as (client, deployment):
            assert self.services is not None
            with activate(self.services), virtual_loops(self.clock), participant():
                instruction = self._answer(deployment)
                route = _route_of(self, client, self.contact_id)
                if instruction.stream_url is None:
                    outcome = "transferred" if instruction.dial else "ended"
                    if instruction.dial:
                        self.add("flow", f"Vonage connects the call to {instruction.dial}", "transfer")
                    self.finish(route, outcome)
                    return
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(self._stream(deployment, instruction))
                finally:
                    loop.close()
            self.finish(route, "transferred" if self.transferred else "ended")

    def _answer(self, deployment: Deployment) -> ProviderInstruction:
        assert self.services is not None
        number = _bridge_number(self)
        self.add("system", f"{self.script.caller} dials {number} ({self.tenant.tenant_id}, Vonage)", "dial")
        webhook = self.services.container(deployment.function_by_handler_folder(WEBHOOK_SERVICE).name)
        instruction = read_ncco(webhook.invoke(vonage_request(self.contact_id, number, self.script.caller)))
        for text in instruction.said:
            self.add("assistant", text, "say", by="vonage")
        return instruction

    async def _stream(self, deployment: Deployment, instruction: ProviderInstruction) -> None:
        from bedrock_agentcore.runtime import RequestContext

        from agentcore.voice_bridge import app as bridge_app

        assert instruction.stream_url is not None
        runtime_arn, session_id = stream_session(instruction.stream_url)
        bridge = deployment.logical_id_of(runtime_arn)
        self.add("flow", "Vonage streams the call into the voice bridge", "bridge")
        caller = _ReplayCaller(self.contact_id, self.script.caller, instruction.stream_headers)
        flight = InFlight(self.clock)
        async with SonicStandIn(scenario_for(self), observer=flight) as sonic:
            self._sonic = sonic
            bridge_app.set_call_runner(await self._runtime(deployment.runtime_environment(bridge), sonic, flight))
            try:
                socket = _LocalWebSocket(caller)
                talking = asyncio.create_task(self._talk(caller))
                route = asyncio.create_task(bridge_app.media_stream(socket, RequestContext(session_id=session_id)))
                await asyncio.wait({talking, route}, return_when=asyncio.FIRST_COMPLETED)
                if not talking.done():  # the bridge ended the call (a goodbye, a handover) before the script did
                    talking.cancel()
                await asyncio.gather(talking, return_exceptions=True)
                failed = None if talking.cancelled() else talking.exception()
                if failed is not None:  # the script failed mid-call: the caller hangs up, the bridge ends its call
                    await caller.hang_up()
                await route
                if failed is not None:
                    raise failed
            finally:
                bridge_app.set_call_runner(None)

    async def _runtime(
        self, environment: dict[str, str], sonic: SonicStandIn, flight: InFlight
    ) -> Callable[..., Awaitable[Any]]:
        """The deployed runtime's wiring, built from the synthesized runtime's environment, with Nova Sonic at
        the stand-in and the conversation recorder showing on the timeline."""
        from agentcore.voice_bridge.wiring import BridgeRuntime, BridgeRuntimeSettings
        from oratio.adapters import nova_sonic

        class ReplayBridgeRuntime(BridgeRuntime):
            async def _speech_clients(self) -> tuple[Any, Any]:
                if not self._clients:
                    settings = self.sonic_settings().model_copy(update={"endpoint_uri": sonic.endpoint})
                    client = await nova_sonic.build_client(
                        settings,
                        ca_file=sonic.ca_file,
                        aws_access_key_id="local",
                        aws_secret_access_key="local",  # noqa: S106 - the stand-in does not check signatures
                    )
                    self._clients["sonic"] = ClockedSonicClient(client, flight)
                    self._clients["transcribe"] = call._transcribe
                return self._clients["sonic"], self._clients["transcribe"]

        call = self
        settings = BridgeRuntimeSettings.from_environ({**environment, "ORATIO_AWS_REGION": REGION})
        runtime = ReplayBridgeRuntime(settings)
        runtime.recorder = TimelineRecorder(runtime.recorder, self)  # type: ignore[assignment]
        runtime.agent = _ClockHeldAgent(runtime.agent, self)  # type: ignore[assignment]

        async def run(serializer: Any, send: Any, messages: Any) -> Any:
            try:
                outcome = await runtime.run_call(serializer, send, messages)
                self.ended_by_bridge = outcome.reason
                self.cost_usd += outcome.cost_usd
                return outcome
            finally:
                client = runtime._clients.get("sonic")
                if client is not None:
                    await client.close()

        return run

    async def _talk(self, caller: _ReplayCaller) -> None:
        """The caller on the line (the script's, or a person typing for `talk`): each line said (a voiced stretch
        the stand-ins hear as that line), then the reply heard out; an `interrupt` line is said while the
        previous reply still plays."""
        await caller.dial()
        answered = 0
        number = 0
        while True:
            if self.transferred:  # handed over: what the caller says next is to a person, not to the bridge
                break
            said = self.caller.next_input()  # the turn on the timeline (and the previous turn's expectations checked)
            number += 1
            if said.kind == "say":
                await self._say(caller, said.text)
                answered += 1
                following = self.caller.upcoming
                barge_in = following is not None and following.interrupt
                await caller.wait_for(_answered_or_heard(self, caller, answered, barge_in), timeout=TURN_WAIT_SECONDS)
                if not barge_in:
                    await caller.quiet_for(REPLY_PLAYED_SECONDS)
                elif caller.heard_since_turn * FRAME_SECONDS < BARGE_IN_AFTER_SECONDS:
                    raise ExpectationFailed(
                        f"turn {number + 1}", "to speak while the reply still plays", "the reply had already ended",
                        self.timeline,
                    )  # fmt: skip
            elif said.kind == "silence":
                await _silence(caller, said.seconds)
            elif said.kind == "dtmf":
                raise ScriptError(f"{self.result.path}: dtmf is replayed on the Connect front door only")
            else:
                break
        self.caller.check_pending()
        await caller.hang_up()

    async def _say(self, caller: _ReplayCaller, text: str) -> None:
        """One caller line: both speech stand-ins will hear it as `text`; the caller's voice for its length."""
        from oratio_local.sonic_standin import tone

        assert self._sonic is not None
        self._sonic.scenario.turns.append(sonic_turn(self, text))
        self._transcribe.lines.append(text)
        caller.heard_since_turn = 0
        caller.speaking = True
        await caller._frames(tone(caller.sample_rate, CALLER_SPEECH_SECONDS, frequency=220.0, amplitude=8_000))
        caller.speaking = False
        if caller.leaked_after_clear:  # heard while saying the line, after the bridge said to clear
            leaked_ms = round(caller.leaked_after_clear * FRAME_SECONDS * 1000)
            self.add("assistant", f"[{leaked_ms} ms of the cut-off reply still played]", "leak")
            caller.leaked_after_clear = 0


def _answered_or_heard(call: VonageCall, caller: _ReplayCaller, turns: int, barge_in: bool) -> Callable[[], bool]:
    """The caller's wait: the bridge has answered `turns` turns, or (before a barge-in) enough of the reply was
    heard."""

    def done() -> bool:
        if barge_in and caller.heard_since_turn * FRAME_SECONDS >= BARGE_IN_AFTER_SECONDS:
            return True
        return call.answered_turns() >= turns

    return done


async def _silence(caller: _ReplayCaller, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    await caller.wait_for(lambda: loop.time() >= until, timeout=seconds + 1)
