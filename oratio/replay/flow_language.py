"""The Amazon Connect flow language (version 2019-10-30) as far as Oratio's flows use it: one table of action
types with the parameters, condition results and error types AWS documents for each, and the page each entry
comes from. `check_flow` refuses what Connect would refuse; the interpreter runs only flows that pass it.

Source: the Amazon Connect API reference, "Amazon Connect Flow language" (flow-language-actions.html and the
page of each action). Add an action type here, with its page, before a flow uses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FLOW_LANGUAGE_VERSION = "2019-10-30"
REFERENCE = "https://docs.aws.amazon.com/connect/latest/APIReference/"
# flow-language-actions.html: at most 50 characters, none of these, none of these names.
MAX_IDENTIFIER_CHARS = 50
FORBIDDEN_IDENTIFIER_CHARS = re.compile(r"[%:()\\/=$,;\[\]{}]")
FORBIDDEN_IDENTIFIERS = frozenset(
    {
        "__proto__",
        "constructor",
        "__defineGetter__",
        "__defineSetter__",
        "toString",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "valueOf",
    }
)


@dataclass(frozen=True)
class ActionSpec:
    """What the reference allows for one action type.

    `conditions`: the condition results the action produces; None means conditions are not supported, an empty
    set means any value may be compared (Compare). `required_conditions`: results that must each have a
    condition (Loop, CheckHoursOfOperation). `terminal`: the action ends the flow on success (no NextAction).
    """

    page: str
    parameters: frozenset[str]
    required_parameters: frozenset[str] = frozenset()
    errors: frozenset[str] = frozenset()
    required_errors: frozenset[str] = frozenset()
    conditions: frozenset[str] | None = None
    required_conditions: frozenset[str] = frozenset()
    terminal: bool = False
    flow_types: frozenset[str] | None = None  # None: every flow type

    @property
    def url(self) -> str:
        return REFERENCE + self.page


def _set(*items: str) -> frozenset[str]:
    return frozenset(items)


INBOUND_AND_TRANSFER = _set("contactFlow", "transferToQueue", "transferToAgent")
PROMPT_PARAMETERS = ("PromptId", "Text", "SSML", "Media")

ACTIONS: Mapping[str, ActionSpec] = {
    "UpdateFlowLoggingBehavior": ActionSpec(
        page="flow-control-actions-updateflowloggingbehavior.html",
        parameters=_set("FlowLoggingBehavior"),
        required_parameters=_set("FlowLoggingBehavior"),
    ),
    "InvokeLambdaFunction": ActionSpec(
        page="interactions-invokelambdafunction.html",
        parameters=_set(
            "LambdaFunctionARN",
            "InvocationTimeLimitSeconds",
            "InvocationType",
            "LambdaInvocationAttributes",
            "ResponseValidation",
        ),
        required_parameters=_set("LambdaFunctionARN"),
        errors=_set("NoMatchingError"),
    ),
    "UpdateContactAttributes": ActionSpec(
        page="contact-actions-updatecontactattributes.html",
        parameters=_set("TargetContact", "Attributes"),
        required_parameters=_set("Attributes"),
        errors=_set("NoMatchingError"),
    ),
    "Compare": ActionSpec(
        page="flow-control-actions-compare.html",
        parameters=_set("ComparisonValue"),
        required_parameters=_set("ComparisonValue"),
        errors=_set("NoMatchingCondition"),
        conditions=frozenset(),
    ),
    "UpdateContactTextToSpeechVoice": ActionSpec(
        page="contact-actions-updatecontacttexttospeechvoice.html",
        parameters=_set("TextToSpeechVoice", "TextToSpeechEngine", "TextToSpeechStyle"),
        required_parameters=_set("TextToSpeechVoice"),
        errors=_set("NoMatchingError"),
        required_errors=_set("NoMatchingError"),  # "Must always be defined."
    ),
    "Loop": ActionSpec(
        page="flow-control-actions-loop.html",
        parameters=_set("LoopCount"),
        required_parameters=_set("LoopCount"),
        conditions=_set("ContinueLooping", "DoneLooping"),
        required_conditions=_set("ContinueLooping", "DoneLooping"),
    ),
    "ConnectParticipantWithLexBot": ActionSpec(
        page="participant-actions-connectparticipantwithlexbot.html",
        parameters=_set(
            *PROMPT_PARAMETERS,
            "LexV2Bot",
            "LexBot",
            "LexSessionAttributes",
            "LexInitilizationData",  # sic: the reference spells it so
            "LexTimeoutSeconds",
        ),
        errors=_set("InputTimeLimitExceeded", "NoMatchingError", "NoMatchingCondition"),
        conditions=frozenset(),  # the intent the bot ended with
    ),
    "MessageParticipant": ActionSpec(
        page="participant-actions-messageparticipant.html",
        parameters=_set(*PROMPT_PARAMETERS),
        errors=_set("NoMatchingError"),
    ),
    "UpdateContactEventHooks": ActionSpec(
        page="contact-actions-updatecontacteventhooks.html",
        parameters=_set("EventHooks"),
        required_parameters=_set("EventHooks"),
        errors=_set("NoMatchingError"),
    ),
    "UpdateContactTargetQueue": ActionSpec(
        page="contact-actions-updatecontacttargetqueue.html",
        parameters=_set("QueueId", "AgentId"),
        errors=_set("NoMatchingError"),
        flow_types=INBOUND_AND_TRANSFER,
    ),
    "CheckHoursOfOperation": ActionSpec(
        page="flow-control-actions-checkhoursofoperation.html",
        parameters=_set("HoursOfOperationId"),
        errors=_set("NoMatchingError"),
        conditions=_set("True", "False"),
        required_conditions=_set("True", "False"),
        flow_types=_set("contactFlow", "transferToQueue", "transferToAgent", "customerQueue"),
    ),
    "TransferContactToQueue": ActionSpec(
        page="contact-actions-transfercontacttoqueue.html",
        parameters=frozenset(),
        errors=_set("QueueAtCapacity", "NoMatchingError"),
        terminal=True,
        flow_types=INBOUND_AND_TRANSFER,
    ),
    "DisconnectParticipant": ActionSpec(
        page="participant-actions-disconnectparticipant.html",
        parameters=frozenset(),
        terminal=True,
        flow_types=_set("contactFlow", "transferToQueue", "transferToAgent", "customerQueue"),
    ),
    "EndFlowExecution": ActionSpec(
        page="flow-control-actions-endflowexecution.html",
        parameters=frozenset(),
        terminal=True,
        flow_types=_set("agentWhisper", "customerWhisper", "customerQueue", "outboundWhisper"),
    ),
}
# Parameters the reference requires to be given statically (no `$.` reference).
STATIC_PARAMETERS = {
    ("InvokeLambdaFunction", "InvocationTimeLimitSeconds"),
    ("InvokeLambdaFunction", "ResponseValidation"),
    ("UpdateFlowLoggingBehavior", "FlowLoggingBehavior"),
}
MAX_LAMBDA_SECONDS = 8  # InvocationTimeLimitSeconds: "greater than 0, no larger than 8, and an integer"
MAX_LOOP_COUNT = 100  # LoopCount: "between 0 and 100 (inclusive)"


@dataclass
class FlowProblem:
    """One thing Connect would refuse, with where it is and the reference page that says so."""

    action: str
    message: str
    page: str = ""

    def __str__(self) -> str:
        where = f"action {self.action!r}: " if self.action else ""
        cite = f" (see {REFERENCE}{self.page})" if self.page else ""
        return f"{where}{self.message}{cite}"


class FlowLanguageError(ValueError):
    """A flow Connect would refuse (or the replay cannot run); the message lists every problem."""

    def __init__(self, flow_name: str, problems: list[FlowProblem]) -> None:
        self.flow_name = flow_name
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"flow {flow_name}: {len(problems)} problem(s)\n{lines}")


@dataclass
class _Checker:
    flow: Mapping[str, Any]
    flow_type: str
    problems: list[FlowProblem] = field(default_factory=list)

    def add(self, action: str, message: str, page: str = "") -> None:
        self.problems.append(FlowProblem(action, message, page))

    def run(self) -> list[FlowProblem]:
        flow = self.flow
        if flow.get("Version") != FLOW_LANGUAGE_VERSION:
            self.add(
                "", f"Version must be {FLOW_LANGUAGE_VERSION!r}, not {flow.get('Version')!r}", "flow-language.html"
            )
        actions = flow.get("Actions")
        if not isinstance(actions, list) or not actions:
            self.add("", "Actions must be a non-empty list", "flow-language-actions.html")
            return self.problems
        ids = [str(a.get("Identifier", "")) for a in actions if isinstance(a, Mapping)]
        if len(ids) != len(set(ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            self.add("", f"duplicate Identifier(s) {dupes}", "flow-language-actions.html")
        if flow.get("StartAction") not in ids:
            self.add("", f"StartAction {flow.get('StartAction')!r} is not an action of the flow", "flow-language.html")
        for action in actions:
            if isinstance(action, Mapping):
                self._action(action, set(ids))
            else:
                self.add("", "every action must be an object", "flow-language-actions.html")
        return self.problems

    def _action(self, action: Mapping[str, Any], ids: set[str]) -> None:
        identifier = str(action.get("Identifier", ""))
        if not identifier or len(identifier) > MAX_IDENTIFIER_CHARS or FORBIDDEN_IDENTIFIER_CHARS.search(identifier):
            self.add(identifier, "Identifier must be 1-50 characters without % : ( \\ / ) = $ , ; [ ] { }",
                     "flow-language-actions.html")  # fmt: skip
        if identifier in FORBIDDEN_IDENTIFIERS:
            self.add(identifier, "Identifier is a reserved name", "flow-language-actions.html")
        kind = str(action.get("Type", ""))
        spec = ACTIONS.get(kind)
        if spec is None:
            message = (
                f"action type {kind!r} is not in the replay's flow-language table (oratio/replay/flow_language.py); "
                "add it with its reference page"
            )
            self.add(identifier, message, "flow-language-actions.html")
            return
        if spec.flow_types is not None and self.flow_type not in spec.flow_types:
            self.add(identifier, f"{kind} is not available in {self.flow_type} flows", spec.page)
        self._parameters(identifier, kind, spec, action.get("Parameters"))
        self._transitions(identifier, spec, action.get("Transitions"), ids)

    def _parameters(self, identifier: str, kind: str, spec: ActionSpec, parameters: Any) -> None:
        if not isinstance(parameters, Mapping):
            self.add(identifier, "Parameters must be an object", spec.page)
            return
        for name in sorted(set(parameters) - spec.parameters):
            self.add(identifier, f"{kind} has no parameter {name!r}", spec.page)
        for name in sorted(spec.required_parameters - set(parameters)):
            self.add(identifier, f"{kind} needs the parameter {name!r}", spec.page)
        for action_type, name in STATIC_PARAMETERS:
            value = parameters.get(name)
            if action_type == kind and isinstance(value, str) and value.startswith("$."):
                self.add(identifier, f"{name} must be set statically", spec.page)
        if kind == "InvokeLambdaFunction" and "InvocationTimeLimitSeconds" in parameters:
            value = str(parameters["InvocationTimeLimitSeconds"])
            if not value.isdigit() or not 0 < int(value) <= MAX_LAMBDA_SECONDS:
                self.add(identifier, f"InvocationTimeLimitSeconds must be an integer 1-{MAX_LAMBDA_SECONDS}", spec.page)
        if kind == "Loop":
            value = str(parameters.get("LoopCount", ""))
            if not value.startswith("$.") and (not value.isdigit() or int(value) > MAX_LOOP_COUNT):
                self.add(identifier, f"LoopCount must be 0-{MAX_LOOP_COUNT}", spec.page)
        hooks = parameters.get("EventHooks")
        if kind == "UpdateContactEventHooks" and isinstance(hooks, Mapping) and len(hooks) != 1:
            self.add(identifier, "EventHooks holds exactly one entry", spec.page)
        prompts = [p for p in ("PromptId", "Text", "SSML") if p in parameters]
        if len(prompts) > 1:
            self.add(identifier, f"only one of PromptId, Text, SSML may be given (got {prompts})", spec.page)
        if kind == "ConnectParticipantWithLexBot" and ("LexV2Bot" in parameters) == ("LexBot" in parameters):
            self.add(identifier, "give exactly one of LexV2Bot and LexBot", spec.page)

    def _transitions(self, identifier: str, spec: ActionSpec, transitions: Any, ids: set[str]) -> None:
        if not isinstance(transitions, Mapping):
            self.add(identifier, "Transitions must be an object", "flow-language-transitions.html")
            return
        targets = [transitions["NextAction"]] if "NextAction" in transitions else []
        conditions = transitions.get("Conditions", [])
        errors = transitions.get("Errors", [])
        if spec.terminal and "NextAction" in transitions:
            self.add(identifier, "a terminal action has no NextAction", spec.page)
        if not spec.terminal and "NextAction" not in transitions and not spec.required_conditions:
            self.add(identifier, "the action is a dead end: it needs a NextAction", "flow-language-transitions.html")
        results: set[str] = set()
        for condition in conditions:
            targets.append(condition.get("NextAction"))
            operands = condition.get("Condition", {}).get("Operands", [])
            results.update(str(o) for o in operands)
        if conditions and spec.conditions is None:
            self.add(identifier, "this action type supports no conditions", spec.page)
        elif spec.conditions:
            unknown = sorted(results - spec.conditions)
            if unknown:
                self.add(identifier, f"condition value(s) {unknown} are not results of this action", spec.page)
        missing_conditions = sorted(spec.required_conditions - results)
        if missing_conditions:
            self.add(identifier, f"a condition is required for each of {missing_conditions}", spec.page)
        handled: set[str] = set()
        for error in errors:
            targets.append(error.get("NextAction"))
            kind = str(error.get("ErrorType", ""))
            handled.add(kind)
            if kind not in spec.errors:
                allowed = ", ".join(sorted(spec.errors)) or "none"
                self.add(identifier, f"error type {kind!r} is not one this action raises (it raises: {allowed})",
                         spec.page)  # fmt: skip
        for kind in sorted(spec.required_errors - handled):
            self.add(identifier, f"the error branch {kind} must be defined", spec.page)
        for target in targets:
            if target not in ids:
                self.add(identifier, f"transition to {target!r}, which is not an action of the flow",
                         "flow-language-transitions.html")  # fmt: skip


def check_flow(flow: Mapping[str, Any], *, flow_type: str | None = None) -> list[FlowProblem]:
    """Every problem Connect would refuse the flow for (empty when it would accept it)."""
    kind = flow_type or str(flow.get("Metadata", {}).get("type", "contactFlow"))
    return _Checker(flow, kind).run()


def require_valid(flow: Mapping[str, Any], name: str) -> None:
    problems = check_flow(flow)
    if problems:
        raise FlowLanguageError(name, problems)
