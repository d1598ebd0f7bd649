"""contact_flows/*.json: valid flow-language structure, no dead ends, every router route handled.

Pure JSON checks (no synth). A tiny walker plays a call through the inbound flow so the tests read
as what a caller hears.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from stacks.constructs.connect import ContactFlowTemplateError, render_flow_template

FLOWS_DIR = Path(__file__).resolve().parents[2] / "contact_flows"
INBOUND = FLOWS_DIR / "inbound.json"
KNOWN_PLACEHOLDERS = {"CallRouterFunctionArn", "CustomerQueueArn"}
ROUTER_ROUTES = ("agent", "closed", "paused", "unavailable")
# Actions after which Connect leaves this flow on success (no NextAction needed).
TERMINAL_TYPES = {"DisconnectParticipant", "TransferContactToQueue"}
# Error branches the flow language documents for each action type we use; each must be handled.
REQUIRED_ERRORS = {
    "InvokeLambdaFunction": {"NoMatchingError"},
    "UpdateContactAttributes": {"NoMatchingError"},
    "Compare": {"NoMatchingCondition"},
    "MessageParticipant": {"NoMatchingError"},
    "UpdateContactTargetQueue": {"NoMatchingError"},
    "TransferContactToQueue": {"QueueAtCapacity", "NoMatchingError"},
    "UpdateFlowLoggingBehavior": set(),
    "DisconnectParticipant": set(),
}
FORBIDDEN_ID_CHARS = re.compile(r"[%:()\\/=$,;\[\]{}]")
APOLOGY = "We're sorry, we can't take your call right now. Please try again in a few minutes. Goodbye."


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
    return next(e["NextAction"] for e in action["Transitions"]["Errors"] if e["ErrorType"] == error_type)


def play_call(
    flow: dict[str, Any],
    *,
    router_ok: bool = True,
    external: dict[str, str] | None = None,
    queue_full: bool = False,
) -> list[tuple[str, Any]]:
    """Walk the flow for one caller; return (action type, what it did) steps until the flow ends."""
    external = external or {}
    actions = _actions(flow)
    current, steps = flow["StartAction"], []
    for _ in range(len(actions) + 1):
        action = actions[current]
        kind, params = action["Type"], action["Parameters"]
        if kind == "MessageParticipant":
            text = params["Text"]
            steps.append((kind, external.get(text.removeprefix("$.External."), text)))
        elif kind == "UpdateContactTargetQueue":
            steps.append((kind, params["QueueId"]))
        else:
            steps.append((kind, None))
        if kind == "DisconnectParticipant":
            return steps
        if kind == "TransferContactToQueue":
            if not queue_full:
                return steps
            current = _error_target(action, "QueueAtCapacity")
        elif kind == "InvokeLambdaFunction" and not router_ok:
            current = _error_target(action, "NoMatchingError")
        elif kind == "Compare":
            value = external.get(params["ComparisonValue"].removeprefix("$.External."))
            matches = [
                c["NextAction"]
                for c in action["Transitions"]["Conditions"]
                if c["Condition"]["Operator"] == "Equals" and value in c["Condition"]["Operands"]
            ]
            current = matches[0] if matches else _error_target(action, "NoMatchingCondition")
        else:
            current = action["Transitions"]["NextAction"]
    raise AssertionError("the flow did not end: a loop")


@pytest.fixture(scope="module")
def inbound() -> dict[str, Any]:
    return _load(INBOUND)


def test_flow_uses_the_2019_10_30_language_and_starts_at_an_existing_action(inbound: dict[str, Any]) -> None:
    assert inbound["Version"] == "2019-10-30"
    assert inbound["StartAction"] in _actions(inbound)


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


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_path_from_the_start_ends_in_a_hang_up_or_a_queue_and_nothing_is_orphaned(path: Path) -> None:
    flow = _load(path)
    actions = _actions(flow)
    seen: set[str] = set()

    def walk(identifier: str, trail: tuple[str, ...]) -> None:
        assert identifier not in trail, f"loop: {' → '.join((*trail, identifier))}"
        seen.add(identifier)
        action = actions[identifier]
        if action["Type"] not in TERMINAL_TYPES:
            assert "NextAction" in action["Transitions"], f"{identifier} is a dead end"
        elif action["Type"] == "DisconnectParticipant":
            assert _targets(action) == []
        for target in _targets(action):
            walk(target, (*trail, identifier))

    walk(flow["StartAction"], ())
    assert seen == set(actions), f"unreachable actions: {sorted(set(actions) - seen)}"


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_action_handles_the_errors_its_type_can_raise(path: Path) -> None:
    for action in _load(path)["Actions"]:
        assert action["Type"] in REQUIRED_ERRORS, f"untested action type {action['Type']}"
        handled = {e["ErrorType"] for e in action["Transitions"].get("Errors", [])}
        assert handled >= REQUIRED_ERRORS[action["Type"]], action["Identifier"]


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_placeholders_are_exactly_the_values_the_stack_supplies(path: Path) -> None:
    found = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", path.read_text(encoding="utf-8")))
    assert found == KNOWN_PLACEHOLDERS


def test_flow_logging_is_on_before_the_router_is_called(inbound: dict[str, Any]) -> None:
    first = _actions(inbound)[inbound["StartAction"]]
    assert first["Type"] == "UpdateFlowLoggingBehavior"
    assert first["Parameters"] == {"FlowLoggingBehavior": "Enabled"}
    assert _actions(inbound)[first["Transitions"]["NextAction"]]["Type"] == "InvokeLambdaFunction"


def test_router_is_invoked_synchronously_within_connects_8_second_limit_with_a_flat_string_map(
    inbound: dict[str, Any],
) -> None:
    (router,) = [a for a in inbound["Actions"] if a["Type"] == "InvokeLambdaFunction"]
    params = router["Parameters"]
    assert params["LambdaFunctionARN"] == "${CallRouterFunctionArn}"
    assert 0 < int(params["InvocationTimeLimitSeconds"]) <= 8
    assert params["ResponseValidation"] == {"ResponseType": "STRING_MAP"}
    assert params.get("InvocationType", "SYNCHRONOUS") == "SYNCHRONOUS"


def test_router_answer_is_copied_to_contact_attributes(inbound: dict[str, Any]) -> None:
    (update,) = [a for a in inbound["Actions"] if a["Type"] == "UpdateContactAttributes"]
    assert update["Parameters"]["TargetContact"] == "Current"
    assert update["Parameters"]["Attributes"] == {
        key: f"$.External.{key}" for key in ("route", "reason", "agent_id", "voice_tier")
    }


def test_the_route_branch_handles_all_four_router_routes(inbound: dict[str, Any]) -> None:
    (compare,) = [a for a in inbound["Actions"] if a["Type"] == "Compare"]
    assert compare["Parameters"] == {"ComparisonValue": "$.External.route"}
    operands = [c["Condition"]["Operands"] for c in compare["Transitions"]["Conditions"]]
    assert sorted(o for group in operands for o in group) == sorted(ROUTER_ROUTES)


def test_agent_route_callers_hear_the_greeting_then_wait_in_the_customer_queue(
    inbound: dict[str, Any],
) -> None:
    steps = play_call(inbound, external={"route": "agent", "greeting": "Welcome to Cozy Comfort!"})
    assert steps[-3:] == [
        ("MessageParticipant", "Welcome to Cozy Comfort!"),
        ("UpdateContactTargetQueue", "${CustomerQueueArn}"),
        ("TransferContactToQueue", None),
    ]


@pytest.mark.parametrize("route", ["closed", "paused", "unavailable"])
def test_closed_paused_and_unavailable_callers_hear_the_router_message_then_are_hung_up_on(
    inbound: dict[str, Any], route: str
) -> None:
    message = f"Sorry, we are {route}."
    steps = play_call(inbound, external={"route": route, "message": message})
    assert steps[-2:] == [("MessageParticipant", message), ("DisconnectParticipant", None)]


@pytest.mark.parametrize(
    "situation",
    [
        {"router_ok": False},
        {"external": {"route": "something-new"}},
        {"external": {"route": "agent", "greeting": "Hi"}, "queue_full": True},
    ],
    ids=["router-error", "unknown-route", "queue-at-capacity"],
)
def test_failures_get_a_fixed_apology_then_a_hang_up_never_dead_air(
    inbound: dict[str, Any], situation: dict[str, Any]
) -> None:
    steps = play_call(inbound, **situation)
    assert steps[-2:] == [("MessageParticipant", APOLOGY), ("DisconnectParticipant", None)]


def test_metadata_says_the_agent_route_goes_to_the_queue_for_now(inbound: dict[str, Any]) -> None:
    assert "queue" in inbound["Metadata"]["name"].lower()
    assert inbound["Metadata"]["type"] == "contactFlow"


def test_rendering_substitutes_placeholders_and_rejects_unknown_ones(tmp_path: Path) -> None:
    rendered = render_flow_template(INBOUND, {"CallRouterFunctionArn": "arn:router", "CustomerQueueArn": "arn:queue"})
    assert "${" not in rendered
    assert "arn:router" in rendered
    assert "arn:queue" in rendered

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"LambdaFunctionARN": "${SomethingElse}"}), encoding="utf-8")
    with pytest.raises(ContactFlowTemplateError, match=r"unknown placeholder\(s\) \$\{SomethingElse\}"):
        render_flow_template(bad, {"CallRouterFunctionArn": "x"})
