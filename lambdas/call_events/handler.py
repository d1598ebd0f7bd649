"""Call events Lambda: Amazon Connect's contact events (via an EventBridge rule) end the tenant's call sessions.

Thin edge: parse the EventBridge contact event, call `CallEndRecorder.handle`, log and count what it did.
A DISCONNECTED contact's session is closed and its concurrent-call slot given back, once. Failures raise:
EventBridge invokes the function asynchronously, so Lambda retries the event and then sends it to the
dead-letter queue; every failure is logged and counted first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oratio.adapters.dynamodb import DynamoDBCallSessionStore, dynamodb_client
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
from oratio.adapters.dynamodb_call_costs import DynamoDBCallCosts, DynamoDBOnceClaims
from oratio.config.catalog import load_model_catalog
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.domain.call_events import (
    CONNECT_INSTANCE_ARN_ENV_VAR,
    PHONE_NUMBER_COUNTRY_ENV_VAR,
    PHONE_NUMBER_TYPE_ENV_VAR,
    TENANT_ID_ENV_VAR,
    CallEndRecorder,
    ConnectContactEvent,
    ContactEventAction,
    ContactEventResult,
)
from oratio.metering import CallMinutes, Meter
from oratio.observability import lambda_entry, logger, metrics, tracer
from oratio.tables import CONVERSATIONS, TENANT_STATE, USAGE, table_settings

CONTACT_ID_PATH = "detail.contactId"


class InvalidContactEventError(ValueError):
    """The event is not an Amazon Connect contact event Oratio can read (the log names the fields)."""


class CallEventSettings(BaseModel):
    """The function's environment, set by the CDK construct; read on first invocation, not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    connect_instance_arn: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    usage_table: str = Field(min_length=1)
    phone_number_country: str = Field(pattern=r"^[A-Z]{2}$")
    phone_number_type: str = Field(pattern=r"^(DID|TOLL_FREE)$")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> CallEventSettings:
        """Validate settings from the process environment (or the mapping given)."""
        env = os.environ if environ is None else environ
        return cls.model_validate(
            {
                "tenant_id": env.get(TENANT_ID_ENV_VAR),
                "connect_instance_arn": env.get(CONNECT_INSTANCE_ARN_ENV_VAR),
                **table_settings(env, CONVERSATIONS, TENANT_STATE, USAGE),
                "phone_number_country": env.get(PHONE_NUMBER_COUNTRY_ENV_VAR),
                "phone_number_type": env.get(PHONE_NUMBER_TYPE_ENV_VAR),
            }
        )


@cache
def build_recorder() -> CallEndRecorder:
    """The recorder with the DynamoDB session store, built once per container (a failure is retried next time)."""
    settings = CallEventSettings.from_environ()
    client = dynamodb_client()
    return CallEndRecorder(
        tenant_id=settings.tenant_id,
        instance_arn=settings.connect_instance_arn,
        sessions=DynamoDBCallSessionStore(settings.conversations_table, settings.tenant_state_table, client=client),
        costs=DynamoDBCallCosts(settings.conversations_table, client=client),
        minutes=CallMinutes(
            Meter(load_price_catalog(), load_model_catalog()),
            DynamoDBBudgetLedger(settings.usage_table, conversations_table=settings.conversations_table, client=client),
            country=settings.phone_number_country,
            number_type=settings.phone_number_type,
        ),
        once=DynamoDBOnceClaims(settings.conversations_table, client=client),
    )


def _parse(event: Mapping[str, Any]) -> ConnectContactEvent:
    try:
        return ConnectContactEvent.model_validate(event)
    except ValidationError as e:
        # Field locations only: pydantic's message would echo the input.
        problems = [{"field": ".".join(str(p) for p in err["loc"]), "type": err["type"]} for err in e.errors()]
        logger.error("contact event rejected", extra={"problems": problems})
        # Not chained: the cause's text would carry the input into Lambda's error report.
        raise InvalidContactEventError(f"contact event rejected: {len(problems)} invalid field(s)") from None


def _log(result: ContactEventResult, event: ConnectContactEvent) -> None:
    context = {"action": result.action.value, "event_type": event.detail.event_type}
    session = result.session
    match result.action:
        case ContactEventAction.CLOSED:
            logger.info(
                "call session closed",
                extra={
                    **context,
                    "tenant_id": session.tenant_id if session else None,
                    "duration_seconds": session.duration_seconds if session else None,
                    "outcome": session.outcome if session else None,
                    "total_cost_usd": session.total_cost_usd if session else None,
                    "released_slot": result.released_slot,
                },
            )
        case ContactEventAction.ALREADY_CLOSED:
            logger.info("call session was already closed: redelivered event, nothing changed", extra=context)
        case ContactEventAction.UNKNOWN_CONTACT:
            logger.info("no call session for this contact (never routed): nothing to close", extra=context)
        case ContactEventAction.OTHER_INSTANCE:
            logger.warning("contact event from another Connect instance ignored", extra=context)
        case ContactEventAction.IGNORED_EVENT_TYPE:
            logger.debug("contact event type not handled", extra=context)


@lambda_entry(correlation_id_path=CONTACT_ID_PATH)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Entry point for the EventBridge rule's Lambda target (asynchronous invocation)."""
    try:
        contact_event = _parse(event)
        result = build_recorder().handle(contact_event)
    except Exception as e:
        metrics.add_metric(name="CallEventFailures", unit=MetricUnit.Count, value=1)
        metrics.add_metadata(key="failure", value=type(e).__name__)
        logger.exception("contact event failed; it will be retried, then dead-lettered")
        raise
    tracer.put_annotation(key="contact_event_action", value=result.action.value)
    metrics.add_metric(name="ContactEventsHandled", unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="action", value=result.action.value)
    if result.action is ContactEventAction.CLOSED:
        metrics.add_metric(name="CallSessionsClosed", unit=MetricUnit.Count, value=1)
    if result.released_slot:
        metrics.add_metric(name="CallSlotsReleased", unit=MetricUnit.Count, value=1)
    _log(result, contact_event)
    return {"action": result.action.value}
