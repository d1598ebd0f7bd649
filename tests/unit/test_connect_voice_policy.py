"""The Connect voice path's plain decisions: understood or not, what an agent outcome becomes, tier
escalation within and over budget, what the person taking over is told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oratio.agent.contracts import EndCall, Handoff, TierEscalation
from oratio.agent.ports import TurnRecord, WorkflowState
from oratio.config.tenant import ConnectVoiceSettings
from oratio.connect_voice.lex import MAX_MESSAGE_CHARS, LexCodeHookEvent, close, elicit_intent, fit_message
from oratio.connect_voice.outcome import TurnOutcome
from oratio.connect_voice.policy import (
    ReactionKind,
    decide_escalation,
    lead_attributes,
    react,
    summarize_transcript,
    understood,
    whisper_text,
)
from oratio.connect_voice.state import CallState, NextStep, SpeechMode
from tests.events import lex_code_hook_event

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
SETTINGS = ConnectVoiceSettings()


@pytest.mark.parametrize(
    ("text", "confidence", "expected"),
    [
        ("Do you have duvets?", 0.9, True),
        ("Do you have duvets?", None, True),  # typed or keyed input has no confidence
        ("Do you have duvets?", 0.4, True),
        ("mumble", 0.39, False),
        ("", 0.95, False),
        ("   ", None, False),
    ],
)
def test_understood(text: str, confidence: float | None, expected: bool) -> None:
    assert understood(text, confidence, SETTINGS) is expected


def outcome(**fields: object) -> TurnOutcome:
    return TurnOutcome.model_validate({"turn_id": "a" * 32, "status": "ok", "finished_at": NOW, **fields})


@pytest.mark.parametrize(
    ("result", "failed_before", "kind", "text", "failed_after"),
    [
        (outcome(reply_text="We have queen duvets."), 1, ReactionKind.REPLY, "We have queen duvets.", 0),
        (outcome(reply_text=""), 0, ReactionKind.REPLY, SETTINGS.trouble_message, 0),
        (outcome(status="failed", error="AgentUnavailableError"), 0, ReactionKind.REPLY, SETTINGS.trouble_message, 1),
        (outcome(status="failed", error="AgentUnavailableError"), 1, ReactionKind.HANDOFF, SETTINGS.handoff_message, 2),
        (
            outcome(reply_text="Connecting you.", handoff=Handoff(reason="asked", summary="wants a refund")),
            0,
            ReactionKind.HANDOFF,
            "Connecting you.",
            0,
        ),
        (outcome(reply_text="Goodbye!", end_call=EndCall(reason="done")), 0, ReactionKind.END, "Goodbye!", 0),
    ],
    ids=["reply", "empty-reply", "first-failure", "second-failure-hands-off", "agent-handoff", "end-call"],
)
def test_reaction_to_an_agent_turn(
    result: TurnOutcome, failed_before: int, kind: ReactionKind, text: str, failed_after: int
) -> None:
    reaction, failed = react(result, failed_before, SETTINGS)
    assert (reaction.kind, reaction.text, failed) == (kind, text, failed_after)


def test_the_agents_handoff_summary_is_carried_to_the_person() -> None:
    reaction, _ = react(outcome(reply_text="One sec.", handoff=Handoff(reason="asked", summary="S")), 0, SETTINGS)
    assert reaction.handover is not None
    assert (reaction.handover.reason, reaction.handover.summary) == ("asked", "S")


SIGNAL = TierEscalation(to_tier="premium", qualification_score=0.82, estimated_extra_cost_usd=0.0635)


@pytest.mark.parametrize(
    ("mode", "month_to_date", "passed", "applied", "audible"),
    [
        (SpeechMode.CASCADED, 120.0, True, True, True),
        (SpeechMode.SPEECH_TO_SPEECH, 120.0, True, True, False),
        (SpeechMode.CASCADED, 499.95, False, False, False),
        (SpeechMode.CASCADED, None, False, False, False),
    ],
    ids=["cascaded-within-budget", "s2s-within-budget", "over-budget", "ledger-unreadable"],
)
def test_tier_escalation_is_applied_only_within_budget(
    mode: SpeechMode, month_to_date: float | None, passed: bool, applied: bool, audible: bool
) -> None:
    decision = decide_escalation(
        SIGNAL,
        current_tier="standard",
        known_tiers=("standard", "premium"),
        speech_mode=mode,
        month_to_date_usd=month_to_date,
        monthly_budget_usd=500,
    )
    assert (decision.budget_check_passed, decision.applied, decision.audible) == (passed, applied, audible)
    detail = decision.detail("contact-1")
    assert detail | {"month_to_date_usd": None} == {
        "stage": "voice",
        "call": "contact-1",
        "from_tier": "standard",
        "to_tier": "premium",
        "trigger": "qualification_threshold",
        "qualification_score": 0.82,
        "cost_impact_usd": 0.0635,
        "month_to_date_usd": None,
        "monthly_budget_usd": 500,
        "budget_check_passed": passed,
        "applied": applied,
        "speech_mode": mode.value,
    }


def test_an_unknown_tier_or_the_current_one_is_not_applied() -> None:
    for to_tier, current in (("platinum", "standard"), ("premium", "premium")):
        decision = decide_escalation(
            SIGNAL.model_copy(update={"to_tier": to_tier}),
            current_tier=current,
            known_tiers=("standard", "premium"),
            speech_mode=SpeechMode.CASCADED,
            month_to_date_usd=0,
            monthly_budget_usd=500,
        )
        assert decision.budget_check_passed
        assert not decision.applied


def turn(sequence: int, user: str | None, reply: str) -> TurnRecord:
    return TurnRecord(
        tenant_id="cozy-comfort",
        session_id="c",
        agent_id="front-desk",
        channel="voice",
        sequence=sequence,
        user_text=user,
        reply_text=reply,
        model_id=None,
        routing_reason="",
        role="greeter",
        at=NOW,
    )


def test_transcript_summary_keeps_the_newest_asks_and_the_last_reply_within_the_limit() -> None:
    turns = [turn(i, f"question number {i} about pillows and duvets and sheets", f"answer {i}") for i in range(1, 9)]
    summary = summarize_transcript(turns, limit=160)
    assert len(summary) <= 160
    assert summary.startswith("Caller asked:")
    assert "question number 8" in summary
    assert "question number 1 " not in summary
    assert summary.endswith("Assistant last said: answer 8")


def test_a_question_in_the_summary_keeps_its_own_punctuation() -> None:
    summary = summarize_transcript([turn(1, "What is your return policy?", "30 days.")])
    assert summary == "Caller asked: What is your return policy? Assistant last said: 30 days."
    assert summarize_transcript([turn(1, "refund", "")]) == "Caller asked: refund."


def test_an_empty_transcript_still_tells_the_person_something() -> None:
    assert "before speaking" in summarize_transcript([])


def test_lead_attributes_and_whisper() -> None:
    state = WorkflowState(
        role="sales", qualification_score=0.7512, lead={"signals": ["budget", "timeline"], "products": ["duvets"]}
    )
    score, signals = lead_attributes(state)
    assert (score, signals) == ("0.75", "budget, timeline; products: duvets")
    whisper = whisper_text("Cozy Comfort Bedding", "caller asked for a person", "Caller asked: refund.", score, signals)
    assert whisper == (
        "Cozy Comfort Bedding assistant transfer. Reason: caller asked for a person. Caller asked: refund. "
        "Lead score 0.75 (budget, timeline; products: duvets)."
    )
    assert lead_attributes(None) == ("", "")


def test_lex_event_parsing_reads_transcript_confidence_and_session_attributes() -> None:
    raw = lex_code_hook_event("Hello there", confidence=0.31, session_attributes={"speech_mode": "cascaded"})
    raw["transcriptions"][0]["transcriptionConfidence"] = "0.31"  # some events carry it as a string
    raw["someNewField"] = {"added": "by AWS later"}
    event = LexCodeHookEvent.model_validate(raw)
    assert event.caller_text == "Hello there"
    assert event.transcription_confidence == pytest.approx(0.31)
    assert event.session_state.session_attributes == {"speech_mode": "cascaded"}
    typed = LexCodeHookEvent.model_validate(lex_code_hook_event("hi", input_mode="Text", confidence=None))
    assert typed.transcription_confidence is None


def test_lex_responses_have_the_documented_shapes() -> None:
    assert elicit_intent("Hi", {"a": "1"}) == {
        "sessionState": {"sessionAttributes": {"a": "1"}, "dialogAction": {"type": "ElicitIntent"}},
        "messages": [{"contentType": "PlainText", "content": "Hi"}],
    }
    closed = close("FallbackIntent", {}, message=None)
    assert closed == {
        "sessionState": {
            "sessionAttributes": {},
            "dialogAction": {"type": "Close"},
            "intent": {"name": "FallbackIntent", "state": "Fulfilled"},
        }
    }


def test_long_replies_are_cut_at_a_sentence_within_lex_limits() -> None:
    long = "This is a sentence about duvets. " * 60
    fitted = fit_message(long)
    assert len(fitted) <= MAX_MESSAGE_CHARS
    assert fitted.endswith("duvets.")


def test_call_state_reads_leniently_and_writes_every_output_key() -> None:
    state = CallState.from_attributes(
        {"unclear_turns": "x", "speech_mode": "warp", "contact_id": ""}, contact_id="c-1", default_tier="standard"
    )
    assert (state.contact_id, state.unclear_turns, state.speech_mode, state.voice_tier) == (
        "c-1",
        0,
        SpeechMode.CASCADED,
        "standard",
    )
    attributes = state.to_attributes()
    assert attributes["next_step"] == NextStep.CONVERSE.value
    assert all(isinstance(v, str) for v in attributes.values())
