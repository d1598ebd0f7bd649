"""contact_flows/*.json: valid flow-language structure, no dead ends, loops only through bounded Loop
blocks, every router route and every voice step handled.

Pure JSON checks (no synth). A small simulator plays calls through the inbound flow, with the Lambda
answers and the bot's outcomes scripted, so the tests read as what a caller hears and where they end up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oratio.connect_voice.service import CLOSED_PROMPT, HANDOFF_PROMPT, SILENCE_PROMPT, SONIC_VOICE
from oratio.connect_voice.state import OUTPUT_KEYS, SPEECH_MODE, NextStep
from oratio.replay.flow import BotOutcome, Contact, FlowInterpreter, LambdaFailed, Step
from oratio.replay.flow_language import ACTIONS, FlowLanguageError, check_flow
from stacks.constructs.connect import ContactFlowTemplateError, flow_placeholder, render_flow_template

FLOWS_DIR = Path(__file__).resolve().parents[2] / "contact_flows"
INBOUND = FLOWS_DIR / "inbound.json"
WHISPER = FLOWS_DIR / "agent_whisper.json"
STACK_PLACEHOLDERS = {
    "CallRouterFunctionArn",
    "CustomerQueueArn",
    "VoiceTurnFunctionArn",
    "SonicBotAliasArn",
    "CascadedBotAliasArn",
}
# Flows other flows point at (whispers, queue and hold flows); contact flows are where contacts start.
KNOWN_PLACEHOLDERS = STACK_PLACEHOLDERS | {
    flow_placeholder(p.stem)
    for p in FLOWS_DIR.glob("*.json")
    if json.loads(p.read_text(encoding="utf-8")).get("Metadata", {}).get("type", "contactFlow") != "contactFlow"
}
ROUTER_ROUTES = ("agent", "human", "closed", "paused", "unavailable")
# Actions after which Connect leaves this flow on success (no NextAction needed), from the flow-language table.
TERMINAL_TYPES = {kind for kind, spec in ACTIONS.items() if spec.terminal}
WEEKDAYS_UPPER = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
FORBIDDEN_ID_CHARS = re.compile(r"[%:()\\/=$,;\[\]{}]")
APOLOGY = "We're sorry, we can't take your call right now. Please try again in a few minutes. Goodbye."
FIXED_HANDOFF = "Please hold while we connect you with our team."


def _load(path: Path) -> dict[str, Any]:
    flow: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return flow


def _actions(flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["Identifier"]: a for a in flow["Actions"]}


def _targets(action: dict[str, Any]) -> list[str]:
    t = action.get("Transitions", {})
    targets = [t["NextAction"]] if "NextAction" in t else []
    targets += [c["NextAction"] for c in t.get("Conditions", [])]
    targets += [e["NextAction"] for e in t.get("Errors", [])]
    return targets


def _error_target(action: dict[str, Any], error_type: str) -> str:
    return str(next(e["NextAction"] for e in action["Transitions"]["Errors"] if e["ErrorType"] == error_type))


def _condition_target(action: dict[str, Any], value: str) -> str | None:
    for condition in action["Transitions"].get("Conditions", []):
        if condition["Condition"]["Operator"] == "Equals" and value in condition["Condition"]["Operands"]:
            return str(condition["NextAction"])
    return None


# ---------------------------------------------------------------------------- calls on the interpreter
@dataclass
class Call:
    """One caller (or a chat/SMS customer) through a contact flow on the replay's flow interpreter
    (oratio/replay/flow.py), with the world outside the flow scripted: what each Lambda answers (by action), what
    the bot does each time the caller is in it (a session-attribute dict, "error" or "silent"), whether the team
    is open and the queue full."""

    router: dict[str, str] | None = None
    channel: str = "VOICE"  # CHAT for a web chat or SMS contact (no dialed number)
    lambdas: dict[str, list[dict[str, str] | str]] = field(default_factory=dict)
    bot: list[dict[str, str] | str] = field(default_factory=list)
    team_open: bool = True
    queue_full: bool = False
    attributes: dict[str, str] = field(default_factory=dict)  # the contact's attributes at the start, then at the end
    steps: list[tuple[str, Any]] = field(default_factory=list)
    whispers: list[str] = field(default_factory=list)  # what the whisper flow said to the human agent

    def play(self, flow: dict[str, Any], name: str = "inbound") -> list[tuple[str, Any]]:
        dialed = "+15552333464" if self.channel == "VOICE" else None
        contact = Contact("contact-1", "+15551234567", dialed, channel=self.channel, attributes=dict(self.attributes))
        FlowInterpreter(_Scripted(self)).run(name, flow, contact)
        self.attributes = contact.attributes
        return self.steps


class _Scripted:
    """`FlowServices` answering from a `Call`'s scripts."""

    def __init__(self, call: Call) -> None:
        self.call = call

    def invoke_lambda(self, arn: str, contact: Contact, parameters: Any, timeout_seconds: int) -> Any:
        if arn == "${CallRouterFunctionArn}":
            answer: dict[str, str] | str | None = self.call.router
        else:
            name = parameters["action"]
            self.call.steps.append(("lambda", name))
            answer = self.call.lambdas[name].pop(0) if self.call.lambdas.get(name) else "error"
        if answer is None or answer == "error":
            raise LambdaFailed("scripted failure")
        return answer

    def converse(self, alias_arn: str, prompt: str, contact: Contact, session_attributes: Any) -> BotOutcome:
        self.call.steps.append(("bot", (alias_arn, prompt, dict(session_attributes))))
        outcome = self.call.bot.pop(0) if self.call.bot else "error"
        if outcome == "error":
            return BotOutcome("error")
        if outcome == "silent":
            return BotOutcome("timeout")
        assert isinstance(outcome, dict)
        return BotOutcome("ok", "FallbackIntent", {key: "" for key in OUTPUT_KEYS} | outcome)

    def hours(self, arn: str) -> Any:
        every_day = ((0, 0), (23, 59)) if self.call.team_open else None
        days = {day: every_day for day in WEEKDAYS_UPPER} if every_day else {}
        return "UTC", days

    def queue(self, arn: str) -> tuple[str | None, bool]:
        return "hours-of-the-queue", self.call.queue_full

    def flow(self, arn: str) -> tuple[str, dict[str, Any]]:
        return "agent_whisper", _load(WHISPER)

    def now(self) -> datetime:
        return datetime(2025, 1, 6, 12, 0, tzinfo=UTC)

    def record(self, step: Step) -> None:
        kinds = {
            "say": lambda: ("say", step.text),
            "voice": lambda: ("voice", tuple(step.text.removesuffix(")").split(" (", 1))),
            "hooks": lambda: ("hooks", dict(step.detail)),
            "queue": lambda: ("queue", step.text),
            "transfer": lambda: ("transfer", None),
            "hang_up": lambda: ("hang_up", None),
        }
        if step.kind == "whisper":
            self.call.whispers.append(step.text)
        elif step.kind in kinds:
            self.call.steps.append(kinds[step.kind]())


