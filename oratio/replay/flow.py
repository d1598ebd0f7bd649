"""An interpreter for the Amazon Connect flow language: it runs a flow's actions as Connect would, with their
documented transitions, conditions and error branches, contact attributes (`$.Attributes`, `$.External`,
`$.Lex`), Loop counters, hours-of-operation checks on a clock, the target queue and event hooks. What the flow
reaches outside itself (Lambda functions, Lex bots, queues, hours, the whisper flow) goes through
`FlowServices`, so the same interpreter runs the replay (real handlers) and the flow tests (scripted answers).

Every flow is checked against the flow-language table first (`flow_language.check_flow`); an action type the
interpreter does not run fails the call naming the action and the flow, and a flow that never ends is stopped
by a step budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from oratio.replay.flow_language import FlowLanguageError, FlowProblem, check_flow

DEFAULT_STEP_BUDGET = 500
_WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_REFERENCE = re.compile(r"\$\.[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-:]+)*")

Outcome = Literal["transferred", "ended", "abandoned"]


class FlowRunError(RuntimeError):
    """The replay cannot go on: an action it cannot run, or a flow that never ends."""


class LambdaFailed(Exception):
    """The function could not be invoked or answered something the block refuses (its error branch)."""


@dataclass(frozen=True)
class BotOutcome:
    """How a bot conversation ended: `ok` (Close, with the intent and session attributes), `timeout` (the caller
    said nothing: InputTimeLimitExceeded), `error` (NoMatchingError), or `hung_up` (the caller left)."""

    status: Literal["ok", "timeout", "error", "hung_up"]
    intent: str = ""
    session_attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Contact:
    """The contact as the flow sees it."""

    contact_id: str
    caller: str | None
    dialed: str | None
    channel: str = "VOICE"
    attributes: dict[str, str] = field(default_factory=dict)
    external: dict[str, Any] = field(default_factory=dict)
    lex: dict[str, Any] = field(default_factory=dict)
    target_queue: str | None = None
    event_hooks: dict[str, str] = field(default_factory=dict)
    voice: tuple[str, str] = ("Joanna", "Standard")
    logging: bool = False

    def resolve(self, path: str) -> Any:
        """A flow-language JSONPath value; missing keys read as empty (Connect passes no value)."""
        parts = path.removeprefix("$.").split(".")
        head, rest = parts[0], parts[1:]
        sources: dict[str, Any] = {
            "Attributes": self.attributes,
            "External": self.external,
            "Lex": {"SessionAttributes": self.lex.get("SessionAttributes", {}), **self.lex},
            "ContactId": self.contact_id,
            "InitialContactId": self.contact_id,
            "Channel": self.channel,
            "CustomerEndpoint": {"Address": self.caller or "", "Type": "TELEPHONE_NUMBER"},
            "SystemEndpoint": {"Address": self.dialed or "", "Type": "TELEPHONE_NUMBER"},
        }
        value: Any = sources.get(head, "")
        for part in rest:
            value = value.get(part, "") if isinstance(value, Mapping) else ""
        return value if value is not None else ""

    def text(self, value: Any) -> str:
        """A parameter value with its `$.` references (whole or inline) replaced."""
        if not isinstance(value, str):
            return "" if value is None else str(value)
        if _REFERENCE.fullmatch(value):
            return str(self.resolve(value))
        return _REFERENCE.sub(lambda m: str(self.resolve(m.group(0))), value)


@dataclass(frozen=True)
class Step:
    """One thing that happened on the call, in order: what the timeline, the transcript and the tests read."""

    kind: str  # say, bot, lambda, voice, queue, hooks, transfer, whisper, hang_up, error, attributes
    flow: str
    action: str
    text: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Action:
    flow: str
    identifier: str
    params: Mapping[str, Any]
    transitions: Mapping[str, Any]
    contact: Contact


class FlowServices(Protocol):
    """What a flow reaches outside itself."""

    def invoke_lambda(self, arn: str, contact: Contact, parameters: Mapping[str, str], timeout_seconds: int) -> Any:
        """The function's answer (a dict); raises `LambdaFailed` for the block's error branch."""
        ...

    def converse(
        self, alias_arn: str, prompt: str, contact: Contact, session_attributes: Mapping[str, str]
    ) -> BotOutcome:
        """Run the bot conversation until the bot closes it, the caller is silent or hangs up, or it fails."""
        ...

    def hours(self, arn: str) -> tuple[str, Mapping[str, tuple[tuple[int, int], tuple[int, int]]]]:
        """(time zone, day -> ((start h, m), (end h, m))) of an hours-of-operation resource."""
        ...

    def queue(self, arn: str) -> tuple[str | None, bool]:
        """(the queue's hours-of-operation ARN, whether it is at capacity)."""
        ...

    def flow(self, arn: str) -> tuple[str, Mapping[str, Any]]:
        """(name, content) of another flow of the instance (whispers, queue flows)."""
        ...

    def now(self) -> datetime:
        """The replay clock."""
        ...

    def record(self, step: Step) -> None:
        """Called for every step as it happens (a live timeline, `make talk`)."""
        ...


@dataclass
class CallResult:
    outcome: Outcome
    steps: list[Step]
    contact: Contact
    queue: str | None = None


def is_open(zone: str, days: Mapping[str, tuple[tuple[int, int], tuple[int, int]]], at: datetime) -> bool:
    """Whether `at` falls within the hours (the end is exclusive; a day left out is closed)."""
    local = at.astimezone(ZoneInfo(zone))
    hours = days.get(_WEEKDAYS[local.weekday()])
    if hours is None:
        return False
    (sh, sm), (eh, em) = hours
    minutes = local.hour * 60 + local.minute
    return sh * 60 + sm <= minutes < eh * 60 + em


class FlowInterpreter:
    """Runs one contact through a flow (and the flows it hands over to)."""

    def __init__(self, services: FlowServices, *, step_budget: int = DEFAULT_STEP_BUDGET) -> None:
        self._services = services
        self._budget = step_budget
        self.steps: list[Step] = []
        self._loops: dict[tuple[str, str], int] = {}

    def _emit(self, step: Step) -> None:
        self.steps.append(step)
        self._services.record(step)

    def run(self, name: str, flow: Mapping[str, Any], contact: Contact) -> CallResult:
        _require_runnable(name, flow)
        actions = {a["Identifier"]: a for a in flow["Actions"]}
        current: str | None = flow["StartAction"]
        trail: list[str] = []
        for _ in range(self._budget):
            if current is None:
                return CallResult("ended", self.steps, contact)
            action = actions[current]
            trail = [*trail[-7:], current]
            result = self._step(name, action, contact)
            if isinstance(result, CallResult):
                return result
            current = result
        raise FlowRunError(
            f"flow {name}: no end after {self._budget} actions (a loop without a bound?); last actions: "
            + " → ".join(trail)
        )

    # ------------------------------------------------------------------------------------ actions
    def _step(self, flow: str, action: Mapping[str, Any], contact: Contact) -> str | CallResult | None:
        kind, identifier = action["Type"], action["Identifier"]
        params: Mapping[str, Any] = action.get("Parameters", {})
        transitions: Mapping[str, Any] = action.get("Transitions", {})
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise FlowRunError(f"flow {flow}: action {identifier!r} has type {kind}, which the replay does not run")
        return handler(_Action(flow, identifier, params, transitions, contact))  # type: ignore[no-any-return]

    def _UpdateFlowLoggingBehavior(self, a: _Action) -> str | None:
        params, transitions, contact = a.params, a.transitions, a.contact
        contact.logging = params.get("FlowLoggingBehavior") == "Enabled"
        return _next(transitions)

    def _InvokeLambdaFunction(self, a: _Action) -> str | None:
        flow, identifier, params, transitions, contact = a.flow, a.identifier, a.params, a.transitions, a.contact
        arn = contact.text(params["LambdaFunctionARN"])
        parameters = {k: contact.text(v) for k, v in params.get("LambdaInvocationAttributes", {}).items()}
        timeout = int(params.get("InvocationTimeLimitSeconds", 8))
        try:
            answer = self._services.invoke_lambda(arn, contact, parameters, timeout)
            if params.get("ResponseValidation", {}).get("ResponseType") == "STRING_MAP" and not (
                isinstance(answer, Mapping) and all(isinstance(v, str) for v in answer.values())
            ):
                raise LambdaFailed("the answer is not a flat string map (ResponseValidation STRING_MAP)")
        except LambdaFailed as e:
            self._emit(Step("lambda", flow, identifier, str(e), {"arn": arn, "parameters": parameters, "error": True}))
            return _error(transitions, "NoMatchingError")
        contact.external = dict(answer) if isinstance(answer, Mapping) else {}
        self._emit(Step("lambda", flow, identifier, "", {"arn": arn, "parameters": parameters, "answer": answer}))
        return _next(transitions)

    def _UpdateContactAttributes(self, a: _Action) -> str | None:
        params, transitions, contact = a.params, a.transitions, a.contact
        values = {k: contact.text(v) for k, v in params.get("Attributes", {}).items()}
        contact.attributes.update(values)
        return _next(transitions)

    def _Compare(self, a: _Action) -> str | None:
        params, transitions, contact = a.params, a.transitions, a.contact
        value = contact.text(params["ComparisonValue"])
        return _condition(transitions, value) or _error(transitions, "NoMatchingCondition")

    def _UpdateContactTextToSpeechVoice(self, a: _Action) -> str | None:
        flow, identifier, params, transitions, contact = a.flow, a.identifier, a.params, a.transitions, a.contact
        voice = contact.text(params.get("TextToSpeechVoice"))
        engine = contact.text(params.get("TextToSpeechEngine")) or "Standard"
        if not voice:  # "Results in error if voice or engine are invalid"
            return _error(transitions, "NoMatchingError")
        contact.voice = (voice, engine)
        self._emit(Step("voice", flow, identifier, f"{voice} ({engine})"))
        return _next(transitions)

    def _Loop(self, a: _Action) -> str | None:
        flow, identifier, params, transitions, contact = a.flow, a.identifier, a.params, a.transitions, a.contact
        key = (flow, identifier)
        count = int(contact.text(params.get("LoopCount", "0")) or 0)
        done = self._loops.get(key, 0) >= count
        self._loops[key] = 0 if done else self._loops.get(key, 0) + 1
        return _condition(transitions, "DoneLooping" if done else "ContinueLooping")

    def _MessageParticipant(self, a: _Action) -> str | None:
        flow, identifier, params, transitions, contact = a.flow, a.identifier, a.params, a.transitions, a.contact
        text = contact.text(params.get("Text") or params.get("SSML") or "")
        if not text.strip():
            return _error(transitions, "NoMatchingError")  # nothing to say: Connect takes the error branch
        self._emit(Step("say", flow, identifier, text, {"voice": contact.voice}))
        return _next(transitions)

    def _ConnectParticipantWithLexBot(self, a: _Action) -> str | CallResult | None:
        flow, identifier, params, transitions, contact = a.flow, a.identifier, a.params, a.transitions, a.contact
        alias = contact.text(params.get("LexV2Bot", {}).get("AliasArn", ""))
        prompt = contact.text(params.get("Text") or "")
        session = {k: contact.text(v) for k, v in params.get("LexSessionAttributes", {}).items()}
        self._emit(Step("bot", flow, identifier, prompt, {"alias": alias, "session": session}))
        outcome = self._services.converse(alias, prompt, contact, session)
        if outcome.status == "hung_up":
            self._emit(Step("hang_up", flow, identifier, "the caller hung up"))
            return CallResult("abandoned", self.steps, contact)
        if outcome.status == "timeout":
            return _error(transitions, "InputTimeLimitExceeded")
        if outcome.status == "error":
            return _error(transitions, "NoMatchingError")
        contact.lex = {"SessionAttributes": dict(outcome.session_attributes), "IntentName": outcome.intent}
        return _condition(transitions, outcome.intent) or _next(transitions)

    def _UpdateContactEventHooks(self, a: _Action) -> str | None:
        flow, identifier, params, transitions, contact = a.flow, a.identifier, a.params, a.transitions, a.contact
        hooks = {k: contact.text(v) for k, v in params.get("EventHooks", {}).items()}
        contact.event_hooks.update(hooks)
        self._emit(Step("hooks", flow, identifier, ", ".join(sorted(hooks)), hooks))
        return _next(transitions)

    def _UpdateContactTargetQueue(self, a: _Action) -> str | None:
        flow, identifier, params, transitions, contact = a.flow, a.identifier, a.params, a.transitions, a.contact
        queue = contact.text(params.get("QueueId", ""))
        if not queue:
            return _error(transitions, "NoMatchingError")
        contact.target_queue = queue
        self._emit(Step("queue", flow, identifier, queue))
        return _next(transitions)

    def _CheckHoursOfOperation(self, a: _Action) -> str | None:
        params, transitions, contact = a.params, a.transitions, a.contact
        hours = contact.text(params.get("HoursOfOperationId", ""))
        if not hours:
            if contact.target_queue is None:
                return _error(transitions, "NoMatchingError")
            hours = self._services.queue(contact.target_queue)[0] or ""
        if not hours:
            return _error(transitions, "NoMatchingError")  # an agent queue has no hours
        zone, days = self._services.hours(hours)
        open_now = is_open(zone, days, self._services.now())
        return _condition(transitions, "True" if open_now else "False")

    def _TransferContactToQueue(self, a: _Action) -> str | CallResult | None:
        flow, identifier, transitions, contact = a.flow, a.identifier, a.transitions, a.contact
        if contact.target_queue is None:
            return _error(transitions, "NoMatchingError")
        _, full = self._services.queue(contact.target_queue)
        if full:
            return _error(transitions, "QueueAtCapacity")
        self._emit(Step("transfer", flow, identifier, contact.target_queue))
        whisper = contact.event_hooks.get("AgentWhisper")
        if whisper:  # the human agent answers: the whisper flow plays to them first
            name, content = self._services.flow(whisper)
            FlowInterpreter(_WhisperSide(self), step_budget=self._budget).run(name, content, contact)
        return CallResult("transferred", self.steps, contact, queue=contact.target_queue)

    def _DisconnectParticipant(self, a: _Action) -> CallResult:
        flow, identifier, contact = a.flow, a.identifier, a.contact
        self._emit(Step("hang_up", flow, identifier, "the flow hung up"))
        return CallResult("ended", self.steps, contact)

    def _EndFlowExecution(self, a: _Action) -> None:
        return None


class _WhisperSide:
    """The services of a whisper flow: the same as the call's, but what it says goes to the human agent."""

    def __init__(self, caller_side: FlowInterpreter) -> None:
        self._outer = caller_side

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outer._services, name)

    def record(self, step: Step) -> None:
        whispered = Step("whisper", step.flow, step.action, step.text, step.detail) if step.kind == "say" else step
        self._outer._emit(whispered)


def _require_runnable(name: str, flow: Mapping[str, Any]) -> None:
    problems = check_flow(flow)
    for action in flow.get("Actions", []):
        kind = action.get("Type")
        if not hasattr(FlowInterpreter, f"_{kind}"):
            problems.append(FlowProblem(str(action.get("Identifier")), f"the replay does not run {kind} actions"))
    if problems:
        raise FlowLanguageError(name, problems)


def _next(transitions: Mapping[str, Any]) -> str | None:
    value = transitions.get("NextAction")
    return str(value) if value else None


def _condition(transitions: Mapping[str, Any], value: str) -> str | None:
    for condition in transitions.get("Conditions", []):
        test = condition.get("Condition", {})
        if test.get("Operator") == "Equals" and value in [str(o) for o in test.get("Operands", [])]:
            return str(condition["NextAction"])
    return None


def _error(transitions: Mapping[str, Any], error: str) -> str | None:
    for branch in transitions.get("Errors", []):
        if branch.get("ErrorType") == error:
            return str(branch["NextAction"])
    for branch in transitions.get("Errors", []):
        if branch.get("ErrorType") == "NoMatchingError":
            return str(branch["NextAction"])
    raise FlowRunError(f"the action raised {error} and the flow has no branch for it")
