"""The Connect voice use cases with real-shaped Lex and Connect events, the agent behind a scripted fake, the
turn worker running in process, and in-memory stores: what a caller hears, what the flow does next, and
what is recorded with the call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oratio.adapters.memory import InMemoryCallSessionStore
from oratio.adapters.memory_agent import (
    InMemoryBudgetLedger,
    InMemoryConversationRecorder,
    InMemoryWorkflowStateStore,
)
from oratio.adapters.memory_voice import InMemoryBreakerStore, InMemoryTurnMailbox, RecorderTranscripts
from oratio.agent.contracts import (
    EndCall,
    Handoff,
    InvocationRequest,
    ReplyEvent,
    TextChunk,
    TierEscalation,
    TurnComplete,
)
from oratio.agent.ports import TurnRecord, WorkflowState
from oratio.config import load_tenant_file
from oratio.connect_voice.lex import LexCodeHookEvent
from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.ports import TurnWorkerError
from oratio.connect_voice.profile import VoiceProfile
from oratio.connect_voice.service import ConnectVoice, FlowCall
from oratio.connect_voice.worker import AgentTurnRunner, InProcessTurnWorker
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.call_slots import SessionStoreLeases, first_lease, lease_bound
from oratio.domain.calls import CallSession
from oratio.domain.circuit_breaker import BreakerPolicy, BreakerState, CircuitBreakers, Dependency
from tests.events import lex_code_hook_event

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
CONTACT = "5fb2c1a4-7d0e-4e1b-9a43-0123456789ab"
CALLER = "+15551234567"
# A tight silence budget keeps the slow-agent tests short: the code hook waits 0.8 s.
FAST = VoiceProfile.from_tenant(TENANT).model_copy(
    update={
        "connect": TENANT.voice.connect.model_copy(update={"max_silence_seconds": 1.5, "audio_filler_delay_ms": 500})
    }
)
SLOW_AGENT_SECONDS = 1.2
ATTRS = {"contact_id": CONTACT, "caller": CALLER, "agent_id": "front-desk", "voice_tier": "standard"}


def reply(text: str, *extra: ReplyEvent, cost: float = 0.0004) -> list[ReplyEvent]:
    done = TurnComplete(session_id=CONTACT, model_id="nova-lite", routing_reason="simple", role="greeter",
                        qualification_score=0.3, cost_usd=cost)  # fmt: skip
    return [TextChunk(text=text), *extra, done]


@dataclass
class ScriptedAgent:
    """The tenant agent as the worker sees it: each call plays the next script (events, an error, a delay),
    and a turn it answers is persisted the way the real agent persists its turns (keyed by the session)."""

    scripts: list[Any]
    recorder: InMemoryConversationRecorder
    delay: float = 0.0
    requests: list[tuple[InvocationRequest, str]] = field(default_factory=list)

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        self.requests.append((request, session_id))
        script = self.scripts.pop(0) if self.scripts else reply("Anything else?")
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(script, Exception):
            raise script
        for event in script:
            yield event
        text = " ".join(e.text for e in script if isinstance(e, TextChunk))
        await self.recorder.record_turn(
            TurnRecord(
                tenant_id=request.tenant_id,
                session_id=session_id,
                agent_id=request.agent_id,
                channel=request.channel.value,
                sequence=await self.recorder.next_sequence(request.tenant_id, session_id),
                user_text=request.input.text,  # type: ignore[union-attr]
                reply_text=text,
                model_id="nova-lite",
                routing_reason="simple",
                role="greeter",
                at=NOW,
            )
        )


@dataclass
class Harness:
    voice: ConnectVoice
    agent: ScriptedAgent
    worker: InProcessTurnWorker
    recorder: InMemoryConversationRecorder
    budget: InMemoryBudgetLedger
    workflow: InMemoryWorkflowStateStore
    breakers: InMemoryBreakerStore
    mailbox: InMemoryTurnMailbox

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e.detail for e in self.recorder.events("cozy-comfort", CONTACT, kind)]

    def turns(self) -> list[TurnRecord]:
        return self.recorder.turns("cozy-comfort", CONTACT)

    def breaker(self, dependency: Dependency) -> BreakerState:
        board = self.voice.breakers
        records = asyncio.run(board.snapshot())
        return board.state(records, dependency)


def moving_clock() -> Callable[[], datetime]:
    """NOW, moving with real time: the worker compares it with the code hook's `answer_by`."""
    started = time.monotonic()
    return lambda: NOW + timedelta(seconds=time.monotonic() - started)