def router(route: str = "agent", **extra: str) -> dict[str, str]:
    return {"route": route, "reason": "accepted", "agent_id": "front-desk", "voice_tier": "standard", **extra}


def plan(mode: str = "speech_to_speech", **extra: str) -> dict[str, str]:
    """What the voice_turn Lambda's prepare (or bot_failed) action answers."""
    voice = ("Matthew", "Generative") if mode == "speech_to_speech" else ("Joanna", "Neural")
    return {key: "" for key in OUTPUT_KEYS} | {
        SPEECH_MODE: mode,
        "next_step": NextStep.CONVERSE.value,
        "prompt": "Welcome to Cozy Comfort Bedding!",
        "tts_voice": voice[0],
        "tts_engine": voice[1],
        SONIC_VOICE: "tiffany",
        SILENCE_PROMPT: "Are you still there?",
        HANDOFF_PROMPT: "Let me connect you with someone from our team.",
        CLOSED_PROMPT: "We're closed right now; please call back during business hours.",
        **extra,
    }


def bot(next_step: str, **extra: str) -> dict[str, str]:
    """The Lex session attributes the code hook leaves when it closes the bot."""
    return {"next_step": next_step, **extra}


def said(steps: list[tuple[str, Any]]) -> list[str]:
    return [detail for kind, detail in steps if kind == "say"]


