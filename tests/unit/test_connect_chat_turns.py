"""Web chat and SMS contacts on Amazon Connect run through the same Lex code hook as calls: each message is answered
by the tenant agent on the chat or SMS channel (its written style), as the customer the contact names, with a
chat's patience rather than a caller's silence budget, and never with a voice change."""

from __future__ import annotations

from oratio.agent.contracts import TierEscalation
from oratio.connect_voice.state import SpeechMode
from tests.unit.test_connect_voice_service import (
    CALLER,
    CONTACT,
    FAST,
    SLOW_AGENT_SECONDS,
    attrs,
    dialog,
    flow,
    harness,
    lex_turn,
    reply,
    said,
)

CHAT = {"channel": "chat", "speech_mode": "text", "caller": "", "customer": "email:ana@example.com"}
SMS = {"channel": "sms", "speech_mode": "text"}


def test_a_web_chat_message_is_answered_on_the_chat_channel_as_the_customer_the_vendor_named() -> None:
    h = harness(reply("Yes, the grey duvet comes in queen."))
    response = lex_turn(h, "Does the grey duvet come in queen?", input_mode="Text", confidence=None, attributes=CHAT)
    assert (dialog(response), said(response)) == ("ElicitIntent", "Yes, the grey duvet comes in queen.")
    ((request, session_id),) = h.agent.requests
    assert (request.channel.value, session_id) == ("chat", CONTACT)
    assert request.customer is not None
    assert request.customer.key == "email:ana@example.com"


def test_a_web_chat_without_a_named_customer_is_answered_anonymously() -> None:
    h = harness(reply("Hello!"))
    lex_turn(h, "hi", input_mode="Text", confidence=None, attributes={**CHAT, "customer": ""})
    assert h.agent.requests[0][0].customer is None


def test_an_sms_is_answered_on_the_sms_channel_as_the_sender_s_number() -> None:
    h = harness(reply("Free shipping over $50."))
    lex_turn(h, "shipping cost?", input_mode="Text", confidence=None, attributes=SMS)
    request = h.agent.requests[0][0]
    assert request.channel.value == "sms"
    assert request.customer is not None
    assert request.customer.key == f"phone:{CALLER}"


def test_prepare_on_a_chat_opens_with_the_greeting_in_text_and_sets_no_voice() -> None:
    plan = flow(harness(), "prepare", channel="chat")
    assert (plan["speech_mode"], plan["next_step"], plan["prompt"]) == (
        SpeechMode.TEXT.value,
        "converse",
        FAST.greeting,
    )
    assert (plan["tts_voice"], plan["tts_engine"]) == ("", "")


def test_a_chat_waits_for_a_reply_a_caller_would_get_a_holding_line_for() -> None:
    slow = reply("Here you go.")
    call = lex_turn(
        harness(slow, delay=SLOW_AGENT_SECONDS), "where is my order?", attributes={"speech_mode": "cascaded"}
    )
    assert attrs(call)["next_step"] == "await_reply"
    chat = lex_turn(
        harness(reply("Here you go."), delay=SLOW_AGENT_SECONDS),
        "where is my order?",
        input_mode="Text",
        confidence=None,
        attributes=CHAT,
    )
    assert (dialog(chat), said(chat)) == ("ElicitIntent", "Here you go.")


def test_a_qualified_lead_on_chat_keeps_chatting_instead_of_changing_voice() -> None:
    escalation = TierEscalation(to_tier="premium", qualification_score=0.9, estimated_extra_cost_usd=0.01)
    response = lex_turn(
        harness(reply("Great choice!", escalation)),
        "I'll take two",
        input_mode="Text",
        confidence=None,
        attributes=CHAT,
    )
    assert (dialog(response), said(response), attrs(response)["next_step"]) == (
        "ElicitIntent",
        "Great choice!",
        "converse",
    )


def test_turns_the_code_hook_answers_itself_are_recorded_on_the_chat_channel() -> None:
    h = harness()
    lex_turn(h, "a person please", intent="SpeakToPerson", input_mode="Text", confidence=None, attributes=CHAT)
    (turn,) = h.turns()
    assert turn.channel == "chat"