def harness(
    *scripts: Any,
    profile: VoiceProfile = FAST,
    delay: float = 0.0,
    leases: Any = None,
    worker_mailbox: Any = None,
    worker_clock_skew: timedelta = timedelta(0),
) -> Harness:
    """The voice path with its worker in process. `worker_mailbox` stands between the worker and the mailbox
    (to inject its faults); `worker_clock_skew` sets the worker's clock off the code hook's."""
    clock = moving_clock()
    recorder = InMemoryConversationRecorder()
    agent = ScriptedAgent(list(scripts), recorder, delay=delay)
    store, mailbox = InMemoryBreakerStore(), InMemoryTurnMailbox()
    board = CircuitBreakers("cozy-comfort", store, BreakerPolicy(profile.connect.breaker), clock)
    worker = InProcessTurnWorker(
        AgentTurnRunner(
            agent=agent,
            mailbox=worker_mailbox(mailbox) if worker_mailbox else mailbox,
            breakers=board,
            recorder=recorder,
            clock=lambda: clock() + worker_clock_skew,
        )
    )
    budget, workflow = InMemoryBudgetLedger(), InMemoryWorkflowStateStore()
    voice = ConnectVoice(
        profile,
        breakers=board,
        worker=worker,
        mailbox=mailbox,
        recorder=recorder,
        transcripts=RecorderTranscripts(recorder),
        budget=budget,
        workflow_states=workflow,
        clock=clock,
        poll_seconds=0.05,
        leases=leases,
    )
    return Harness(voice, agent, worker, recorder, budget, workflow, store, mailbox)


def lex_turn(h: Harness, text: str = "Do you have queen duvets?", **kwargs: Any) -> dict[str, Any]:
    event = lex_event(text, **kwargs)

    async def go() -> dict[str, Any]:
        answer = await h.voice.lex_turn(event)
        await h.worker.drain()
        return answer

    return asyncio.run(go())


def lex_event(text: str = "Do you have queen duvets?", **kwargs: Any) -> LexCodeHookEvent:
    attrs = {**ATTRS, "speech_mode": "speech_to_speech", **kwargs.pop("attributes", {})}
    return LexCodeHookEvent.model_validate(
        lex_code_hook_event(text, session_id=CONTACT, session_attributes=attrs, **kwargs)
    )


def flow_call(action: str, **attributes: str) -> FlowCall:
    return FlowCall(
        contact_id=CONTACT, caller=CALLER, attributes={**ATTRS, **attributes}, parameters={"action": action}
    )


def flow(h: Harness, action: str, **attributes: str) -> dict[str, str]:
    call = flow_call(action, **attributes)
    method = {"prepare": h.voice.prepare, "pickup": h.voice.pickup, "bot_failed": h.voice.bot_failed}[action]
    return asyncio.run(method(call))


def said(response: dict[str, Any]) -> str | None:
    messages = response.get("messages") or []
    return messages[0]["content"] if messages else None


def dialog(response: dict[str, Any]) -> str:
    return str(response["sessionState"]["dialogAction"]["type"])


def attrs(response: dict[str, Any]) -> dict[str, str]:
    return dict(response["sessionState"]["sessionAttributes"])


# ------------------------------------------------------------------------------------------ turns
def test_caller_speech_is_answered_by_the_agent_as_a_voice_turn_of_this_contact() -> None:
    h = harness(reply("Yes, our queen duvets start at $89."))
    response = lex_turn(h)
    assert dialog(response) == "ElicitIntent"
    assert said(response) == "Yes, our queen duvets start at $89."
    assert attrs(response)["next_step"] == "converse"
    ((request, session_id),) = h.agent.requests
    assert session_id == CONTACT
    assert request.channel.value == "voice"
    assert request.session_id == CONTACT
    assert request.customer is not None
    assert request.customer.key == f"phone:{CALLER}"
    assert request.input.text == "Do you have queen duvets?"  # type: ignore[union-attr]
    assert h.breaker(Dependency.AGENT) is BreakerState.CLOSED