def bots(steps: list[tuple[str, Any]]) -> list[tuple[str, str, dict[str, str]]]:
    return [detail for kind, detail in steps if kind == "bot"]


@pytest.fixture(scope="module")
def inbound() -> dict[str, Any]:
    return _load(INBOUND)


# ---------------------------------------------------------------------------------- structure
def test_flows_use_the_2019_10_30_language_and_start_at_an_existing_action() -> None:
    for path in (INBOUND, WHISPER):
        flow = _load(path)
        assert flow["Version"] == "2019-10-30"
        assert flow["StartAction"] in _actions(flow)


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_identifiers_are_unique_and_legal_and_every_transition_target_exists(path: Path) -> None:
    flow = _load(path)
    ids = [a["Identifier"] for a in flow["Actions"]]
    assert len(ids) == len(set(ids)), "duplicate identifiers"
    for identifier in ids:
        assert len(identifier) <= 50, identifier
        assert not FORBIDDEN_ID_CHARS.search(identifier), identifier
    for action in flow["Actions"]:
        assert set(action) >= {"Identifier", "Type", "Parameters", "Transitions"}, action["Identifier"]
        for target in _targets(action):
            assert target in ids, f"{action['Identifier']} → {target!r} does not exist"


def _cycles_without_a_loop(actions: dict[str, dict[str, Any]], start: str) -> Iterator[list[str]]:
    """Every cycle in the graph that does not pass through a Loop block (those could run forever)."""

    def walk(identifier: str, trail: list[str]) -> Iterator[list[str]]:
        if identifier in trail:
            cycle = trail[trail.index(identifier) :]
            if not any(actions[i]["Type"] == "Loop" for i in cycle):
                yield [*cycle, identifier]
            return
        for target in set(_targets(actions[identifier])):
            yield from walk(target, [*trail, identifier])

    yield from walk(start, [])


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_branch_ends_every_cycle_is_bounded_by_a_loop_block_and_nothing_is_orphaned(path: Path) -> None:
    flow = _load(path)
    actions = _actions(flow)
    for action in actions.values():
        kind, transitions = action["Type"], action["Transitions"]
        required = ACTIONS[kind].required_conditions
        if required:
            results = {o for c in transitions.get("Conditions", []) for o in c["Condition"]["Operands"]}
            assert results == required, f"{action['Identifier']} must map {set(required)}"
        if kind == "Loop":
            continue  # both of its results are mapped: it always leaves
        if kind not in TERMINAL_TYPES:
            assert "NextAction" in transitions, f"{action['Identifier']} is a dead end"
        elif kind in {"DisconnectParticipant", "EndFlowExecution"}:
            assert _targets(action) == []
    assert list(_cycles_without_a_loop(actions, flow["StartAction"])) == []
    reachable: set[str] = set()
    pending = [flow["StartAction"]]
    while pending:
        identifier = pending.pop()
        if identifier not in reachable:
            reachable.add(identifier)
            pending.extend(_targets(actions[identifier]))
    assert reachable == set(actions), f"unreachable actions: {sorted(set(actions) - reachable)}"


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_action_handles_the_errors_its_type_can_raise(path: Path) -> None:
    for action in _load(path)["Actions"]:
        assert action["Type"] in ACTIONS, f"action type {action['Type']} is not in the flow-language table"
        handled = {e["ErrorType"] for e in action["Transitions"].get("Errors", [])}
        assert handled >= ACTIONS[action["Type"]].errors, action["Identifier"]


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_connect_would_accept_every_flow_per_the_flow_language_reference(path: Path) -> None:
    assert [str(p) for p in check_flow(_load(path))] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a["Transitions"]["Errors"].append({"ErrorType": "NoMatchingCondition", "NextAction": "hang-up"}),
            "error type 'NoMatchingCondition' is not one this action raises",
        ),
        (lambda a: a.update(Type="PlayWhaleSong"), "'PlayWhaleSong' is not in the replay's flow-language table"),
        (lambda a: a["Parameters"].update(Volume="11"), "has no parameter 'Volume'"),
        (lambda a: a["Transitions"]["Conditions"].pop(), "a condition is required for each of ['False']"),
    ],
    ids=["error-type-not-raised", "unknown-action", "unknown-parameter", "missing-condition"],
)
def test_the_checker_refuses_what_connect_refuses_naming_the_action_and_the_reference_page(
    inbound: dict[str, Any], change: Any, message: str
) -> None:
    flow = json.loads(json.dumps(inbound))
    check_hours = next(a for a in flow["Actions"] if a["Identifier"] == "check-team-hours")
    change(check_hours)
    problems = [str(p) for p in check_flow(flow)]
    assert any(message in p and "check-team-hours" in p for p in problems), problems
    with pytest.raises(FlowLanguageError, match="check-team-hours"):
        Call(router=router()).play(flow)


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_placeholders_are_values_the_stack_supplies(path: Path) -> None:
    found = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", path.read_text(encoding="utf-8")))
    assert found <= KNOWN_PLACEHOLDERS
    if path == INBOUND:
        assert found == KNOWN_PLACEHOLDERS


