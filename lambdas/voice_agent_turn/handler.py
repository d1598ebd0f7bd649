"""voice_agent_turn Lambda: runs one agent turn of a Connect call to completion (the code hook's worker).

The voice_turn code hook invokes it synchronously with a `TurnJob` and waits only as long as the caller's
silence budget allows; this function runs on regardless, through the tenant agent's typed client
(`agentcore/tenant_agent/client.py`, `AgentCoreAgentClient` over `invoke_agent_runtime`), reports the
agent's health to the tenant's circuit breaker and leaves the `TurnOutcome` in the turn mailbox, where the
flow's pickup finds it. It returns the outcome too, for a code hook still waiting.

Thin edge: parse the job, run `AgentTurnRunner.run`, return the outcome. A job that is not valid, or that
names another tenant, raises (the invoker sees a FunctionError and hands the caller to a person).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError

from oratio.adapters.dynamodb import dynamodb_client
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder
from oratio.adapters.dynamodb_breaker import DynamoDBBreakerStore
from oratio.adapters.dynamodb_voice import DynamoDBTurnMailbox
from oratio.config.tenant import TENANT_ID_PATTERN, CircuitBreakerSettings
from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.profile import (
    AGENT_BREAKER_ENV_VAR,
    AGENT_QUALIFIER_ENV_VAR,
    AGENT_RUNTIME_ARN_ENV_VAR,
    TENANT_ID_ENV_VAR,
)
from oratio.connect_voice.worker import AgentTurnRunner
from oratio.domain.circuit_breaker import BreakerPolicy, CircuitBreakers
from oratio.observability import lambda_entry, logger, metrics
from oratio.ports import Clock, SystemClock
from oratio.tables import CONVERSATIONS, TENANT_STATE, table_settings

CORRELATION_ID_PATH = "contact_id"

# The function's clock (when the turn's records and breaker changes happened). Tests and the replay replace it
# before the first invocation; durations and retry deadlines are measured on the event loop's clock.
clock: Clock = SystemClock()


class InvalidTurnJobError(ValueError):
    """The payload is not a turn job of this tenant (the log names the fields, never the caller's words)."""


class WorkerSettings(BaseModel):
    """The function's environment, set by the CDK construct; read on first use, not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    agent_runtime_arn: str = Field(min_length=1)
    agent_qualifier: str = Field(min_length=1)
    breaker: Json[CircuitBreakerSettings]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if environ is None else environ
        return cls.model_validate(
            {
                "tenant_id": env.get(TENANT_ID_ENV_VAR),
                **table_settings(env, CONVERSATIONS, TENANT_STATE),
                "agent_runtime_arn": env.get(AGENT_RUNTIME_ARN_ENV_VAR),
                "agent_qualifier": env.get(AGENT_QUALIFIER_ENV_VAR),
                "breaker": env.get(AGENT_BREAKER_ENV_VAR),
            }
        )


def _utc_now() -> datetime:
    return clock.now()


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


@cache
def settings() -> WorkerSettings:
    return WorkerSettings.from_environ()


@cache
def build_runner() -> AgentTurnRunner:
    """The runner with the AgentCore client and DynamoDB adapters, built once per container."""
    # Imported here: the typed client pulls in httpx (for its local HTTP twin), which only this function needs.
    from agentcore.tenant_agent.client import AgentCoreAgentClient

    config = settings()
    client = dynamodb_client()
    return AgentTurnRunner(
        agent=AgentCoreAgentClient(config.agent_runtime_arn, qualifier=config.agent_qualifier),
        mailbox=DynamoDBTurnMailbox(config.conversations_table, client=client),
        breakers=CircuitBreakers(
            config.tenant_id,
            DynamoDBBreakerStore(config.tenant_state_table, client=client),
            BreakerPolicy(config.breaker),
            clock=_utc_now,
        ),
        recorder=DynamoDBConversationRecorder(config.conversations_table, client=client),
        clock=_utc_now,
        monotonic=_loop_time,
    )


@cache
def _runner() -> asyncio.Runner:
    return asyncio.Runner()


def parse_job(event: Any) -> TurnJob:
    """The job in the event, before anything else is read (`InvalidTurnJobError` when it is none)."""
    try:
        return TurnJob.model_validate(event)
    except ValidationError as e:
        problems = [{"field": ".".join(str(p) for p in err["loc"]), "type": err["type"]} for err in e.errors()]
        logger.error("turn job rejected", extra={"problems": problems})
        raise InvalidTurnJobError(f"turn job rejected: {len(problems)} invalid field(s)") from None


def check_tenant(job: TurnJob, tenant_id: str) -> TurnJob:
    if job.request.tenant_id != tenant_id:
        logger.error("turn job for another tenant rejected")
        raise InvalidTurnJobError("turn job names another tenant")
    return job


def _count_turn(outcome: TurnOutcome) -> None:
    """The model each turn used (the model mix) and each tool's outcome (errors, timeouts), for the dashboard."""
    model = (outcome.done.model_id if outcome.done else None) or "none"
    with single_metric(name="ModelTurns", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as turn:
        turn.add_dimension(name="model", value=model)
    for status in outcome.tool_statuses:
        with single_metric(name="ToolCalls", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as tool:
            tool.add_dimension(name="status", value=status)


@lambda_entry(correlation_id_path=CORRELATION_ID_PATH)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the code hook's synchronous invoke."""
    try:
        job = check_tenant(parse_job(event), settings().tenant_id)
    except Exception:
        metrics.add_metric(name="TurnJobsRejected", unit=MetricUnit.Count, value=1)
        raise
    time_left = context.get_remaining_time_in_millis() / 1000
    outcome = _runner().run(build_runner().run(job, time_left_seconds=time_left))
    metrics.add_metric(name="AgentTurns", unit=MetricUnit.Count, value=1)
    if outcome.status == "failed":
        metrics.add_metric(name="AgentTurnFailures", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="AgentTurnMilliseconds", unit=MetricUnit.Milliseconds, value=outcome.duration_ms)
    _count_turn(outcome)
    logger.info("agent turn finished", extra={"status": outcome.status, "duration_ms": outcome.duration_ms})
    return outcome.model_dump(mode="json")