@pytest.mark.parametrize(("source", "mode"), [("DialogCodeHook", "Speech"), ("FulfillmentCodeHook", "Text")])
def test_dialog_and_fulfillment_invocations_typed_or_spoken_are_answered_the_same_way(source: str, mode: str) -> None:
    h = harness(reply("Yes, we do."))
    confidence = 0.88 if mode == "Speech" else None
    response = lex_turn(h, "Do you sell pillows?", invocation_source=source, input_mode=mode, confidence=confidence)
    assert (dialog(response), said(response)) == ("ElicitIntent", "Yes, we do.")


def test_lexs_own_session_settings_like_the_nova_sonic_voice_override_survive_every_turn() -> None:
    # A Lex response's session attributes replace the session's: dropping the override would change the voice.
    override = {"x-amz-lex:audio:speaker-model-voice-override": "tiffany"}
    for response in (
        lex_turn(harness(reply("Hi!")), attributes=override),
        lex_turn(harness(), "", attributes=override),
        lex_turn(harness(), "agent", intent="SpeakToPerson", attributes=override),
    ):
        assert attrs(response)["x-amz-lex:audio:speaker-model-voice-override"] == "tiffany"


def test_low_confidence_speech_is_asked_again_then_handed_to_a_person() -> None:
    h = harness()
    first = lex_turn(h, "mmf hrm", confidence=0.2)
    assert dialog(first) == "ElicitIntent"
    assert said(first) == FAST.connect.unclear_message
    second = lex_turn(h, "hrm", confidence=0.1, attributes={"unclear_turns": "1"})
    assert said(second) == FAST.connect.unclear_message
    third = lex_turn(h, "", confidence=0.9, attributes={"unclear_turns": "2"})
    assert dialog(third) == "Close"
    assert attrs(third)["next_step"] == "transfer"
    assert attrs(third)["handoff_reason"] == "caller could not be understood (nothing was heard)"
    assert h.agent.requests == []  # the agent never got noise
    assert [t.routing_reason for t in h.turns()][:2] == [
        "transcription confidence 0.20",
        "transcription confidence 0.10",
    ]
    assert h.events("handoff") == [
        {"reason": "caller could not be understood (nothing was heard)", "source": "connect_voice"}
    ]


def test_caller_asking_for_a_person_is_transferred_with_summary_lead_and_whisper() -> None:
    h = harness(reply("The Cloud duvet is $129."))
    lex_turn(h, "How much is the Cloud duvet in king size?")
    asyncio.run(
        h.workflow.save(
            "cozy-comfort",
            CONTACT,
            WorkflowState(role="sales", qualification_score=0.64, lead={"signals": ["product_interest"]}),
        )
    )
    response = lex_turn(h, "Can I talk to a person?", intent="SpeakToPerson")
    assert dialog(response) == "Close"
    assert said(response) == FAST.connect.handoff_message
    state = attrs(response)
    assert state["next_step"] == "transfer"
    assert state["handoff_reason"] == "caller asked for a person"
    assert "How much is the Cloud duvet in king size?" in state["handoff_summary"]
    assert "Assistant last said: The Cloud duvet is $129." in state["handoff_summary"]
    assert (state["lead_score"], state["lead_signals"]) == ("0.64", "product_interest")
    assert state["handoff_whisper"].startswith("Cozy Comfort Bedding assistant transfer. Reason: caller asked")
    assert len(h.agent.requests) == 1  # answered without the agent


def test_the_agents_handoff_transfers_with_its_own_summary_and_is_recorded_once() -> None:
    handoff = Handoff(reason="customer asked for a person", summary="Customer asked: damaged pillow, refund.")
    h = harness(reply("Let me get someone for you.", handoff))
    response = lex_turn(h, "My pillow arrived damaged, I want a refund")
    assert said(response) == "Let me get someone for you."
    assert attrs(response)["next_step"] == "transfer"
    assert attrs(response)["handoff_summary"] == "Customer asked: damaged pillow, refund."
    assert h.events("handoff") == []  # the agent recorded the handoff it asked for


def test_the_agents_end_call_says_goodbye_and_ends() -> None:
    h = harness(reply("Thanks for calling, goodbye!", EndCall(reason="caller is done")))
    response = lex_turn(h, "That's all, thanks")
    assert (dialog(response), said(response), attrs(response)["next_step"]) == (
        "Close",
        "Thanks for calling, goodbye!",
        "end",
    )


