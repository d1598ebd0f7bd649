"""Vendor API Lambda: the Powertools REST resolver behind API Gateway (Cognito authorizer in front).

Thin edge. The event is first parsed as an API Gateway REST proxy event (anything else is a 400). Before
routing, a gate checks what every vendor request needs (the vendor claim from the authorizer, that it names a
deployed tenant, the body and its media type, the vendor's request rate); the resolver validates bodies and
parameters against the pydantic models (the same models generate the OpenAPI document); routes
(`oratio/vendors/api/*_routes.py`) call one `VendorService` method; `oratio.vendors.api.responses` maps domain
errors to statuses in one place. Every error is a JSON `ErrorBody`; nothing a vendor sends produces a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from oratio.adapters.dynamodb import DataAccessError, dynamodb_client
from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from oratio.adapters.dynamodb_vendor import (
    DynamoDBAgentRepository,
    DynamoDBConversationReader,
    DynamoDBDocumentRepository,
    DynamoDBProvisioningJobRepository,
    DynamoDBRateLimiter,
)
from oratio.adapters.vendor_aws import S3DocumentMetadata, S3UploadSigner, SsmTenantDirectory, TenantDirectoryError
from oratio.agent_definitions.dynamodb import DynamoDBDefinitionVersions
from oratio.channels.elizaos_api import webhook_router as elizaos_routes
from oratio.observability import lambda_entry, logger, metrics
from oratio.ports import Clock, SystemClock
from oratio.vendors import creator as creator_module
from oratio.vendors.api import (
    agent_routes,
    channel_routes,
    creator_routes,
    operations_routes,
    resource_routes,
    version_routes,
)
from oratio.vendors.api.context import BASE, IDEMPOTENCY_HEADER, Operation, RouteContext
from oratio.vendors.api.responses import error_response, field_path, install_error_handlers, json_error, unavailable
from oratio.vendors.creator import CreatorService
from oratio.vendors.errors import (
    IdempotencyKeyReused,
    PayloadTooLarge,
    RequestInProgress,
    Unauthenticated,
    UnsupportedMediaType,
    VendorApiError,
)
from oratio.vendors.models import ErrorBody, Health
from oratio.vendors.operations import OperationsService
from oratio.vendors.service import VendorService, VendorSettings
from oratio.vendors.settings import ApiSettings

if TYPE_CHECKING:
    # Imported where used: the OpenAPI models only by the schema route, idempotency only with the header.
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

API_VERSION = "1.0.0"
PUBLIC_PATHS = frozenset({f"{BASE}/health", f"{BASE}/openapi.json"})
VENDOR_ID_CLAIM = "custom:vendor_id"
# Who wrote a definition version: the first of these claims the token carries (never the body).
AUTHOR_CLAIMS = ("email", "cognito:username", "sub")
JSON_MEDIA_TYPE = "application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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
            s.agents_table,
            s.tenant_state_table,
            s.agent_definitions_table,
            deleted_retention_days=s.deleted_retention_days,
            client=client,
        ),
        versions=DynamoDBDefinitionVersions(s.agent_definitions_table, client=client),
        jobs=DynamoDBProvisioningJobRepository(s.provisioning_jobs_table, client=client),
        documents=DynamoDBDocumentRepository(s.knowledge_documents_table, client=client),
        conversations=DynamoDBConversationReader(s.conversations_table, client=client),
        tenants=SsmTenantDirectory(s.tenant_parameter_prefix),
        uploads=S3UploadSigner(),
        metadata=S3DocumentMetadata(),
        rate_limiter=DynamoDBRateLimiter(s.tenant_state_table, client=client),
        numbers=DynamoDBNumberRegistry(s.numbers_table, client=client),
        settings=VendorSettings(
            rate_limit_per_minute=s.rate_limit_per_minute, deleted_retention_days=s.deleted_retention_days
        ),
        clock=clock,
    )


# Tests and benchmarks replace this to run the same routes over other adapters.
service_factory: Callable[[], VendorService] = build_service


@cache
def build_creator() -> CreatorService:
    """AgentCreator's routes over the pipeline's DynamoDB + S3 job store and the AgentCreator runtime (built once
    per container on first use; the job store's module is imported here, not at cold start)."""
    from oratio.agent_creator.dynamodb_store import DynamoDBJobStore

    from oratio.creator_launch.adapters.agentcore import AgentCoreCreatorLauncher

    creator_settings = creator_routes.CreatorApiSettings.from_environ()
    service = service_factory()
    return CreatorService(
        agents=service.agents,
        versions=service.versions,
        jobs=DynamoDBJobStore.from_environ(),
        launcher=AgentCoreCreatorLauncher(creator_settings.runtime_arn),
        audit=operations_service().record,
        clock=clock,
        max_sop_bytes=creator_settings.max_sop_bytes,
    )


# Tests and the local mode replace this (in-memory or moto job store, in-process launcher).
creator_factory: Callable[[], CreatorService] = build_creator

IDEMPOTENCY_SECONDS = 24 * 3600


@cache
def _idempotency_config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[vendor_id, key]",
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_SECONDS,
    )