def test_every_lambda_call_is_synchronous_within_connects_8_second_limit_with_a_flat_string_map(
    inbound: dict[str, Any],
) -> None:
    calls = [a for a in inbound["Actions"] if a["Type"] == "InvokeLambdaFunction"]
    assert {a["Parameters"]["LambdaFunctionARN"] for a in calls} == {
        "${CallRouterFunctionArn}",
        "${VoiceTurnFunctionArn}",
    }
    for call in calls:
        params = call["Parameters"]
        assert 0 < int(params["InvocationTimeLimitSeconds"]) <= 8
        assert params["ResponseValidation"] == {"ResponseType": "STRING_MAP"}
        assert params.get("InvocationType", "SYNCHRONOUS") == "SYNCHRONOUS"
    voice_calls = [a for a in calls if a["Parameters"]["LambdaFunctionARN"] == "${VoiceTurnFunctionArn}"]
    assert {a["Parameters"]["LambdaInvocationAttributes"]["action"] for a in voice_calls} == {
        "prepare",
        "pickup",
        "bot_failed",
    }


def test_flow_logging_is_on_before_the_router_is_called(inbound: dict[str, Any]) -> None:
    first = _actions(inbound)[inbound["StartAction"]]
    assert first["Type"] == "UpdateFlowLoggingBehavior"
    assert first["Parameters"] == {"FlowLoggingBehavior": "Enabled"}
    assert _actions(inbound)[first["Transitions"]["NextAction"]]["Parameters"]["LambdaFunctionARN"] == (
        "${CallRouterFunctionArn}"
    )


def test_router_answer_is_copied_to_contact_attributes(inbound: dict[str, Any]) -> None:
    update = _actions(inbound)["save-router-attributes"]
    assert update["Parameters"]["TargetContact"] == "Current"
    assert update["Parameters"]["Attributes"] == {
        **{
            key: f"$.External.{key}"
            for key in ("route", "reason", "agent_id", "voice_tier", "budget_state", "closed_prompt", "handoff_reason")
        },
        "handoff_whisper": "$.External.handoff_reason",
    }


def test_the_route_branch_handles_every_router_route(inbound: dict[str, Any]) -> None:
    (compare,) = [a for a in inbound["Actions"] if a["Parameters"].get("ComparisonValue") == "$.External.route"]
    operands = [c["Condition"]["Operands"] for c in compare["Transitions"]["Conditions"]]
    assert sorted(o for group in operands for o in group) == sorted(ROUTER_ROUTES)


def test_every_next_step_the_code_hook_can_set_is_handled_after_the_bot_and_after_a_pickup(
    inbound: dict[str, Any],
) -> None:
    for identifier in ("branch-next-step", "branch-pickup"):
        action = _actions(inbound)[identifier]
        handled = {o for c in action["Transitions"]["Conditions"] for o in c["Condition"]["Operands"]}
        assert handled == {step.value for step in NextStep}, identifier


