"""Call slot reconciler Lambda: on a schedule, closes the tenant's call sessions whose slot lease ran out (their
call's end event never came) as `abandoned`, and gives their live-call slots back.

Thin edge: parse the EventBridge scheduled event, run `SlotReclaimer.reclaim` in batches while the function has
time, log and count what it did. The router frees expired slots too when a caller finds the tenant full; this
keeps the records closed and the counter true when nobody is calling. Failures raise (the next run retries:
every close is conditional, so overlapping or repeated runs free each slot once) after a log line and a metric.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from oratio.adapters.dynamodb import DynamoDBCallSessionStore, dynamodb_client
from oratio.adapters.dynamodb_call_costs import DynamoDBCallCosts
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.domain.call_events import TENANT_ID_ENV_VAR
from oratio.domain.call_slots import SlotReclaimer
from oratio.lambda_events import (
    InvalidScheduleEventError,
    ScheduledEvent,
    another_batch_fits,
    parse_scheduled_event,
)
from oratio.observability import lambda_entry, logger, metrics
from oratio.ports import Clock, SystemClock
from oratio.tables import CONVERSATIONS, TENANT_STATE, table_settings

# Sessions closed per query of the lease index; runs repeat while the function has this much time left.
BATCH_SIZE = 25
TIME_RESERVE_MS = 5_000
SCHEDULE_EVENT_ID_PATH = "id"

# The reconciler's clock. Tests replace it (a replayed clock) before invoking.
clock: Clock = SystemClock()


class ReconcilerSettings(BaseModel):
    """The function's environment, set by the CDK construct; read on first invocation, not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ReconcilerSettings:
        env = os.environ if environ is None else environ
        return cls.model_validate(
            {
                "tenant_id": env.get(TENANT_ID_ENV_VAR),
                **table_settings(env, CONVERSATIONS, TENANT_STATE),
            }
        )


@cache
def build_reclaimer() -> SlotReclaimer:
    """The reclaimer over DynamoDB, built once per container (a failure is retried next time)."""
    settings = ReconcilerSettings.from_environ()
    client = dynamodb_client()
    return SlotReclaimer(
        settings.tenant_id,
        DynamoDBCallSessionStore(settings.conversations_table, settings.tenant_state_table, client=client),
        DynamoDBCallCosts(settings.conversations_table, client=client),
    )


def _parse(event: Any) -> ScheduledEvent:
    try:
        return parse_scheduled_event(event)
    except InvalidScheduleEventError as e:
        logger.error("scheduled event rejected", extra={"problems": e.problems})
        raise


def reconcile(context: LambdaContext) -> int:
    """Abandon expired sessions in batches while time allows; the number of slots given back."""
    reclaimer = build_reclaimer()
    released = 0
    while True:
        closed = reclaimer.reclaim(clock.now(), BATCH_SIZE)
        for session in closed:
            logger.info(
                "abandoned call closed: its slot lease ran out",
                extra={
                    "contact_id": session.contact_id,
                    "last_seen_at": session.ended_at.isoformat() if session.ended_at else None,
                    "released_slot": session.counted_against_limit,
                },
            )
        released += sum(session.counted_against_limit for session in closed)
        metrics.add_metric(name="CallSessionsAbandoned", unit=MetricUnit.Count, value=len(closed))
        if not another_batch_fits(context, handled=len(closed), batch_size=BATCH_SIZE, reserve_ms=TIME_RESERVE_MS):
            return released


@lambda_entry(correlation_id_path=SCHEDULE_EVENT_ID_PATH)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Entry point for the EventBridge schedule."""
    try:
        scheduled = _parse(event)
        released = reconcile(context)
    except Exception:
        metrics.add_metric(name="CallReconcilerFailures", unit=MetricUnit.Count, value=1)
        logger.exception("call slot reconciliation failed; the next scheduled run retries")
        raise
    metrics.add_metric(name="CallSlotsReclaimed", unit=MetricUnit.Count, value=released)
    logger.info("call slots reconciled", extra={"schedule_event": scheduled.id, "released": released})
    return {"released": released}