@cache
def _persistence() -> DynamoDBPersistenceLayer:
    # Built lazily: importing the handler must not need the environment or create clients.
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    # Our DynamoDB client (its timeouts and retries, the process's boto3 session), not a session of its own:
    # a second session loads DynamoDB's service model again, which a cold start pays for.
    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table, boto3_client=dynamodb_client())


@cache
def _idempotent(operation: Operation) -> Callable[..., dict[str, Any]]:
    """`operation` behind Powertools idempotency, wrapped once per container (the record key includes the
    operation's name, so create and provision never share a record)."""

    def run(request: dict[str, Any]) -> dict[str, Any]:
        return operation(request)

    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    run.__name__ = run.__qualname__ = operation.__name__
    wrapped: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="request", persistence_store=_persistence(), config=_idempotency_config()
    )(run)
    return wrapped


def _once(operation: Operation, request: dict[str, Any]) -> dict[str, Any]:
    """Run `operation(request)` once per (vendor, Idempotency-Key); a repeat returns the stored result."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    # Idempotency tracks the invocation's remaining time (a record left "in progress" by a timeout expires).
    _idempotency_config().register_lambda_context(app.lambda_context)
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
def parse_json_body(body: str) -> Any:
    """Request bodies are parsed by pydantic-core, whose parser refuses nesting past its recursion limit with a
    ValueError where `json.loads` would exhaust Python's stack (a RecursionError, answered as a 500). Any refusal
    is a `JSONDecodeError`, which the resolver's validation answers as a 422 naming the problem."""
    try:
        return from_json(body)
    except ValueError as e:
        raise json.JSONDecodeError(str(e), body, 0) from e


app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json_body)


def vendor_id() -> str:
    vendor: str = app.context["vendor_id"]
    return vendor


def author() -> str:
    who: str = app.context.get("author") or vendor_id()
    return who


@cache
def operations_service() -> OperationsService:
    """The operations service (usage, costs, analysis, recordings, audit), built once per container on first use."""
    return operations_routes.build_operations()


ROUTES = RouteContext(service=lambda: service_factory(), vendor_id=vendor_id, author=author, once=_once)


def creator() -> CreatorService:
    return creator_factory()


def record_approval(vendor: str, agent_id: str, version: int, who: str, request_id: str) -> None:
    """A publish is an approval when AgentCreator wrote the version: the audit log says so. The publish has
    happened: a lost entry is logged as an error, never turned into a failed request."""
    try:
        creator_approvals(vendor, agent_id, version, who, request_id)
    except Exception:
        logger.exception("AgentCreator approval could not be recorded")


def _record_approval(vendor: str, agent_id: str, version: int, who: str, request_id: str) -> None:
    creator_module.record_approval(
        service_factory().versions, operations_service().record, clock, vendor, agent_id, version, who, request_id
    )


# Tests replace this to see a failing audit log leave the publish standing.
creator_approvals: Callable[[str, str, int, str, str], None] = _record_approval


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


agent_routes.register(app, ROUTES)
version_routes.register(app, ROUTES, on_publish=record_approval)
resource_routes.register(app, ROUTES)
operations_routes.register(app, ROUTES, operations_service)
channel_routes.register(app, ROUTES)
creator_routes.register(app, ROUTES, creator)
# Declared here only so the OpenAPI document describes it: API Gateway sends it to lambdas/elizaos_webhook.
app.include_router(elizaos_routes)
install_error_handlers(app)


# ------------------------------------------------------------------------------------------ gate
class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _Authorizer(_Wire):
    claims: dict[str, Any] | None = None


class _RequestContext(_Wire):
    authorizer: _Authorizer | None = None


