"""ElizaOS webhook Lambda (`POST /api/v1/webhooks/elizaos` on the vendor API's REST API, without the Cognito
authorizer): a vendor's ElizaOS agent hands a customer message to the vendor's Oratio agent and gets its reply.

Thin edge: the raw body and headers go to `ElizaInterop` (signature first, then the brief's message, then the same
messaging turn as the social channels), and its answer or error becomes the API's JSON. See
`oratio/channels/elizaos.py` for the signing scheme and `oratio/channels/elizaos_api.py` for the statuses. The
event is parsed first as API Gateway's REST proxy request: anything else is a 400 with a JSON body, never a crash.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcore.tenant_agent.client import AgentCoreAgentClient
from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore, dynamodb_client
from oratio.adapters.dynamodb_agent import DynamoDBConversationRecorder
from oratio.channels.adapters.aws import DynamoDBMessageLedger, SecretsManagerVendorSecret
from oratio.channels.adapters.elizaos_tenants import SsmElizaTenants
from oratio.channels.elizaos import ElizaInterop
from oratio.channels.elizaos_api import error_response, handle_raw
from oratio.lambda_events import RestProxyRequest, field_problems
from oratio.observability import lambda_entry, logger, metrics
from oratio.tables import AGENTS, CONVERSATIONS, TENANT_STATE, table_settings
from oratio.vendors.models import ErrorBody
from oratio.vendors.settings import TENANT_PARAMETER_PREFIX_ENV_VAR

ROUTE = ("POST", "/api/v1/webhooks/elizaos")


class ElizaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agents_table: str = Field(min_length=1)
    conversations_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)
    tenant_parameter_prefix: str = "/oratio/tenants"

    @classmethod
    def from_environ(cls) -> ElizaSettings:
        env = os.environ
        values = {
            **table_settings(env, AGENTS, CONVERSATIONS, TENANT_STATE),
            "tenant_parameter_prefix": env.get(TENANT_PARAMETER_PREFIX_ENV_VAR),
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


def _proxy(response: Response[Any]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **{k: str(v) for k, v in response.headers.items()}},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _error(status: HTTPStatus, error: str, message: str) -> Response[Any]:
    body = ErrorBody(error=error, message=message)
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body.model_dump(exclude_none=True)
    )


def answer(request: RestProxyRequest) -> Response[Any]:
    if (request.http_method, request.path) != ROUTE:
        return _error(HTTPStatus.NOT_FOUND, "not_found", "no such path or method in this API")
    try:
        raw_body = request.body_bytes()
    except ValueError as e:
        return _error(HTTPStatus.BAD_REQUEST, "bad_request", str(e))
    try:
        return handle_raw(build_interop(), raw_body, request.headers or {})
    except Exception as e:
        try:
            return error_response(e)
        except Exception:
            logger.exception("ElizaOS webhook failed")
            metrics.add_metric(name="ElizaWebhookServerErrors", unit=MetricUnit.Count, value=1)
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "something went wrong")


def _parsed(event: Any) -> RestProxyRequest | Response[Any]:
    try:
        return RestProxyRequest.model_validate(event)
    except ValidationError as e:
        logger.warning("not an API Gateway proxy event", extra={"problems": field_problems(e)})
        return _error(HTTPStatus.BAD_REQUEST, "bad_request", "the request is not an API Gateway REST proxy event")


@lambda_entry(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = _parsed(event)
    response = answer(request) if isinstance(request, RestProxyRequest) else request
    metrics.add_metric(name="ElizaWebhookRequests", unit=MetricUnit.Count, value=1)
    logger.info("ElizaOS webhook answered", extra={"status": response.status_code})
    return _proxy(response)