def test_the_bot_gets_the_contact_caller_and_voice_state_and_nova_sonic_gets_the_tenants_voice(
    inbound: dict[str, Any],
) -> None:
    sonic, cascaded = _actions(inbound)["talk-sonic"], _actions(inbound)["talk-cascaded"]
    assert sonic["Parameters"]["LexV2Bot"] == {"AliasArn": "${SonicBotAliasArn}"}
    assert cascaded["Parameters"]["LexV2Bot"] == {"AliasArn": "${CascadedBotAliasArn}"}
    assert sonic["Parameters"]["LexSessionAttributes"]["x-amz-lex:audio:speaker-model-voice-override"] == (
        "$.Attributes.sonic_voice"
    )
    for talk in (sonic, cascaded):
        attributes = talk["Parameters"]["LexSessionAttributes"]
        assert attributes["contact_id"] == "$.ContactId"
        assert attributes["caller"] == "$.CustomerEndpoint.Address"
        assert talk["Parameters"]["Text"] == "$.Attributes.prompt"


def test_the_whisper_flow_speaks_the_handoff_summary_to_the_agent_and_ends() -> None:
    whisper = _load(WHISPER)
    assert whisper["Metadata"]["type"] == "agentWhisper"
    first = _actions(whisper)[whisper["StartAction"]]
    assert first["Parameters"] == {"Text": "$.Attributes.handoff_whisper"}
    assert _actions(whisper)[first["Transitions"]["NextAction"]]["Type"] == "EndFlowExecution"


def test_metadata_names_the_ai_conversation_and_the_handoff(inbound: dict[str, Any]) -> None:
    assert "ai voice agent" in inbound["Metadata"]["name"].lower()
    assert "handoff" in inbound["Metadata"]["name"].lower()
    assert inbound["Metadata"]["type"] == "contactFlow"
    assert len(inbound["Metadata"]["description"]) <= 500  # AWS::Connect::ContactFlow Description limit


# ------------------------------------------------------------------------------------- calls
@pytest.mark.parametrize("route", ["closed", "paused", "unavailable"])
def test_closed_paused_and_unavailable_callers_hear_the_router_message_then_are_hung_up_on(
    inbound: dict[str, Any], route: str
) -> None:
    steps = Call(router=router(route, message=f"Sorry, we are {route}.")).play(inbound)
    assert steps[-2:] == [("say", f"Sorry, we are {route}."), ("hang_up", None)]


@pytest.mark.parametrize(
    "call",
    [Call(router=None), Call(router=router("something-new"))],
    ids=["router-error", "unknown-route"],
)
def test_router_failures_get_a_fixed_apology_then_a_hang_up_never_dead_air(inbound: dict[str, Any], call: Call) -> None:
    assert call.play(inbound)[-2:] == [("say", APOLOGY), ("hang_up", None)]


def test_a_healthy_call_converses_on_nova_sonic_and_ends_when_the_agent_says_goodbye(inbound: dict[str, Any]) -> None:
    call = Call(router=router(), lambdas={"prepare": [plan()]}, bot=[bot("end")])
    steps = call.play(inbound)
    assert ("voice", ("Matthew", "Generative")) in steps
    ((alias, prompt, session),) = bots(steps)
    assert (alias, prompt) == ("${SonicBotAliasArn}", "Welcome to Cozy Comfort Bedding!")
    assert session["x-amz-lex:audio:speaker-model-voice-override"] == "tiffany"
    assert (session["contact_id"], session["agent_id"], session["speech_mode"]) == (
        "contact-1",
        "front-desk",
        "speech_to_speech",
    )
    assert steps[-1] == ("hang_up", None)


def test_a_holding_reply_is_picked_up_and_the_conversation_resumes_with_the_agents_answer(
    inbound: dict[str, Any],
) -> None:
    call = Call(
        router=router(),
        lambdas={
            "prepare": [plan()],
            "pickup": [
                plan(next_step="await_reply", prompt="Thanks for waiting, I'm still on it."),
                plan(next_step="converse", prompt="Yes, we ship to Canada."),
            ],
        },
        bot=[bot("await_reply", pending_turn="a" * 32), bot("end")],
    )
    steps = call.play(inbound)
    assert [s for s in steps if s[0] in {"lambda", "say"}] == [
        ("lambda", "prepare"),
        ("lambda", "pickup"),
        ("say", "Thanks for waiting, I'm still on it."),
        ("lambda", "pickup"),
    ]
    assert [prompt for _, prompt, _ in bots(steps)] == ["Welcome to Cozy Comfort Bedding!", "Yes, we ship to Canada."]