# -------------------------------------------------------------------------------- never silent
def test_a_slow_agent_gets_a_holding_reply_within_the_deadline_and_pickup_speaks_the_answer() -> None:
    h = harness(reply("Yes, we ship to Canada."), delay=SLOW_AGENT_SECONDS)
    response = lex_turn(h, "Do you ship to Canada?")
    assert dialog(response) == "Close"
    assert said(response) == FAST.connect.holding_message
    state = attrs(response)
    assert state["next_step"] == "await_reply"
    assert len(state["pending_turn"]) == 32
    # The turn kept running: its outcome is in the mailbox, and the flow's pickup returns it.
    answer = flow(h, "pickup", pending_turn=state["pending_turn"], speech_mode="speech_to_speech")
    assert (answer["next_step"], answer["prompt"], answer["pending_turn"]) == (
        "converse",
        "Yes, we ship to Canada.",
        "",
    )


def test_a_fast_turn_answers_straight_from_the_worker_and_is_still_left_in_the_mailbox() -> None:
    h = harness(reply("Yes."))
    response = lex_turn(h, "Do you ship to Canada?")
    assert said(response) == "Yes."
    # Only the code hook knows the invoke response reached it in time: the worker leaves every outcome.
    (stored,) = h.mailbox._outcomes.values()
    assert stored is not None
    assert stored.reply_text == "Yes."


def test_pickup_says_still_on_it_then_hands_off_after_the_configured_rounds() -> None:
    h = harness()
    pending = "b" * 32  # a turn whose outcome never arrives
    answer = flow(h, "pickup", pending_turn=pending)
    assert (answer["next_step"], answer["prompt"], answer["holding_rounds"]) == (
        "await_reply",
        FAST.connect.still_working_message,
        "1",
    )
    last = flow(h, "pickup", pending_turn=pending, holding_rounds=str(FAST.connect.max_holding_rounds))
    assert last["next_step"] == "transfer"
    assert last["handoff_reason"] == "assistant took too long to answer"
    assert last["prompt"] == FAST.connect.handoff_message


def test_a_failing_agent_gets_an_apology_then_a_person_and_every_turn_is_kept() -> None:
    from agentcore.tenant_agent.client import AgentUnavailableError

    h = harness(AgentUnavailableError("down"), AgentUnavailableError("down"))
    first = lex_turn(h, "Hello?")
    assert (dialog(first), said(first), attrs(first)["failed_turns"]) == (
        "ElicitIntent",
        FAST.connect.trouble_message,
        "1",
    )
    second = lex_turn(h, "Hello, anyone?", attributes={"failed_turns": "1"})
    assert attrs(second)["next_step"] == "transfer"
    assert attrs(second)["handoff_reason"] == "assistant unavailable (AgentUnavailableError)"
    assert [(t.user_text, t.outcome) for t in h.turns()] == [("Hello?", "failed"), ("Hello, anyone?", "failed")]


def test_repeated_agent_failures_open_the_breaker_and_later_calls_go_straight_to_a_person() -> None:
    h = harness(*(RuntimeError("boom") for _ in range(3)))
    for _ in range(3):
        lex_turn(h, "Hi")
    assert h.breaker(Dependency.AGENT) is BreakerState.OPEN
    assert h.events("breaker")[-1] | {"reason": ""} == {
        "dependency": "agent",
        "from": "closed",
        "to": "open",
        "failures": 3,
        "reason": "",
    }
    response = lex_turn(h, "Hi again")
    assert attrs(response)["next_step"] == "transfer"
    assert attrs(response)["handoff_reason"] == "assistant unavailable (circuit open)"
    assert len(h.agent.requests) == 3  # the open breaker kept the fourth turn away from the agent
    assert flow(h, "prepare")["next_step"] == "transfer"


def test_a_worker_that_cannot_be_invoked_counts_against_the_agent_and_the_turn_is_kept() -> None:
    h = harness()

    class Refused:
        async def run(self, job: TurnJob, wait_seconds: float) -> TurnOutcome | None:
            raise TurnWorkerError("TooManyRequestsException")

    h.voice._worker = Refused()  # type: ignore[assignment]
    response = lex_turn(h, "Hello")
    assert said(response) == FAST.connect.trouble_message
    assert h.turns()[0].routing_reason == "agent not reached (TurnWorkerError)"
    assert asyncio.run(h.breakers.load("cozy-comfort", "agent")).failures == 1  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- tier escalation
