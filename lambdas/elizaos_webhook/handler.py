"""ElizaOS webhook Lambda (`POST /api/v1/webhooks/elizaos` on the vendor API's REST API, without the Cognito
authorizer): a vendor's ElizaOS agent hands a customer message to the vendor's Oratio agent and gets its reply.

Thin edge: the raw body and headers go to `ElizaInterop` (signature first, then the brief's message, then the same
messaging turn as the social channels), and its answer or error becomes the API's JSON. See
`oratio/channels/elizaos.py` for the signing scheme and `oratio/channels/elizaos_api.py` for the statuses.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from agentcore.tenant_agent.client import AgentCoreAgentClient
from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore, dynamodb_client
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder
from oratio.channels.adapters.aws import DynamoDBMessageLedger, SecretsManagerVendorSecret
from oratio.channels.adapters.elizaos_tenants import SsmElizaTenants
from oratio.channels.elizaos import ElizaInterop
from oratio.channels.elizaos_api import error_response, handle_raw
from oratio.observability import logger, metrics, tracer
from oratio.tables import AGENTS, CONVERSATIONS, TENANT_STATE
from oratio.vendor.models import ErrorBody
from oratio.vendor.settings import TENANT_PARAMETER_PREFIX_ENV_VAR

ROUTE = ("POST", "/api/v1/webhooks/elizaos")


class ElizaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agents_table: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    tenant_parameter_prefix: str = "/oratio/tenants"

    @classmethod
    def from_environ(cls) -> ElizaSettings:
        values = {
            "agents_table": os.environ.get(AGENTS.env_var),
            "conversations_table": os.environ.get(CONVERSATIONS.env_var),
            "tenant_state_table": os.environ.get(TENANT_STATE.env_var),
            "tenant_parameter_prefix": os.environ.get(TENANT_PARAMETER_PREFIX_ENV_VAR),
        }
        return cls.model_validate({k: v for k, v in values.items() if v is not None})


def _utc_now() -> datetime:
    return datetime.now(UTC)


@cache
def build_interop() -> ElizaInterop:
    """The use case over DynamoDB, SSM, Secrets Manager and the tenants' agent runtimes, built once per container."""
    settings = ElizaSettings.from_environ()
    client = dynamodb_client()
    recorder = DynamoDBConversationRecorder(settings.conversations_table, client=client)
    tenants = SsmElizaTenants(
        secret=SecretsManagerVendorSecret(),
        recorder=recorder,
        agent_factory=AgentCoreAgentClient,
        clock=_utc_now,
        parameter_prefix=settings.tenant_parameter_prefix,
    )
    return ElizaInterop(
        tenants=tenants,
        agents=DynamoDBAgentDirectory(settings.agents_table, client=client),
        ledger=DynamoDBMessageLedger(settings.tenant_state_table, client=client),
        sessions=DynamoDBCallSessionStore(settings.conversations_table, settings.tenant_state_table, client=client),
        clock=_utc_now,
    )


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode() if isinstance(body, str) else b""


def _proxy(response: Response[Any]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **{k: str(v) for k, v in response.headers.items()}},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def answer(event: dict[str, Any]) -> Response[Any]:
    if (event.get("httpMethod"), event.get("path")) != ROUTE:
        body = ErrorBody(error="not_found", message="no such path or method in this API")
        return Response(
            status_code=HTTPStatus.NOT_FOUND,
            content_type=content_types.APPLICATION_JSON,
            body=body.model_dump(exclude_none=True),
        )
    headers = {str(k): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        return handle_raw(build_interop(), _raw_body(event), headers)
    except Exception as e:
        try:
            return error_response(e)
        except Exception:
            logger.exception("ElizaOS webhook failed")
            metrics.add_metric(name="ElizaWebhookServerErrors", unit=MetricUnit.Count, value=1)
            body = ErrorBody(error="internal_error", message="something went wrong")
            return Response(
                status_code=HTTPStatus.INTERNAL_SERVER_ERROR,
                content_type=content_types.APPLICATION_JSON,
                body=body.model_dump(exclude_none=True),
            )


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = answer(event)
    metrics.add_metric(name="ElizaWebhookRequests", unit=MetricUnit.Count, value=1)
    logger.info("ElizaOS webhook answered", extra={"status": response.status_code})
    return _proxy(response)