def test_a_reply_that_never_comes_ends_in_a_warm_transfer_not_an_endless_wait(inbound: dict[str, Any]) -> None:
    still = plan(next_step="await_reply", prompt="Still on it.")
    call = Call(
        router=router(),
        lambdas={"prepare": [plan()], "pickup": [dict(still) for _ in range(20)]},
        bot=[bot("await_reply")],
    )
    steps = call.play(inbound)
    assert said(steps).count("Still on it.") == 6  # the holding loop's bound
    assert steps[-4:] == [
        ("say", "Let me connect you with someone from our team."),
        ("hooks", {"AgentWhisper": "${AgentWhisperFlowArn}"}),
        ("queue", "${CustomerQueueArn}"),
        ("transfer", None),
    ]


def test_a_handoff_from_the_bot_transfers_to_the_queue_with_the_summary_whispered(inbound: dict[str, Any]) -> None:
    handoff = bot("transfer", handoff_summary="Caller asked: refund.", handoff_whisper="Transfer. Refund.")
    call = Call(router=router(), lambdas={"prepare": [plan()]}, bot=[handoff])
    steps = call.play(inbound)
    assert steps[-3:] == [
        ("hooks", {"AgentWhisper": "${AgentWhisperFlowArn}"}),
        ("queue", "${CustomerQueueArn}"),
        ("transfer", None),
    ]
    assert (call.attributes["handoff_summary"], call.attributes["handoff_whisper"]) == (
        "Caller asked: refund.",
        "Transfer. Refund.",
    )
    assert said(steps) == []  # the bot already said its line; the flow adds no second one
    assert call.whispers == ["Transfer. Refund."]  # the whisper flow ran for the human side


def test_a_transfer_when_the_team_is_closed_says_so_and_hangs_up(inbound: dict[str, Any]) -> None:
    call = Call(router=router(), lambdas={"prepare": [plan()]}, bot=[bot("transfer")], team_open=False)
    steps = call.play(inbound)
    assert steps[-2:] == [("say", "We're closed right now; please call back during business hours."), ("hang_up", None)]


def test_a_full_queue_gets_the_apology(inbound: dict[str, Any]) -> None:
    call = Call(router=router(), lambdas={"prepare": [plan()]}, bot=[bot("transfer")], queue_full=True)
    assert call.play(inbound)[-2:] == [("say", APOLOGY), ("hang_up", None)]


def test_a_failing_sonic_bot_steps_down_to_cascaded_speech_then_to_a_person(inbound: dict[str, Any]) -> None:
    call = Call(
        router=router(),
        lambdas={
            "prepare": [plan()],
            "bot_failed": [
                plan("cascaded", prompt="Sorry, I'm having a little trouble. Could you say that again?"),
                plan("human", next_step="transfer", prompt="Let me connect you with someone from our team."),
            ],
        },
        bot=["error", "error"],
    )
    steps = call.play(inbound)
    assert [alias for alias, _, _ in bots(steps)] == ["${SonicBotAliasArn}", "${CascadedBotAliasArn}"]
    assert ("voice", ("Joanna", "Neural")) in steps
    assert steps[-4:] == [
        ("say", "Let me connect you with someone from our team."),
        ("hooks", {"AgentWhisper": "${AgentWhisperFlowArn}"}),
        ("queue", "${CustomerQueueArn}"),
        ("transfer", None),
    ]


def test_a_premium_tier_changes_the_voice_then_the_conversation_goes_on(inbound: dict[str, Any]) -> None:
    escalated = bot(
        "set_voice", tts_voice="Ruth", tts_engine="Generative", prompt="Great choice!", voice_tier="premium"
    )
    call = Call(router=router(), lambdas={"prepare": [plan("cascaded")]}, bot=[escalated, bot("end")])
    steps = call.play(inbound)
    assert [s for s in steps if s[0] == "voice"] == [("voice", ("Joanna", "Neural")), ("voice", ("Ruth", "Generative"))]
    (_, prompt, session) = bots(steps)[1]
    assert (prompt, session["voice_tier"]) == ("Great choice!", "premium")


