"""voice_turn Lambda: the Lex V2 code hook of the tenant's Connect bots, and the contact flow's voice actions.

Two callers, one function:
- Amazon Lex (a code-hook event): one caller utterance in, a Lex response out (`ConnectVoice.lex_turn`);
- the inbound contact flow (a `ContactFlowEvent` whose `action` parameter is `prepare`, `pickup` or
  `bot_failed`): flat string attributes out (`ConnectVoice.prepare` / `pickup` / `bot_failed`).

Thin edge: parse, call the use case, map the answer. It never raises: whatever breaks, Lex gets a Close and
the flow gets `next_step=transfer`, so the caller is handed to a person instead of silence; the failure is
logged and counted.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError

from oratio.adapters.dynamodb import DynamoDBCallSessionStore, dynamodb_client
from oratio.adapters.dynamodb_agent import (
    DynamoDBBudgetLedger,
    DynamoDBConversationRecorder,
    DynamoDBWorkflowStateStore,
)
from oratio.adapters.dynamodb_breaker import DynamoDBBreakerStore
from oratio.adapters.dynamodb_voice import DynamoDBTurnMailbox
from oratio.adapters.lambda_turn_worker import LambdaTurnWorker
from oratio.agent_definitions.dynamodb import DynamoDBDefinitionReader
from oratio.agent_definitions.source import CachedDefinitionSource
from oratio.connect_voice import lex
from oratio.connect_voice.lex import LexCodeHookEvent
from oratio.connect_voice.profile import VOICE_PROFILE_ENV_VAR, WORKER_FUNCTION_ENV_VAR, VoiceProfile
from oratio.connect_voice.service import CONVERSE_INTENT, ConnectVoice, FlowCall
from oratio.connect_voice.state import HANDOFF_REASON, NEXT_STEP, OUTPUT_KEYS, SPEECH_MODE, NextStep, SpeechMode
from oratio.domain.call_slots import SessionStoreLeases
from oratio.domain.circuit_breaker import BreakerPolicy, CircuitBreakers
from oratio.domain.connect_events import ContactFlowEvent
from oratio.lambda_events import field_problems
from oratio.observability import lambda_entry, logger, metrics, tracer
from oratio.ports import Clock, SystemClock
from oratio.privacy import Redactor
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE, table_settings
from oratio.transcripts import RedactingRecorder

CORRELATION_ID_PATH = "sessionId || Details.ContactData.ContactId"
FLOW_ACTIONS = ("prepare", "pickup", "bot_failed")
# Said when the function cannot even read its tenant profile (a deployment fault): no tenant wording exists.
FALLBACK_HANDOFF_MESSAGE = "Let me connect you with someone from our team."
# The longest intent name or session attribute a failure answer echoes back from an event it could not read.
MAX_ECHO_CHARS = 4_096

# The function's clock. Tests and the replay replace it before the first invocation (the use cases are built
# once per container, on first use). Deadlines are measured on the event loop's clock, the one its timeouts use.
clock: Clock = SystemClock()


class VoiceTurnSettings(BaseModel):
    """The function's environment, set by the CDK construct; read on first use, not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents_table: str = Field(min_length=1)
    agent_definitions_table: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    usage_table: str = Field(min_length=1)
    worker_function: str = Field(min_length=1)
    voice_profile: Json[VoiceProfile]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> VoiceTurnSettings:
        env = os.environ if environ is None else environ
        return cls.model_validate(
            {
                **table_settings(env, AGENTS, AGENT_DEFINITIONS, CONVERSATIONS, TENANT_STATE, USAGE),
                "worker_function": env.get(WORKER_FUNCTION_ENV_VAR),
                "voice_profile": env.get(VOICE_PROFILE_ENV_VAR),
            }
        )


def _utc_now() -> datetime:
    return clock.now()


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


@cache
def build_voice() -> ConnectVoice:
    """The use cases with their AWS adapters, built once per container (a failure is retried next time)."""
    settings = VoiceTurnSettings.from_environ()
    profile = settings.voice_profile
    client = dynamodb_client()
    # What callers said is stored redacted (the tenant's own identifiers included).
    recorder = RedactingRecorder(
        DynamoDBConversationRecorder(
            settings.conversations_table, retention_days=profile.retention_days, client=client
        ),
        Redactor(profile.privacy_identifiers),
    )
    breakers = CircuitBreakers(
        profile.tenant_id,
        DynamoDBBreakerStore(settings.tenant_state_table, client=client),
        BreakerPolicy(profile.connect.breaker),
        clock=_utc_now,
    )
    return ConnectVoice(
        profile,
        breakers=breakers,
        worker=LambdaTurnWorker(settings.worker_function),
        mailbox=DynamoDBTurnMailbox(settings.conversations_table, client=client),
        recorder=recorder,
        transcripts=recorder,
        budget=DynamoDBBudgetLedger(
            settings.usage_table,
            conversations_table=settings.conversations_table,
            retention_days=profile.retention_days,
            client=client,
        ),
        workflow_states=DynamoDBWorkflowStateStore(settings.conversations_table, client=client),
        clock=_utc_now,
        observer=MetricsObserver(),
        monotonic=_loop_time,
        leases=SessionStoreLeases(
            DynamoDBCallSessionStore(settings.conversations_table, settings.tenant_state_table, client=client)
        ),
        # Each turn reads the agent's status afresh; its definition versions are read once per container.
        agents=CachedDefinitionSource(
            DynamoDBDefinitionReader(settings.agents_table, settings.agent_definitions_table, client=client)
        ),
    )


