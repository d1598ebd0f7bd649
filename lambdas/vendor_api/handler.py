"""Vendor API Lambda: the Powertools REST resolver behind API Gateway (Cognito authorizer in front).

Thin edge. Before routing, a gate checks what every vendor request needs (the vendor claim from the
authorizer, the body size, the vendor's request rate); the resolver validates bodies and parameters against
the pydantic models (the same models generate the OpenAPI document); routes call one `VendorService`
method; `@app.exception_handler`s map domain errors to statuses in one place. Every error is a JSON
`ErrorBody`; nothing a vendor sends produces a 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from oratio.adapters.dynamodb import DataAccessError, dynamodb_client
from oratio.adapters.dynamodb_vendor import (
    DynamoDBAgentRepository,
    DynamoDBConversationReader,
    DynamoDBDocumentRepository,
    DynamoDBProvisioningJobRepository,
    DynamoDBRateLimiter,
    InvalidPageToken,
)
from oratio.adapters.vendor_aws import S3UploadSigner, SsmTenantDirectory, TenantDirectoryError
from oratio.channels.api import router as channel_routes
from oratio.channels.elizaos_api import webhook_router as elizaos_routes
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.domain.agents import AGENT_ID_PATTERN, AgentStatus
from oratio.observability import logger, metrics, tracer
from oratio.ports import Clock, SystemClock
from oratio.vendor.errors import (
    IdempotencyKeyReused,
    IllegalTransition,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    RequestInProgress,
    Unauthenticated,
    UnsupportedMediaType,
    VendorApiError,
    VersionConflict,
)
from oratio.vendor.lifecycle import AgentAction
from oratio.vendor.models import (
    AgentCreate,
    AgentPage,
    AgentUpdate,
    AgentView,
    ConversationDetail,
    ConversationPage,
    ElizaCharacter,
    ErrorBody,
    FieldProblem,
    Health,
    KnowledgeDocumentList,
    KnowledgeUploadRequest,
    KnowledgeUploadView,
    ProvisioningJobView,
    ProvisioningResult,
    ProvisionRequest,
)
from oratio.vendor.service import VendorService, VendorSettings
from oratio.vendor.settings import ApiSettings

API_VERSION = "1.0.0"
BASE = "/api/v1"
PUBLIC_PATHS = frozenset({f"{BASE}/health", f"{BASE}/openapi.json"})
VENDOR_ID_CLAIM = "custom:vendor_id"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
SECURITY: list[dict[str, list[str]]] = [{"vendorIdToken": []}]


@cache
def settings() -> ApiSettings:
    return ApiSettings.from_environ()


# The service's clock; tests replace it before the first invocation (the service is built once, on first use).
clock: Clock = SystemClock()


@cache
def build_service() -> VendorService:
    """The service over DynamoDB, SSM and S3, built once per container on first use."""
    s = settings()
    client = dynamodb_client()
    return VendorService(
        agents=DynamoDBAgentRepository(
            s.agents_table, s.tenant_state_table, deleted_retention_days=s.deleted_retention_days, client=client
        ),
        jobs=DynamoDBProvisioningJobRepository(s.provisioning_jobs_table, client=client),
        documents=DynamoDBDocumentRepository(s.knowledge_documents_table, client=client),
        conversations=DynamoDBConversationReader(s.conversations_table, client=client),
        tenants=SsmTenantDirectory(s.tenant_parameter_prefix),
        uploads=S3UploadSigner(),
        rate_limiter=DynamoDBRateLimiter(s.tenant_state_table, client=client),
        settings=VendorSettings(
            rate_limit_per_minute=s.rate_limit_per_minute, deleted_retention_days=s.deleted_retention_days
        ),
        clock=clock,
    )


# Tests and benchmarks replace this to run the same routes over other adapters.
service_factory: Callable[[], VendorService] = build_service

IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[vendor_id, key]",
    payload_validation_jmespath="body",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
)


@cache
def _persistence() -> DynamoDBPersistenceLayer:
    # Built lazily: importing the handler must not need the environment or create clients.
    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table)


Operation = Callable[[dict[str, Any]], dict[str, Any]]


@cache
def _idempotent(operation: Operation) -> Callable[..., dict[str, Any]]:
    """`operation` behind Powertools idempotency, wrapped once per container (the record key includes the
    operation's name, so create and provision never share a record)."""

    def run(request: dict[str, Any]) -> dict[str, Any]:
        return operation(request)

    run.__name__ = run.__qualname__ = operation.__name__
    wrapped: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="request", persistence_store=_persistence(), config=IDEMPOTENCY
    )(run)
    return wrapped


