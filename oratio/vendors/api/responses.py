"""Every answer that is not a route's own model: the JSON `ErrorBody` for each domain error, validation failure
and outage, the status each maps to (in one table), and their OpenAPI documentation."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from oratio.adapters.dynamodb import DataAccessError
from oratio.adapters.dynamodb_vendor import InvalidPageToken
from oratio.adapters.vendor_aws import DocumentMetadataError, TenantDirectoryError
from oratio.observability import logger, metrics
from oratio.vendors.errors import (
    CreatorUnavailable,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidSop,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    SopTooLarge,
    Unauthenticated,
    UnknownTenant,
    UnsupportedMediaType,
    VendorApiError,
    VersionConflict,
)
from oratio.vendors.models import ErrorBody, FieldProblem

if TYPE_CHECKING:  # the OpenAPI types are for annotations only: importing them at cold start costs time
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

RETRY_AFTER_SECONDS = "2"
ERROR_DESCRIPTIONS = {
    400: "Bad request (e.g. an invalid page token, or an SOP that is empty, binary or not UTF-8)",
    401: "No vendor identity in the token",
    403: "The token's vendor id names no tenant deployed on this platform",
    404: "No such resource for this vendor",
    409: "Conflict: illegal lifecycle action or publish, stale version, quota, an idempotent request in flight, "
    "the tenant not deployed, a platform account linked to another agent, or chat not active",
    413: "Body too large (or an SOP over its limit)",
    415: "Body is not of a media type the operation takes (JSON, unless the operation lists others)",
    422: "Validation failed: every failing field is listed (or the platform refused the credentials, in its words)",
    429: "Rate limit exceeded (see Retry-After)",
    503: "The data layer, a platform, Amazon Connect or the AgentCreator runtime is briefly unavailable (see "
    "Retry-After); nothing was changed, or the message says what was kept and how to retry it",
}


def errors(*codes: int) -> dict[int, OpenAPIResponse]:
    """The error answers of a route: the ones every route may give, plus `codes`."""
    responses: dict[int, OpenAPIResponse] = {
        code: {
            "description": ERROR_DESCRIPTIONS[code],
            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}},
        }
        for code in (401, 403, 413, 415, 422, 429, 503, *codes)
    }
    for code in (429, 503):
        responses[code]["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return responses


def ok(status: int = 200, description: str = "OK", *error_codes: int) -> dict[int, OpenAPIResponse]:
    return {status: {"description": description}, **errors(*error_codes)}


# Every other domain error (illegal transition or publish, stale version, quota, number in use, tenant not deployed,
# request in progress) is a conflict.
STATUS: dict[type[VendorApiError], HTTPStatus] = {
    Unauthenticated: HTTPStatus.UNAUTHORIZED,
    UnknownTenant: HTTPStatus.FORBIDDEN,
    NotFound: HTTPStatus.NOT_FOUND,
    InvalidPageToken: HTTPStatus.BAD_REQUEST,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    SopTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    InvalidSop: HTTPStatus.BAD_REQUEST,
    CreatorUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    RateLimited: HTTPStatus.TOO_MANY_REQUESTS,
    IdempotencyKeyReused: HTTPStatus.UNPROCESSABLE_ENTITY,
}


def status_of(error: VendorApiError) -> HTTPStatus:
    return next((status for kind, status in STATUS.items() if isinstance(error, kind)), HTTPStatus.CONFLICT)


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
    elif isinstance(error, CreatorUnavailable):
        body.retry_after_seconds = error.retry_after_seconds
        headers["Retry-After"] = str(error.retry_after_seconds)
    return json_error(status_of(error), body, headers)


def json_error(status: HTTPStatus, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json", exclude_none=True),
        headers=headers or {},
    )


def unavailable() -> Response[dict[str, Any]]:
    body = ErrorBody(error="service_unavailable", message="the service is briefly unavailable; retry shortly")
    return json_error(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": RETRY_AFTER_SECONDS})


def field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def problem_message(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    if kind == "extra_forbidden":
        return "unknown field; remove it or check its spelling"
    if kind == "missing":
        return "this field is required"
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error")
        return f"the body is not valid JSON ({reason})" if reason else "the body is not valid JSON"
    return str(error.get("msg", kind)).removeprefix("Value error, ")


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    """Map every failure a route can meet to its JSON answer, in one place."""

    @app.exception_handler(VendorApiError)  # type: ignore[untyped-decorator]
    def _vendor_error(error: VendorApiError) -> Response[dict[str, Any]]:
        metrics.add_metric(name="VendorApiClientErrors", unit=MetricUnit.Count, value=1)
        logger.info("request refused", extra={"error": error.code})
        return error_response(error)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid(error: RequestValidationError) -> Response[dict[str, Any]]:
        problems = [
            FieldProblem(field=field_path(e["loc"]), message=problem_message(e), type=str(e["type"]))
            for e in error.errors()
        ]
        body = ErrorBody(
            error="validation_error",
            message=f"{len(problems)} field(s) failed validation: " + ", ".join(p.field for p in problems[:5]),
            details=problems,
        )
        return json_error(HTTPStatus.UNPROCESSABLE_ENTITY, body)

    @app.exception_handler(DataAccessError)  # type: ignore[untyped-decorator]
    def _data_unavailable(error: DataAccessError) -> Response[dict[str, Any]]:
        logger.exception("data layer failed")
        metrics.add_metric(name="VendorApiDataErrors", unit=MetricUnit.Count, value=1)
        return unavailable()

    @app.exception_handler(TenantDirectoryError)  # type: ignore[untyped-decorator]
    def _directory_unavailable(error: TenantDirectoryError) -> Response[dict[str, Any]]:
        logger.exception("tenant parameters unreadable")
        return unavailable()

    @app.exception_handler(DocumentMetadataError)  # type: ignore[untyped-decorator]
    def _metadata_unwritable(error: DocumentMetadataError) -> Response[dict[str, Any]]:
        logger.exception("knowledge metadata unwritable")
        return unavailable()

    @app.not_found
    def _no_route(_: Exception) -> Response[dict[str, Any]]:
        return json_error(
            HTTPStatus.NOT_FOUND, ErrorBody(error="not_found", message="no such path or method in this API")
        )

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(error: Exception) -> Response[dict[str, Any]]:
        logger.exception("unexpected error")
        metrics.add_metric(name="VendorApiServerErrors", unit=MetricUnit.Count, value=1)
        return json_error(
            HTTPStatus.INTERNAL_SERVER_ERROR, ErrorBody(error="internal_error", message="something went wrong")
        )
