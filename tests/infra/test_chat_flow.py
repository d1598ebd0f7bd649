"""contact_flows/chat.json: web chat and SMS contacts ask the call router for their agent (a web chat by the agent id
it was started with), converse through the tenant's Lex bot in text with the same code hook, and hand off to the
human queue with the summary — played on the replay's flow interpreter (oratio/replay/flow.py) with the world
outside the flow scripted, as test_contact_flows.py plays the inbound flow (where the structural checks of every flow
in contact_flows/ and the flow-language check run)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oratio.connect_voice.state import SpeechMode
from tests.infra.test_contact_flows import FLOWS_DIR, Call, bot, bots, plan, router, said

CHAT = FLOWS_DIR / "chat.json"
APOLOGY = "We're sorry, we can't answer your messages right now. Please try again a little later."


@pytest.fixture(scope="module")
def chat() -> dict[str, Any]:
    flow: dict[str, Any] = json.loads(CHAT.read_text(encoding="utf-8"))
    return flow


def _action(flow: dict[str, Any], identifier: str) -> dict[str, Any]:
    return next(a for a in flow["Actions"] if a["Identifier"] == identifier)


def text_plan(**extra: str) -> dict[str, str]:
    return plan("text", **{"speech_mode": SpeechMode.TEXT.value, **extra})


def test_the_chat_flow_is_a_contact_flow_in_the_2019_10_30_language(chat: dict[str, Any]) -> None:
    assert chat["Version"] == "2019-10-30"
    assert chat["Metadata"]["type"] == "contactFlow"
    assert len(chat["Metadata"]["description"]) <= 500


def test_the_router_gets_the_agent_id_the_web_chat_was_started_with(chat: dict[str, Any]) -> None:
    first = _action(chat, chat["StartAction"])
    assert first["Type"] == "UpdateFlowLoggingBehavior"
    call_router = _action(chat, first["Transitions"]["NextAction"])
    assert call_router["Parameters"]["LambdaFunctionARN"] == "${CallRouterFunctionArn}"
    assert call_router["Parameters"]["LambdaInvocationAttributes"] == {"agent_id": "$.Attributes.agent_id"}
    saved = _action(chat, "save-router-attributes")["Parameters"]["Attributes"]
    assert saved["channel"] == "$.External.channel"


def test_a_web_chat_converses_in_text_on_the_cascaded_bot_with_its_channel_and_customer(chat: dict[str, Any]) -> None:
    call = Call(
        channel="CHAT",
        router=router(channel="chat"),
        lambdas={"prepare": [text_plan()]},
        bot=[bot("converse", prompt="Yes, in grey."), bot("end")],
        attributes={"agent_id": "front-desk", "customer": "email:ana@example.com"},
    )
    steps = call.play(chat, "chat")
    (first, second) = bots(steps)
    alias, prompt, session = first
    assert (alias, prompt) == ("${CascadedBotAliasArn}", "Welcome to Cozy Comfort Bedding!")
    assert (session["channel"], session["customer"], session["speech_mode"]) == (
        "chat",
        "email:ana@example.com",
        "text",
    )
    assert second[1] == "Yes, in grey."
    assert [kind for kind, _ in steps if kind == "voice"] == []  # no voice is set on a chat
    assert steps[-1] == ("hang_up", None)


@pytest.mark.parametrize("route", ["paused", "closed", "unavailable"])
def test_a_paused_or_closed_agent_sends_the_routers_written_notice_and_ends_the_chat(
    chat: dict[str, Any], route: str
) -> None:
    steps = Call(channel="CHAT", router=router(route, message="Our assistant is taking a short break.")).play(
        chat, "chat"
    )
    assert steps[-2:] == [("say", "Our assistant is taking a short break."), ("hang_up", None)]


def test_router_failures_get_a_written_apology(chat: dict[str, Any]) -> None:
    assert Call(channel="CHAT", router=None).play(chat, "chat")[-2:] == [("say", APOLOGY), ("hang_up", None)]


def test_a_slow_reply_is_picked_up_and_the_chat_resumes_with_it(chat: dict[str, Any]) -> None:
    call = Call(
        channel="CHAT",
        router=router(channel="sms"),
        lambdas={
            "prepare": [text_plan()],
            "pickup": [
                text_plan(next_step="await_reply", prompt="Still on it."),
                text_plan(next_step="converse", prompt="It ships Monday."),
            ],
        },
        bot=[bot("await_reply", pending_turn="t1"), bot("end")],
    )
    steps = call.play(chat, "chat")
    assert ("say", "Still on it.") in steps
    assert [p for _, p, _ in bots(steps)] == ["Welcome to Cozy Comfort Bedding!", "It ships Monday."]


def test_a_handoff_transfers_the_chat_to_the_queue_with_the_summary_as_contact_attributes(chat: dict[str, Any]) -> None:
    handoff = bot("transfer", handoff_reason="refund", handoff_summary="Customer asked: refund for order CC-123456.")
    call = Call(channel="CHAT", router=router(channel="chat"), lambdas={"prepare": [text_plan()]}, bot=[handoff])
    steps = call.play(chat, "chat")
    assert steps[-2:] == [("queue", "${CustomerQueueArn}"), ("transfer", None)]
    assert call.attributes["handoff_summary"] == "Customer asked: refund for order CC-123456."
    assert said(steps) == []  # the bot already wrote its line


def test_a_handoff_when_the_team_is_closed_writes_the_closed_line_and_ends(chat: dict[str, Any]) -> None:
    call = Call(
        channel="CHAT",
        router=router(channel="chat"),
        lambdas={"prepare": [text_plan()]},
        bot=[bot("transfer")],
        team_open=False,
    )
    steps = call.play(chat, "chat")
    assert steps[-2:] == [("say", "We're closed right now; please call back during business hours."), ("hang_up", None)]


def test_when_the_bot_fails_the_customer_is_handed_to_a_person_not_left_waiting(chat: dict[str, Any]) -> None:
    call = Call(channel="CHAT", router=router(channel="chat"), lambdas={"prepare": [text_plan()]}, bot=["error"])
    steps = call.play(chat, "chat")
    assert steps[-3:] == [
        ("say", "Let me connect you with someone from our team."),
        ("queue", "${CustomerQueueArn}"),
        ("transfer", None),
    ]


def test_with_the_agents_breaker_open_the_chat_goes_straight_to_a_person(chat: dict[str, Any]) -> None:
    human = text_plan(
        next_step="transfer", prompt="Let me connect you with someone from our team.", speech_mode="human"
    )
    steps = Call(channel="CHAT", router=router(channel="chat"), lambdas={"prepare": [human]}).play(chat, "chat")
    assert bots(steps) == []
    assert steps[-3:] == [
        ("say", "Let me connect you with someone from our team."),
        ("queue", "${CustomerQueueArn}"),
        ("transfer", None),
    ]


def test_a_customer_who_stops_writing_is_asked_if_they_are_still_there(chat: dict[str, Any]) -> None:
    call = Call(
        channel="CHAT", router=router(channel="chat"), lambdas={"prepare": [text_plan()]}, bot=["silent", bot("end")]
    )
    assert [p for _, p, _ in bots(call.play(chat, "chat"))] == [
        "Welcome to Cozy Comfort Bedding!",
        "Are you still there?",
    ]


def test_a_chat_that_keeps_leaving_the_bot_is_bounded_and_ends_with_a_person(chat: dict[str, Any]) -> None:
    call = Call(
        channel="CHAT",
        router=router(channel="chat"),
        lambdas={"prepare": [text_plan()]},
        bot=[bot("converse", prompt="?") for _ in range(40)],
    )
    steps = call.play(chat, "chat")
    assert len(bots(steps)) == 20
    assert steps[-1] == ("transfer", None)