def _once(operation: Operation, request: dict[str, Any]) -> dict[str, Any]:
    """Run `operation(request)` once per (vendor, Idempotency-Key); a repeat returns the stored result."""
    try:
        result = _idempotent(operation)(request=request)
    except IdempotencyValidationError as e:
        raise IdempotencyKeyReused(
            f"{IDEMPOTENCY_HEADER} {request['key']!r} was used before with a different body; "
            "use a new key for a different request"
        ) from e
    except IdempotencyAlreadyInProgressError as e:
        raise RequestInProgress(
            f"a request with {IDEMPOTENCY_HEADER} {request['key']!r} is still being processed; retry shortly"
        ) from e
    return result


# --------------------------------------------------------------------------------------- resolver
app = APIGatewayRestResolver(enable_validation=True)


def _errors(*codes: int) -> dict[int, OpenAPIResponse]:
    descriptions = {
        400: "Bad request (e.g. an invalid page token)",
        401: "No vendor identity in the token",
        404: "No such resource for this vendor",
        409: "Conflict: illegal lifecycle action, stale version, quota, or an idempotent request in flight",
        413: "Body too large",
        415: "Body is not JSON",
        422: "Validation failed: every failing field is listed",
        429: "Rate limit exceeded (see Retry-After)",
        503: "The data layer is briefly unavailable (see Retry-After); nothing was changed",
    }
    responses: dict[int, OpenAPIResponse] = {
        code: {"description": descriptions[code], "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}
        for code in (401, 413, 415, 422, 429, 503, *codes)
    }
    for code in (429, 503):
        responses[code]["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return responses


def _ok(status: int = 200, description: str = "OK", *errors: int) -> dict[int, OpenAPIResponse]:
    return {status: {"description": description}, **_errors(*errors)}


def vendor_id() -> str:
    vendor: str = app.context["vendor_id"]
    return vendor


AgentId = Annotated[str, Path(pattern=AGENT_ID_PATTERN, description="the agent's id")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="makes the call safe to retry: the same key returns the first result (24 h)",
    ),
]


@app.get(f"{BASE}/health", summary="Health", responses={200: {"description": "OK"}}, security=[], tags=["meta"])
def health() -> Health:
    return Health(status="ok", version=API_VERSION)


@app.get(
    f"{BASE}/openapi.json",
    summary="This OpenAPI document",
    responses={200: {"description": "OpenAPI 3.1 document"}},
    security=[],
    tags=["meta"],
)
def openapi_document() -> dict[str, Any]:
    return openapi_schema()


@app.post(
    f"{BASE}/agents",
    summary="Create an agent (draft)",
    status_code=201,
    responses=_ok(201, "Created", 409),
    security=SECURITY,
    tags=["agents"],
)
def create_agent(body: Annotated[AgentCreate, Body()], idempotency_key: IdempotencyKey = None) -> AgentView:
    vendor = vendor_id()
    if idempotency_key is None:
        return service_factory().create_agent(vendor, body)
    result = _once(_create, {"vendor_id": vendor, "key": idempotency_key, "body": body.model_dump(mode="json")})
    return AgentView.model_validate(result)


def _create(request: dict[str, Any]) -> dict[str, Any]:
    view = service_factory().create_agent(request["vendor_id"], AgentCreate.model_validate(request["body"]))
    return view.model_dump(mode="json")


@app.post(
    f"{BASE}/agents/provision",
    summary="Create an agent and provision its channels",
    status_code=201,
    responses=_ok(201, "Provisioned (see status and each channel)", 409),
    security=SECURITY,
    tags=["agents"],
)
def provision_agent(
    body: Annotated[ProvisionRequest, Body()], idempotency_key: IdempotencyKey = None
) -> ProvisioningResult:
    vendor = vendor_id()
    if idempotency_key is None:
        return service_factory().provision_new(vendor, body.agent_config)
    result = _once(_provision, {"vendor_id": vendor, "key": idempotency_key, "body": body.model_dump(mode="json")})
    return ProvisioningResult.model_validate(result)


def _provision(request: dict[str, Any]) -> dict[str, Any]:
    body = ProvisionRequest.model_validate(request["body"])
    return service_factory().provision_new(request["vendor_id"], body.agent_config).model_dump(mode="json")


@app.get(f"{BASE}/agents", summary="List agents", responses=_ok(), security=SECURITY, tags=["agents"])
def list_agents(
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    status: Annotated[AgentStatus | None, Query()] = None,
) -> AgentPage:
    return service_factory().list_agents(vendor_id(), skip=skip, limit=limit, status=status)


@app.get(f"{BASE}/agents/<agent_id>", summary="Get an agent", responses=_ok(200, "OK", 404), security=SECURITY)
def get_agent(agent_id: AgentId) -> AgentView:
    return service_factory().get_agent(vendor_id(), agent_id)


@app.put(
    f"{BASE}/agents/<agent_id>",
    summary="Update an agent (optimistic: send the version you read)",
    responses=_ok(200, "Updated", 404, 409),
    security=SECURITY,
    tags=["agents"],
)
def update_agent(agent_id: AgentId, body: Annotated[AgentUpdate, Body()]) -> AgentView:
    return service_factory().update_agent(vendor_id(), agent_id, body)


@app.delete(
    f"{BASE}/agents/<agent_id>",
    summary="Delete an agent (soft: kept for the retention period)",
    responses=_ok(200, "Deleted", 404),
    security=SECURITY,
    tags=["agents"],
)
def delete_agent(agent_id: AgentId) -> AgentView:
    return service_factory().delete_agent(vendor_id(), agent_id)


def _action_route(action: AgentAction, summary: str) -> None:
    def run(agent_id: AgentId) -> AgentView:
        return service_factory().act(vendor_id(), agent_id, action)

    run.__name__ = f"{action.value}_agent"
    app.post(
        f"{BASE}/agents/<agent_id>/{action.value}",
        summary=summary,
        responses=_ok(200, "The agent in its new status", 404, 409),
        security=SECURITY,
        tags=["lifecycle"],
    )(run)


_action_route(AgentAction.START, "Start an agent (a draft is provisioned; a stopped one goes live again)")
_action_route(AgentAction.STOP, "Stop an agent (callers hear the unavailable message)")
_action_route(AgentAction.PAUSE, "Pause an agent (callers hear the paused message)")
_action_route(AgentAction.RESUME, "Resume a paused agent")


@app.get(
    f"{BASE}/provisioning/<provisioning_id>",
    summary="Provisioning job status, one step per channel",
    responses=_ok(200, "OK", 404),
    security=SECURITY,
    tags=["agents"],
)
def get_provisioning(provisioning_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> ProvisioningJobView:
    return service_factory().get_provisioning(vendor_id(), provisioning_id)


@app.post(
    f"{BASE}/agents/<agent_id>/knowledge",
    summary="Announce a knowledge document; answers a presigned upload",
    status_code=201,
    responses=_ok(201, "Upload instructions", 404, 409),
    security=SECURITY,
    tags=["knowledge"],
)
def start_upload(agent_id: AgentId, body: Annotated[KnowledgeUploadRequest, Body()]) -> KnowledgeUploadView:
    return service_factory().start_upload(vendor_id(), agent_id, body)


@app.get(
    f"{BASE}/agents/<agent_id>/knowledge",
    summary="Knowledge documents with ingestion status",
    responses=_ok(200, "OK", 404),
    security=SECURITY,
    tags=["knowledge"],
)
def list_documents(agent_id: AgentId) -> KnowledgeDocumentList:
    return service_factory().list_documents(vendor_id(), agent_id)


@app.get(
    f"{BASE}/agents/<agent_id>/conversations",
    summary="Conversations, newest first",
    responses=_ok(200, "OK", 400, 404),
    security=SECURITY,
    tags=["conversations"],
)
def list_conversations(
    agent_id: AgentId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> ConversationPage:
    return service_factory().list_conversations(vendor_id(), agent_id, limit=limit, next_token=next_token)


@app.get(
    f"{BASE}/agents/<agent_id>/conversations/<conversation_id>",
    summary="One conversation with its turns",
    responses=_ok(200, "OK", 404),
    security=SECURITY,
    tags=["conversations"],
)
def get_conversation(
    agent_id: AgentId, conversation_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$")]
) -> ConversationDetail:
    return service_factory().get_conversation(vendor_id(), agent_id, conversation_id)


@app.get(
    f"{BASE}/agents/<agent_id>/character",
    summary="Export the agent's character (ElizaOS)",
    responses=_ok(200, "Character file", 404),
    security=SECURITY,
    tags=["agents"],
)
def export_character(agent_id: AgentId, format: Annotated[Literal["elizaos"], Query()] = "elizaos") -> ElizaCharacter:
    return service_factory().export_character(vendor_id(), agent_id, format)


# Channels, web chat, customers and ElizaOS interop (oratio/channels/api.py, oratio/channels/elizaos_api.py).
app.include_router(channel_routes)
app.include_router(elizaos_routes)


# --------------------------------------------------------------------------------- error mapping
# Every other domain error (illegal transition, stale version, quota, number in use, tenant not deployed,
# request in progress) is a conflict.
_STATUS: dict[type[VendorApiError], HTTPStatus] = {
    Unauthenticated: HTTPStatus.UNAUTHORIZED,
    NotFound: HTTPStatus.NOT_FOUND,
    InvalidPageToken: HTTPStatus.BAD_REQUEST,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    RateLimited: HTTPStatus.TOO_MANY_REQUESTS,
    IdempotencyKeyReused: HTTPStatus.UNPROCESSABLE_ENTITY,
}


def status_of(error: VendorApiError) -> HTTPStatus:
    return next((status for kind, status in _STATUS.items() if isinstance(error, kind)), HTTPStatus.CONFLICT)


def error_response(error: VendorApiError) -> Response[dict[str, Any]]:
    body = ErrorBody(error=error.code, message=error.message)
    headers: dict[str, str] = {}
    if isinstance(error, IllegalTransition):
        body.current_status, body.allowed_actions = error.current, list(error.allowed_actions)
    elif isinstance(error, VersionConflict):
        body.current_version = error.current
    elif isinstance(error, QuotaExceeded):
        body.limit = error.limit
    elif isinstance(error, RateLimited):
        body.limit, body.retry_after_seconds = error.limit, error.retry_after_seconds
        headers["Retry-After"] = str(error.retry_after_seconds)
    return _json(status_of(error), body, headers)


def _json(status: HTTPStatus, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json", exclude_none=True),
        headers=headers or {},
    )


@app.exception_handler(  # type: ignore[untyped-decorator]
    VendorApiError
)
def _vendor_error(error: VendorApiError) -> Response[dict[str, Any]]:
    metrics.add_metric(name="VendorApiClientErrors", unit=MetricUnit.Count, value=1)
    logger.info("request refused", extra={"error": error.code})
    return error_response(error)


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


@app.exception_handler(  # type: ignore[untyped-decorator]
    RequestValidationError
)
def _invalid(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = [
        FieldProblem(field=field_path(e["loc"]), message=_message(e), type=str(e["type"])) for e in error.errors()
    ]
    body = ErrorBody(
        error="validation_error",
        message=f"{len(problems)} field(s) failed validation: " + ", ".join(p.field for p in problems[:5]),
        details=problems,
    )
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY, body)


def _message(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    if kind == "extra_forbidden":
        return "unknown field; remove it or check its spelling"
    if kind == "missing":
        return "this field is required"
    if kind == "json_invalid":
        return "the body is not valid JSON"
    return str(error.get("msg", kind)).removeprefix("Value error, ")


@app.exception_handler(  # type: ignore[untyped-decorator]
    DataAccessError
)
def _data_unavailable(error: DataAccessError) -> Response[dict[str, Any]]:
    logger.exception("data layer failed")
    metrics.add_metric(name="VendorApiDataErrors", unit=MetricUnit.Count, value=1)
    return _unavailable()


@app.exception_handler(  # type: ignore[untyped-decorator]
    TenantDirectoryError
)
def _directory_unavailable(error: TenantDirectoryError) -> Response[dict[str, Any]]:
    logger.exception("tenant parameters unreadable")
    return _unavailable()


def _unavailable() -> Response[dict[str, Any]]:
    body = ErrorBody(error="service_unavailable", message="the service is briefly unavailable; retry shortly")
    return _json(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": "2"})


@app.not_found
def _no_route(_: Exception) -> Response[dict[str, Any]]:
    return _json(HTTPStatus.NOT_FOUND, ErrorBody(error="not_found", message="no such path or method in this API"))


@app.exception_handler(  # type: ignore[untyped-decorator]
    Exception
)
def _unexpected(error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unexpected error")
    metrics.add_metric(name="VendorApiServerErrors", unit=MetricUnit.Count, value=1)
    return _json(HTTPStatus.INTERNAL_SERVER_ERROR, ErrorBody(error="internal_error", message="something went wrong"))


# ------------------------------------------------------------------------------------------ gate
def _claims(event: Mapping[str, Any]) -> Mapping[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") or {}
    return claims if isinstance(claims, Mapping) else {}


def _header(event: Mapping[str, Any], name: str) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return ""


def _body_bytes(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode()) if isinstance(body, str) else 0


def gate(event: Mapping[str, Any]) -> str | None:
    """The vendor id of an admitted request (None for public paths); raises what refuses it."""
    if event.get("path") in PUBLIC_PATHS and event.get("httpMethod") == "GET":
        return None
    limit = settings().max_body_bytes
    size = _body_bytes(event)
    if size > limit:
        raise PayloadTooLarge(limit)
    content_type = _header(event, "content-type")
    if size and content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(content_type)
    vendor = _claims(event).get(VENDOR_ID_CLAIM)
    # Defence in depth: the authorizer already checked the token; a token without a vendor claim is refused.
    if not isinstance(vendor, str) or not re.fullmatch(TENANT_ID_PATTERN, vendor):
        raise Unauthenticated("the token carries no vendor identity (custom:vendor_id); sign in as a vendor user")
    service_factory().admit(vendor)
    return vendor


@cache
def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document, generated from the routes and models above (committed as docs/openapi.json)."""
    schema = app.get_openapi_schema(
        title="Oratio vendor API",
        version=API_VERSION,
        description="Create, configure and run Oratio agents. Authenticate with a vendor user's Cognito ID token.",
        servers=[Server(url="/")],
        security_schemes={
            "vendorIdToken": APIKey(
                name="Authorization",
                in_=APIKeyIn.header,
                description="a Cognito ID token of a vendor user (carries custom:vendor_id)",
            )
        },
    )
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    return document


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY.register_lambda_context(context)
    try:
        vendor = gate(event)
    except VendorApiError as e:
        metrics.add_metric(name="VendorApiClientErrors", unit=MetricUnit.Count, value=1)
        return _lambda_response(error_response(e))
    except DataAccessError:
        logger.exception("rate limiter unavailable")
        return _lambda_response(_unavailable())
    app.append_context(vendor_id=vendor)  # type: ignore[no-untyped-call]
    if vendor:
        logger.append_keys(vendor_id=vendor)
    return app.resolve(event, context)


def _lambda_response(response: Response[dict[str, Any]]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **{k: str(v) for k, v in response.headers.items()}},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


__all__ = ["app", "lambda_handler", "openapi_schema"]