def test_a_silent_caller_is_asked_if_they_are_still_there(inbound: dict[str, Any]) -> None:
    call = Call(router=router(), lambdas={"prepare": [plan()]}, bot=["silent", bot("end")])
    steps = call.play(inbound)
    assert [prompt for _, prompt, _ in bots(steps)] == ["Welcome to Cozy Comfort Bedding!", "Are you still there?"]


def test_if_the_voice_lambda_is_down_the_caller_still_hears_a_line_and_reaches_the_queue(
    inbound: dict[str, Any],
) -> None:
    steps = Call(router=router(), lambdas={}).play(inbound)
    assert steps[-4:] == [
        ("say", FIXED_HANDOFF),
        ("hooks", {"AgentWhisper": "${AgentWhisperFlowArn}"}),
        ("queue", "${CustomerQueueArn}"),
        ("transfer", None),
    ]


def test_a_conversation_that_keeps_leaving_the_bot_is_bounded_and_ends_with_a_person(inbound: dict[str, Any]) -> None:
    call = Call(router=router(), lambdas={"prepare": [plan()]}, bot=[bot("converse", prompt="Hm?") for _ in range(50)])
    steps = call.play(inbound)
    assert len(bots(steps)) == 20  # the conversation loop's bound
    assert steps[-1] == ("transfer", None)


def test_rendering_substitutes_placeholders_and_rejects_unknown_ones(tmp_path: Path) -> None:
    values = {name: f"arn:{name}" for name in KNOWN_PLACEHOLDERS}
    rendered = render_flow_template(INBOUND, values)
    assert "${" not in rendered
    assert "arn:CallRouterFunctionArn" in rendered
    assert "arn:AgentWhisperFlowArn" in rendered

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"LambdaFunctionARN": "${SomethingElse}"}), encoding="utf-8")
    with pytest.raises(ContactFlowTemplateError, match=r"unknown placeholder\(s\) \$\{SomethingElse\}"):
        render_flow_template(bad, {"CallRouterFunctionArn": "x"})


def test_recording_is_started_only_when_the_router_says_so_after_the_notice() -> None:
    # Given the inbound flow as deployed
    actions = {a["Identifier"]: a for a in json.loads((FLOWS_DIR / "inbound.json").read_text())["Actions"]}
    branch = actions[actions["invoke-call-router"]["Transitions"]["NextAction"]]
    # Then right after the router, "recording: on" says the notice and then records agent and customer
    assert branch["Parameters"]["ComparisonValue"] == "$.External.recording"
    [on] = [c for c in branch["Transitions"]["Conditions"] if c["Condition"]["Operands"] == ["on"]]
    notice = actions[on["NextAction"]]
    assert (notice["Type"], notice["Parameters"]["Text"]) == ("MessageParticipant", "$.External.recording_notice")
    record = actions[notice["Transitions"]["NextAction"]]
    assert record["Type"] == "UpdateContactRecordingBehavior"
    assert record["Parameters"]["RecordingBehavior"] == {
        "RecordedParticipants": ["Agent", "Customer"],
        "IVRRecordingBehavior": "Enabled",
    }
    # And anything else (recording off, the default) goes straight on without recording
    assert branch["Transitions"]["NextAction"] == "save-router-attributes"
    assert record["Transitions"]["NextAction"] == "save-router-attributes"


def test_a_budget_transfer_says_the_message_then_queues_with_the_hours_check() -> None:
    actions = {a["Identifier"]: a for a in json.loads((FLOWS_DIR / "inbound.json").read_text())["Actions"]}
    branch = actions["branch-on-route"]
    [human] = [c for c in branch["Transitions"]["Conditions"] if c["Condition"]["Operands"] == ["human"]]
    say = actions[human["NextAction"]]
    assert (say["Type"], say["Parameters"]["Text"]) == ("MessageParticipant", "$.External.message")
    # The same transfer path as the agent's handoffs: whisper, queue, the team's hours (closed message if shut)
    assert say["Transitions"]["NextAction"] == "set-handoff-whisper"
    saved = actions["save-router-attributes"]["Parameters"]["Attributes"]
    assert saved["closed_prompt"] == "$.External.closed_prompt"
    assert saved["handoff_reason"] == "$.External.handoff_reason"