ESCALATE = TierEscalation(to_tier="premium", qualification_score=0.81, estimated_extra_cost_usd=0.0635)


def test_escalation_within_budget_on_cascaded_speech_switches_to_the_premium_voice() -> None:
    h = harness(reply("Great choice, I can set that up for you today.", ESCALATE))
    asyncio.run(h.budget.add("cozy-comfort", NOW, "model", "nova-lite", 120.0))
    response = lex_turn(h, "I'll take two king duvets today", attributes={"speech_mode": "cascaded"})
    assert dialog(response) == "Close"
    state = attrs(response)
    assert (state["next_step"], state["voice_tier"], state["tts_voice"], state["tts_engine"]) == (
        "set_voice",
        "premium",
        "Ruth",
        "Generative",
    )
    assert state["prompt"] == "Great choice, I can set that up for you today."
    (escalation,) = h.events("escalation")
    assert escalation == {
        "stage": "voice",
        "call": CONTACT,
        "from_tier": "standard",
        "to_tier": "premium",
        "trigger": "qualification_threshold",
        "qualification_score": 0.81,
        "cost_impact_usd": 0.0635,
        "month_to_date_usd": 120.0,
        "monthly_budget_usd": 500.0,
        "budget_check_passed": True,
        "applied": True,
        "speech_mode": "cascaded",
    }


def test_escalation_over_budget_is_refused_recorded_and_the_conversation_goes_on() -> None:
    h = harness(reply("Great choice!", ESCALATE))
    asyncio.run(h.budget.add("cozy-comfort", NOW, "model", "claude-sonnet-4-5", 499.99))
    response = lex_turn(h, "I'll take it", attributes={"speech_mode": "cascaded"})
    assert dialog(response) == "ElicitIntent"
    assert attrs(response)["voice_tier"] == "standard"
    (escalation,) = h.events("escalation")
    assert (escalation["budget_check_passed"], escalation["applied"]) == (False, False)


def test_escalation_on_speech_to_speech_is_recorded_without_leaving_the_bot() -> None:
    h = harness(reply("Great choice!", ESCALATE))
    response = lex_turn(h, "I'll take it")
    assert dialog(response) == "ElicitIntent"
    assert attrs(response)["voice_tier"] == "premium"
    assert h.events("escalation")[0]["applied"] is True


# ---------------------------------------------------------------------------- degradation ladder
def test_prepare_starts_a_healthy_call_on_speech_to_speech_with_a_sonic_compatible_voice() -> None:
    answer = flow(harness(), "prepare")
    assert {k: answer[k] for k in ("speech_mode", "next_step", "tts_voice", "tts_engine", "sonic_voice", "prompt")} == {
        "speech_mode": "speech_to_speech",
        "next_step": "converse",
        "tts_voice": "Matthew",
        "tts_engine": "Generative",
        "sonic_voice": "tiffany",
        "prompt": TENANT.greeting,
    }


def _open(h: Harness, dependency: Dependency) -> None:
    for _ in range(FAST.connect.breaker.failure_threshold):
        asyncio.run(h.voice.breakers.record_failure(dependency, "down"))


def test_prepare_starts_on_cascaded_speech_when_speech_to_speech_is_broken() -> None:
    h = harness()
    _open(h, Dependency.SPEECH_TO_SPEECH)
    answer = flow(h, "prepare")
    assert (answer["speech_mode"], answer["tts_voice"], answer["tts_engine"]) == ("cascaded", "Joanna", "Neural")
    assert h.events("routing") == [
        {"what": "speech_mode", "from": "speech_to_speech", "to": "cascaded", "trigger": "breaker open at call start"}
    ]


def test_prepare_sends_the_caller_to_a_person_when_no_speech_rung_works() -> None:
    h = harness()
    _open(h, Dependency.SPEECH_TO_SPEECH)
    _open(h, Dependency.CASCADED_SPEECH)
    answer = flow(h, "prepare")
    assert (answer["speech_mode"], answer["next_step"], answer["handoff_reason"]) == (
        "human",
        "transfer",
        "speech services unavailable",
    )
    assert answer["prompt"] == FAST.connect.handoff_message


