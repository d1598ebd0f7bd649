"""The vendor API's operations routes: usage, a conversation's cost breakdown, post-call analysis and recording
link, the audit log; and `audit_write`, which the handler calls once per request to record every successful
write.

Same conventions as the other route modules: the vendor comes from the authorizer's claim (`RouteContext`), a
domain error maps to its status in `responses`' one table, bodies and parameters are pydantic models.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from oratio.adapters.dynamodb import dynamodb_client
from oratio.adapters.dynamodb_call_costs import DynamoDBCallCosts
from oratio.adapters.dynamodb_operations import (
    DynamoDBAnalysisStore,
    DynamoDBAuditLog,
    DynamoDBUsageRows,
    S3RecordingSigner,
)
from oratio.adapters.dynamodb_vendor import DynamoDBConversationReader
from oratio.adapters.vendor_aws import SsmTenantDirectory
from oratio.observability import logger
from oratio.tables import AUDIT, CONVERSATIONS, USAGE, table_settings
from oratio.vendors.api.context import BASE, SECURITY, AgentId, RouteContext
from oratio.vendors.api.resource_routes import CONVERSATION_ID_PATTERN
from oratio.vendors.api.responses import ok
from oratio.vendors.operations import (
    AuditEntry,
    AuditPage,
    ConversationCosts,
    GroupBy,
    OperationsService,
    RecordingLink,
    UsageReport,
)
from oratio.vendors.settings import TENANT_PARAMETER_PREFIX_ENV_VAR

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RECORDING_URL_SECONDS_ENV_VAR = "ORATIO_RECORDING_URL_SECONDS"
ConversationId = Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN)]


class OperationsSettings(BaseModel):
    """The operations routes' environment (set by the vendor API construct); read on first use."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    usage_table: str = Field(min_length=1)
    audit_table: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    tenant_parameter_prefix: str = "/oratio/tenants"
    recording_url_seconds: int = Field(default=900, ge=60, le=43_200)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> OperationsSettings:
        env = os.environ if environ is None else environ
        values = {
            **table_settings(env, USAGE, AUDIT, CONVERSATIONS),
            "tenant_parameter_prefix": env.get(TENANT_PARAMETER_PREFIX_ENV_VAR),
            "recording_url_seconds": env.get(RECORDING_URL_SECONDS_ENV_VAR),
        }
        return cls.model_validate({k: v for k, v in values.items() if v is not None})


def build_operations() -> OperationsService:
    """The operations service over DynamoDB, SSM and S3 (the handler builds it once per container, on first use)."""
    settings = OperationsSettings.from_environ()
    client = dynamodb_client()
    return OperationsService(
        usage=DynamoDBUsageRows(settings.usage_table, client=client),
        costs=DynamoDBCallCosts(settings.conversations_table, client=client),
        conversations=DynamoDBConversationReader(settings.conversations_table, client=client),
        audit=DynamoDBAuditLog(settings.audit_table, client=client),
        analyses=DynamoDBAnalysisStore(settings.conversations_table, client=client),
        recordings=S3RecordingSigner(SsmTenantDirectory(settings.tenant_parameter_prefix)),
        clock=lambda: datetime.now(UTC),
        recording_url_seconds=settings.recording_url_seconds,
    )


def register(app: APIGatewayRestResolver, ctx: RouteContext, operations: Callable[[], OperationsService]) -> None:
    @app.get(
        f"{BASE}/usage",
        summary="Spend in a date range, grouped by agent, day or category",
        responses=ok(),
        security=SECURITY,
        tags=["operations"],
    )
    def usage(
        start: Annotated[date, Query(alias="from", description="first day (UTC), YYYY-MM-DD")],
        end: Annotated[date, Query(alias="to", description="last day (UTC), inclusive")],
        group_by: Annotated[GroupBy, Query()] = "category",
    ) -> UsageReport:
        problem = OperationsService.range_problem(start, end)
        if problem is not None:
            # A 422 naming the field, like every other invalid parameter.
            raise RequestValidationError([{"loc": ("query", "to"), "msg": problem, "type": "value_error"}])
        return operations().usage(ctx.vendor_id(), start, end, group_by)

    @app.get(
        f"{BASE}/agents/<agent_id>/conversations/<conversation_id>/costs",
        summary="A conversation's cost breakdown by category",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["conversations"],
    )
    def conversation_costs(agent_id: AgentId, conversation_id: ConversationId) -> ConversationCosts:
        return operations().conversation_costs(ctx.vendor_id(), agent_id, conversation_id)

    @app.get(
        f"{BASE}/agents/<agent_id>/conversations/<conversation_id>/analysis",
        summary="A conversation's post-call analysis (summary, outcome, sentiment, lead fields)",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["conversations"],
    )
    def conversation_analysis(agent_id: AgentId, conversation_id: ConversationId) -> dict[str, Any]:
        return operations().analysis(ctx.vendor_id(), agent_id, conversation_id)

    @app.get(
        f"{BASE}/agents/<agent_id>/conversations/<conversation_id>/recording",
        summary="A presigned, expiring URL of the call's recording",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["conversations"],
    )
    def conversation_recording(agent_id: AgentId, conversation_id: ConversationId) -> RecordingLink:
        return operations().recording(ctx.vendor_id(), agent_id, conversation_id)

    @app.get(
        f"{BASE}/audit",
        summary="The vendor's own audit log, newest first",
        responses=ok(200, "OK", 400),
        security=SECURITY,
        tags=["operations"],
    )
    def audit_log(
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        next_token: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> AuditPage:
        return operations().audit(ctx.vendor_id(), limit, next_token)


def audit_write(
    event: Mapping[str, Any],
    vendor_id: str | None,
    response: Mapping[str, Any],
    operations: Callable[[], OperationsService],
) -> None:
    """Record a successful vendor write (who, what, when, from where, version before and after). Never fails
    the request: a lost audit entry is logged as an error (and the alarm on logged errors sees it)."""
    method = str(event.get("httpMethod", "")).upper()
    status = int(response.get("statusCode", 0))
    if vendor_id is None or method not in WRITE_METHODS or not 200 <= status < 300:
        return
    context = event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims") or {}
    try:
        entry = AuditEntry(
            at=datetime.now(UTC),
            request_id=str(context.get("requestId") or "unknown"),
            actor=str(claims.get("sub") or claims.get("email") or "unknown"),
            action=f"{method} {event.get('path', '')}",
            resource=str(event.get("path", "")),
            source_ip=(context.get("identity") or {}).get("sourceIp"),
            status=status,
            before_version=_version(event.get("body")),
            after_version=_version(response.get("body")),
        )
        operations().record(vendor_id, entry)
    except Exception:
        logger.exception("audit entry could not be written")


def _version(body: Any) -> int | None:
    if not isinstance(body, str) or not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        found = parsed.get("version", (parsed.get("agent_config") or {}).get("version"))
        return found if isinstance(found, int) else None
    return None