class ProxyRequest(_Wire):
    """The parts of an API Gateway REST proxy event the gate and the resolver read, checked before either does
    (API Gateway always sends these shapes; anything else is refused with a 400, never a crash)."""

    path: str
    http_method: str = Field(alias="httpMethod")
    headers: dict[str, str] | None = None
    multi_value_headers: dict[str, list[str]] | None = Field(default=None, alias="multiValueHeaders")
    query_string_parameters: dict[str, str] | None = Field(default=None, alias="queryStringParameters")
    multi_value_query_string_parameters: dict[str, list[str]] | None = Field(
        default=None, alias="multiValueQueryStringParameters"
    )
    path_parameters: dict[str, str] | None = Field(default=None, alias="pathParameters")
    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")
    request_context: _RequestContext = Field(alias="requestContext")

    @property
    def claims(self) -> dict[str, Any]:
        authorizer = self.request_context.authorizer
        return (authorizer.claims if authorizer else None) or {}

    def header(self, name: str) -> str | None:
        return next((value for key, value in (self.headers or {}).items() if key.lower() == name), None)

    @property
    def body_bytes(self) -> int:
        body = self.body or ""
        return len(body) * 3 // 4 if self.is_base64_encoded else len(body.encode())


def _author(claims: Mapping[str, Any], vendor: str) -> str:
    for claim in AUTHOR_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:200]
    return vendor


def gate(request: ProxyRequest) -> tuple[str, str] | None:
    """The vendor id and caller identity of an admitted request (None for public paths); raises what refuses it."""
    if request.path in PUBLIC_PATHS and request.http_method == "GET":
        return None
    # Most bodies are JSON under the API's cap; an operation that takes other media (the SOP) says so.
    policy = creator_routes.body_policy(request.http_method, request.path)
    limit = policy.max_bytes if policy else settings().max_body_bytes
    accepted = policy.media_types if policy else (JSON_MEDIA_TYPE,)
    size = request.body_bytes
    if size > limit:
        raise PayloadTooLarge(limit)
    content_type = request.header("content-type")
    media_type = (content_type or "").split(";")[0].strip().lower()
    # A body must be of a media type the operation takes; so must a declared media type on a method that carries
    # one, even with an empty body.
    if media_type not in accepted and (size or (content_type is not None and request.http_method in BODY_METHODS)):
        raise UnsupportedMediaType(content_type or "", accepted)
    claims = request.claims
    vendor = claims.get(VENDOR_ID_CLAIM)
    # Defence in depth: the authorizer already checked the token; a token without a vendor claim is refused.
    if not isinstance(vendor, str) or not vendor.strip():
        raise Unauthenticated("the token carries no vendor identity (custom:vendor_id); sign in as a vendor user")
    # A claim that names no deployed tenant (a typo at invitation, "null", a malformed id) is refused here with a
    # 403, before anything is read or written under it.
    service_factory().admit(vendor)
    return vendor, _author(claims, vendor)


@cache
def openapi_schema() -> dict[str, Any]:
    """The OpenAPI document, generated from the routes and models above (committed as docs/openapi.json)."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

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
    creator_routes.document(document)
    return document


@lambda_entry(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = ProxyRequest.model_validate(event)
    except ValidationError as e:
        logger.warning("not an API Gateway proxy event", extra={"problems": [field_path(p["loc"]) for p in e.errors()]})
        body = ErrorBody(error="bad_request", message="the request is not an API Gateway REST proxy event")
        return _lambda_response(json_error(HTTPStatus.BAD_REQUEST, body))
    try:
        admitted = gate(request)
    except VendorApiError as e:
        metrics.add_metric(name="VendorApiClientErrors", unit=MetricUnit.Count, value=1)
        logger.info("request refused at the gate", extra={"error": e.code})
        return _lambda_response(error_response(e))
    except (DataAccessError, TenantDirectoryError):
        logger.exception("rate limiter or tenant directory unavailable")
        return _lambda_response(unavailable())
    vendor, caller = admitted or (None, None)
    app.append_context(vendor_id=vendor, author=caller)  # type: ignore[no-untyped-call]
    if vendor:
        logger.append_keys(vendor_id=vendor)
    response = app.resolve(event, context)
    operations_routes.audit_write(event, vendor, response, operations_service)
    return response


def _lambda_response(response: Response[dict[str, Any]]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **{k: str(v) for k, v in response.headers.items()}},
        "body": json.dumps(response.body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


__all__ = ["app", "lambda_handler", "openapi_schema"]