def test_a_speech_to_speech_bot_error_steps_down_to_cascaded_then_to_a_person() -> None:
    h = harness()
    down = flow(h, "bot_failed", speech_mode="speech_to_speech", prompt="Welcome!")
    assert (down["speech_mode"], down["next_step"], down["prompt"]) == (
        "cascaded",
        "converse",
        FAST.connect.trouble_message,
    )
    assert asyncio.run(h.breakers.load("cozy-comfort", "speech_to_speech")).failures == 1  # type: ignore[union-attr]
    bottom = flow(h, "bot_failed", speech_mode="cascaded")
    assert (bottom["speech_mode"], bottom["next_step"]) == ("human", "transfer")
    assert [e["to"] for e in h.events("routing")] == ["cascaded", "human"]


def test_a_turn_on_a_half_open_speech_to_speech_trial_closes_its_breaker() -> None:
    h = harness(reply("Hi!"))
    store = h.breakers
    _open(h, Dependency.SPEECH_TO_SPEECH)
    record = asyncio.run(store.load("cozy-comfort", "speech_to_speech"))
    assert record is not None
    asyncio.run(store.save("cozy-comfort", record.model_copy(update={"opened_at": None, "version": 4}), 3))
    assert flow(h, "prepare")["speech_mode"] == "speech_to_speech"  # the trial
    lex_turn(h, "Hello")
    assert h.breaker(Dependency.SPEECH_TO_SPEECH) is BreakerState.CLOSED
    assert h.events("breaker")[-1]["to"] == "closed"


@pytest.mark.parametrize("mode", ["speech_to_speech", "cascaded"])
def test_every_flow_answer_is_a_flat_string_map_with_every_key(mode: str) -> None:
    keys: Sequence[str] = ("next_step", "prompt", "speech_mode", "tts_voice", "tts_engine", "handoff_summary")
    for answer in (flow(harness(), "prepare"), flow(harness(), "bot_failed", speech_mode=mode)):
        assert all(isinstance(v, str) for v in answer.values())
        assert set(keys) <= set(answer)


# ------------------------------------------------------------------------------------ slot leases
def open_session(sessions: InMemoryCallSessionStore) -> None:
    slots = FAST.call_slots
    session = CallSession(
        tenant_id="cozy-comfort",
        contact_id=CONTACT,
        agent_id="front-desk",
        channel="voice",
        dialed_number="+15552333464",
        route=Route.AGENT,
        reason=RouteReason.ACCEPTED,
        voice_tier="standard",
        started_at=NOW - timedelta(minutes=4),
        counted_against_limit=True,
        lease_expires_at=first_lease(slots, NOW - timedelta(minutes=4)),
        lease_bound_at=lease_bound(slots, NOW - timedelta(minutes=4)),
    )
    sessions.open(session, max_concurrent_calls=5)


def test_every_turn_renews_the_calls_slot_lease_and_a_transfer_holds_it_to_the_longest_call() -> None:
    # Given a call whose slot lease runs out in a minute
    sessions = InMemoryCallSessionStore()
    open_session(sessions)
    h = harness(reply("Yes, we do."), leases=SessionStoreLeases(sessions))
    # When the caller speaks
    lex_turn(h, "Do you sell pillows?")
    # Then the turn showed the call alive: its lease runs a full lease from now
    renewed = sessions.get("cozy-comfort", CONTACT)
    assert renewed is not None
    assert renewed.lease_expires_at is not None
    assert renewed.last_seen_at is not None
    assert renewed.lease_expires_at >= NOW + timedelta(seconds=FAST.call_slots.lease_seconds)
    # And when the caller is handed to a person (no more turns), the slot is held until the longest call ends
    lex_turn(h, "a person please", intent="SpeakToPerson")
    held = sessions.get("cozy-comfort", CONTACT)
    assert held is not None
    assert held.lease_expires_at == held.lease_bound_at


def test_a_lease_store_that_fails_never_breaks_the_callers_turn() -> None:
    class Broken:
        async def renew(self, *args: Any) -> Any:
            raise ConnectionError("DynamoDB unreachable (injected)")

    h = harness(reply("Yes, we do."), leases=Broken())
    assert said(lex_turn(h, "Do you sell pillows?")) == "Yes, we do."
