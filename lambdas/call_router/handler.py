"""Call router Lambda: Amazon Connect's inbound flow asks it where a new contact goes.

Thin edge: parse the ContactFlowEvent, call `CallRouter.route`, answer with flat string attributes. It
never raises: whatever fails, the caller is routed to the unavailable message (Connect would otherwise
take the flow's error branch with no tenant wording), and the failure is logged and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from oratio.adapters.dynamodb import DataAccessError, RouterSettings, dynamodb_call_router, dynamodb_client
from oratio.domain.call_routing import RouteReason, RoutingDecision, RoutingProfile
from oratio.domain.calls import CallRouter, InboundCall
from oratio.domain.connect_events import ContactFlowEvent
from oratio.observability import lambda_entry, logger, metrics, tracer
from oratio.ports import Clock, SystemClock

CONTACT_ID_PATH = "Details.ContactData.ContactId"

# The router's clock. Tests replace it before the first invocation (the router is built once per
# container, on first use).
clock: Clock = SystemClock()


@cache
def build_router() -> CallRouter:
    """The router with DynamoDB adapters, built once per container (a failure is retried next time)."""
    router, _ = dynamodb_call_router(RouterSettings.from_environ(), clock, client=dynamodb_client())
    return router


def _parse(event: Mapping[str, Any]) -> InboundCall:
    return ContactFlowEvent.model_validate(event).to_inbound_call()


def route_contact(event: Mapping[str, Any]) -> RoutingDecision:
    """Route one Connect contact; every failure becomes an unavailable decision with a failure reason."""
    try:
        call = _parse(event)
    except ValidationError as e:
        # Field locations only: pydantic's message would echo the input, which holds caller numbers.
        problems = [{"field": ".".join(str(p) for p in err["loc"]), "type": err["type"]} for err in e.errors()]
        logger.error("Connect event rejected", extra={"problems": problems})
        return _failed(RouteReason.INVALID_EVENT, _profile_if_configured())
    except ValueError:
        logger.exception("Connect event rejected")
        return _failed(RouteReason.INVALID_EVENT, _profile_if_configured())

    try:
        router = build_router()
    except Exception:
        logger.exception("call router is misconfigured")
        return _failed(RouteReason.MISCONFIGURED, None)

    try:
        return router.route(call)
    except DataAccessError:
        logger.exception("call routing failed: data layer")
        reason = RouteReason.DATA_UNAVAILABLE
    except Exception:
        logger.exception("call routing failed: unexpected error")
        reason = RouteReason.INTERNAL_ERROR
    _failed(reason, router.profile)
    return _recorded_failure(router, call, reason)


def _recorded_failure(router: CallRouter, call: InboundCall, reason: RouteReason) -> RoutingDecision:
    """Record the contact the router could not route (uncounted, with the failure's reason), so every contact
    it answered has a session; a retry then gets the same answer. A failure to record is logged and counted."""
    try:
        return router.record_failure(call, reason)
    except Exception:
        logger.exception("recording the failed contact failed")
        metrics.add_metric(name="RouterUnrecordedContacts", unit=MetricUnit.Count, value=1)
        return RoutingDecision.failure(reason, router.profile)


def _profile_if_configured() -> RoutingProfile | None:
    # Lets even a rejected contact hear the tenant's own wording; a broken configuration is reported
    # by the next valid contact, so it is not logged twice here.
    try:
        return build_router().profile
    except Exception:
        return None


def _live_calls() -> None:
    """The tenant's calls in progress, against its limit, for the dashboard (a failed read only skips it)."""
    try:
        live = build_router().live_calls()
    except Exception:
        logger.warning("live calls unreadable; metric skipped")
        return
    metrics.add_metric(name="LiveCalls", unit=MetricUnit.Count, value=live)


def _failed(reason: RouteReason, profile: RoutingProfile | None) -> RoutingDecision:
    metrics.add_metric(name="RouterFailures", unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="failure_reason", value=reason.value)
    return RoutingDecision.failure(reason, profile)


@lambda_entry(correlation_id_path=CONTACT_ID_PATH)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Entry point for Connect's Invoke AWS Lambda function block; returns flat string attributes."""
    decision = route_contact(event)
    tracer.put_annotation(key="route", value=decision.route.value)
    metrics.add_metric(name="CallsRouted", unit=MetricUnit.Count, value=1)
    # A metric of its own: the route dimension must not stick to the function's other metrics.
    with single_metric(name="CallsByRoute", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as routed:
        routed.add_dimension(name="route", value=decision.route.value)
    # The channel as the parsed event gave it; a contact whose event could not be read counts as unknown.
    channel = "unknown" if decision.reason is RouteReason.INVALID_EVENT else decision.channel
    with single_metric(name="ContactsRouted", unit=MetricUnit.Count, value=1, namespace=metrics.namespace) as routed:
        routed.add_dimension(name="route", value=decision.route.value)
        routed.add_dimension(name="channel", value=channel)
    if decision.reason is RouteReason.BUDGET_EXHAUSTED:
        metrics.add_metric(name="CallsRefusedByBudget", unit=MetricUnit.Count, value=1)
    if decision.month_to_date_usd is not None:
        # The budget alarms and the dashboard's spend against the budget read this.
        metrics.add_metric(name="MonthToDateSpendUsd", unit=MetricUnit.Count, value=decision.month_to_date_usd)
    _live_calls()
    logger.info(
        "call routed",
        extra={
            "tenant_id": decision.tenant_id,
            "route": decision.route.value,
            "reason": decision.reason.value,
            "agent_id": decision.agent_id,
        },
    )
    return decision.to_connect_attributes()