class MetricsObserver:
    """The voice path's observations as CloudWatch metrics (EMF through Powertools)."""

    def turn_latency(self, agent_ms: float, platform_ms: float) -> None:
        for part, value in (("agent", agent_ms), ("platform", platform_ms)):
            with single_metric(
                name="TurnLatency", unit=MetricUnit.Milliseconds, value=value, namespace=metrics.namespace
            ) as metric:
                metric.add_dimension(name="front_door", value="connect")
                metric.add_dimension(name="part", value=part)

    def event(self, kind: str, detail: Mapping[str, Any]) -> None:
        if kind == "breaker":
            _count("BreakerChanges", dependency=str(detail.get("dependency", "")), state=str(detail.get("to", "")))
        elif kind == "routing":
            _count("Degradations", to=str(detail.get("to", "")))
        elif kind == "handoff":
            _count("Handoffs")


@cache
def _runner() -> asyncio.Runner:
    # One event loop per container, reused by every invocation (no loop set-up on the hot path).
    return asyncio.Runner()


def run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    return _runner().run(coroutine)


def _count(name: str, **dimensions: str) -> None:
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


# ------------------------------------------------------------------------------------------- Lex
def lex_turn(event: Any) -> dict[str, Any]:
    """Answer a Lex code-hook event; any failure hands the caller to a person with a spoken line."""
    try:
        parsed = LexCodeHookEvent.model_validate(event)
    except ValidationError as e:
        logger.error("Lex event rejected", extra={"problems": field_problems(e)})
        return _lex_failure(event, "invalid_event")
    try:
        voice = build_voice()
    except Exception:
        logger.exception("voice turn is misconfigured")
        return _lex_failure(event, "misconfigured")
    try:
        return run(voice.lex_turn(parsed))
    except Exception:
        logger.exception("voice turn failed")
        return _lex_failure(event, "internal_error")


def _lex_failure(event: Any, reason: str) -> dict[str, Any]:
    _count("VoiceTurnFailures", reason=reason)
    echo = _LexEcho.of(event)
    attributes = {key: "" for key in OUTPUT_KEYS} | echo.attributes
    attributes |= {NEXT_STEP: NextStep.TRANSFER.value, HANDOFF_REASON: f"voice turn failed ({reason})"}
    return lex.close(echo.intent_name or CONVERSE_INTENT, attributes, message=FALLBACK_HANDOFF_MESSAGE)


class _LexEcho(BaseModel):
    """What a failure answer may echo from an event that did not parse: the intent's name and the string
    session attributes, when the event has them in their documented shapes; nothing otherwise."""

    model_config = ConfigDict(frozen=True)

    intent_name: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, event: Any) -> _LexEcho:
        state = event.get("sessionState") if isinstance(event, Mapping) else None
        if not isinstance(state, Mapping):
            return cls()
        intent = state.get("intent")
        name = intent.get("name") if isinstance(intent, Mapping) else None
        raw = state.get("sessionAttributes")
        attributes = (
            {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_ECHO_CHARS}
            if isinstance(raw, Mapping)
            else {}
        )
        return cls(
            intent_name=name if isinstance(name, str) and 0 < len(name) <= MAX_ECHO_CHARS else None,
            attributes=attributes,
        )


# -------------------------------------------------------------------------------------- flow actions
def flow_action(event: Any) -> dict[str, str]:
    """Answer the contact flow's Invoke Lambda block with flat string attributes (Connect requires it)."""
    try:
        parsed = ContactFlowEvent.model_validate(event)
    except ValidationError as e:
        logger.error("Connect event rejected", extra={"problems": field_problems(e)})
        return _flow_failure("invalid_event")
    data = parsed.details.contact_data
    action = parsed.details.parameters.get("action", "")
    if action not in FLOW_ACTIONS:
        logger.error("unknown voice flow action", extra={"action": action[:40]})
        return _flow_failure("unknown_action")
    call = FlowCall(
        contact_id=data.contact_id,
        caller=data.customer_endpoint.address if data.customer_endpoint else None,
        attributes=data.attributes,
        parameters=parsed.details.parameters,
    )
    try:
        voice = build_voice()
    except Exception:
        logger.exception("voice flow action is misconfigured")
        return _flow_failure("misconfigured")
    try:
        if action == "prepare":
            return run(voice.prepare(call))
        if action == "pickup":
            return run(voice.pickup(call))
        return run(voice.bot_failed(call))
    except Exception:
        logger.exception("voice flow action failed", extra={"action": action})
        return _flow_failure("internal_error")


def _flow_failure(reason: str) -> dict[str, str]:
    _count("VoiceTurnFailures", reason=reason)
    return {key: "" for key in OUTPUT_KEYS} | {
        NEXT_STEP: NextStep.TRANSFER.value,
        SPEECH_MODE: SpeechMode.HUMAN.value,
        HANDOFF_REASON: f"voice flow action failed ({reason})",
        "prompt": FALLBACK_HANDOFF_MESSAGE,
    }


@lambda_entry(correlation_id_path=CORRELATION_ID_PATH)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for Lex V2 (code hook) and Amazon Connect (Invoke Lambda function block)."""
    if isinstance(event, Mapping) and event.get("Name") == "ContactFlowEvent":
        answer: dict[str, Any] = flow_action(event)
        next_step = str(answer.get(NEXT_STEP, ""))
        source = "flow"
    else:
        answer = lex_turn(event)
        next_step = str(answer.get("sessionState", {}).get("sessionAttributes", {}).get(NEXT_STEP, ""))
        source = "lex"
    tracer.put_annotation(key="next_step", value=next_step)
    metrics.add_metric(name="VoiceInvocations", unit=MetricUnit.Count, value=1)
    _count("VoiceSteps", source=source, next_step=next_step or "none")
    logger.info("voice step", extra={"source": source, "next_step": next_step})
    return answer
