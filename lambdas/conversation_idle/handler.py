"""Idle-conversation sweep Lambda: on a schedule (once a minute), publishes a `Conversation Idle` event for each of
the tenant's messaging conversations that had no message for the tenant's idle timeout, so the post-call
analysis runs for conversations that have no end event of their own (`oratio.channels.idle`).

Thin edge: parse the EventBridge scheduled event, run `IdleSweep.sweep` in batches while the function has time,
log and count. Failures raise after a log line and a metric; the schedule's next run repeats the work (every step
is conditional, and a repeated event names the same deadline, which the analysis claims once).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from oratio.adapters.dynamodb import dynamodb_client
from oratio.channels.adapters.idle_aws import DynamoDBIdleIndex, EventBridgeConversationEvents
from oratio.channels.idle import IdleSweep
from oratio.channels.settings import TENANT_ID_ENV_VAR
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.lambda_events import (
    InvalidScheduleEventError,
    ScheduledEvent,
    another_batch_fits,
    parse_scheduled_event,
)
from oratio.observability import lambda_entry, logger, metrics
from oratio.ports import Clock, SystemClock
from oratio.tables import CONVERSATIONS, table_settings

# Conversations handled per query of the index; runs repeat while the function has this much time left.
BATCH_SIZE = 50
TIME_RESERVE_MS = 10_000
# A conversation a run held but did not settle (the run died) comes back to a later run this much later.
HOLD_SECONDS = 300
SCHEDULE_EVENT_ID_PATH = "id"

# The sweep's clock. Tests replace it (a replayed clock) before invoking.
clock: Clock = SystemClock()


class SweepSettings(BaseModel):
    """The function's environment, set by the CDK construct; read on first invocation, not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    conversations_table: str = Field(min_length=1)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SweepSettings:
        env = os.environ if environ is None else environ
        return cls.model_validate({"tenant_id": env.get(TENANT_ID_ENV_VAR), **table_settings(env, CONVERSATIONS)})


@cache
def build_sweep() -> IdleSweep:
    settings = SweepSettings.from_environ()
    index = DynamoDBIdleIndex(settings.conversations_table, client=dynamodb_client())
    return IdleSweep(settings.tenant_id, index, EventBridgeConversationEvents(), hold_seconds=HOLD_SECONDS)


def _parse(event: Any) -> ScheduledEvent:
    try:
        return parse_scheduled_event(event)
    except InvalidScheduleEventError as e:
        logger.error("scheduled event rejected", extra={"problems": e.problems})
        raise


async def sweep(context: LambdaContext) -> int:
    """Publish the quiet conversations in batches while time allows; how many were published."""
    idle = build_sweep()
    published = 0
    while True:
        given, events = await idle.sweep(clock.now(), BATCH_SIZE)
        published += len(events)
        for event in events:
            logger.info("conversation idle", extra={"session_id": event.session_id, "idle_at": event.idle_at})
        if not another_batch_fits(context, handled=given, batch_size=BATCH_SIZE, reserve_ms=TIME_RESERVE_MS):
            return published


@lambda_entry(correlation_id_path=SCHEDULE_EVENT_ID_PATH)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Entry point for the EventBridge schedule."""
    try:
        scheduled = _parse(event)
        published = asyncio.run(sweep(context))
    except Exception:
        metrics.add_metric(name="IdleSweepFailures", unit=MetricUnit.Count, value=1)
        logger.exception("idle-conversation sweep failed; the next scheduled run retries")
        raise
    metrics.add_metric(name="ConversationsIdle", unit=MetricUnit.Count, value=published)
    logger.info("idle conversations swept", extra={"schedule_event": scheduled.id, "published": published})
    return {"published": published}
