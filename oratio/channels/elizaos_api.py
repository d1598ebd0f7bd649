"""`POST /api/v1/webhooks/elizaos`: ElizaOS hands a customer message to the vendor's Oratio agent (see
`oratio.channels.elizaos`). Served by its own function behind an API Gateway resource without the Cognito
authorizer (lambdas/elizaos_webhook); the vendor API app includes this router too, only so the OpenAPI document it
publishes describes the route.

Thin: verify the signature over the raw body first, then parse, answer, and map errors to the API's JSON shape:
401 when a signature header is missing, 403 when the signature is wrong or stale, 422 for a body that is not the
brief's message, 404 for an unknown agent, 409 while a replay of the same request is still being answered, 503
when the agent or a store is briefly unavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from oratio.channels.elizaos import (
    SIGNATURE_HEADER,
    ElizaBodyError,
    ElizaInterop,
    ElizaMessage,
    ElizaReply,
    MissingElizaSignature,
    ReplayInProgress,
    UnknownAgent,
    parse_message,
)
from oratio.channels.ports import SecretUnavailableError
from oratio.channels.signatures import SignatureError
from oratio.vendors.api.responses import RETRY_AFTER_SECONDS, json_error
from oratio.vendors.models import ErrorBody, FieldProblem

if TYPE_CHECKING:  # annotations only: the OpenAPI types are not imported at cold start
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

webhook_router = APIGatewayRouter()  # type: ignore[no-untyped-call]


def _run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _error(description: str) -> OpenAPIResponse:
    return {"description": description, "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}


@webhook_router.post(
    "/api/v1/webhooks/elizaos",
    summary="ElizaOS hands a customer message to the agent (signed with the vendor's webhook secret; no token)",
    responses={
        200: {"description": "The agent's reply, in the brief's response shape"},
        401: _error("X-Oratio-Vendor, X-Oratio-Timestamp or X-Oratio-Signature missing"),
        403: _error("The signature does not match, or the timestamp is over five minutes off"),
        404: _error("No such agent for this vendor"),
        409: _error("The same signed request is still being answered"),
        422: _error("The body is not the brief's message (every field listed)"),
        503: _error("The agent is briefly unavailable; retry shortly"),
    },
    security=[],
    tags=["elizaos"],
)
def elizaos_webhook(
    body: Annotated[ElizaMessage, Body(description="the brief's message: platform, agent_id, message, user_id")],
    x_oratio_signature: Annotated[str, Header(alias="X-Oratio-Signature", description="sha256=<hex>")],
    x_oratio_vendor: Annotated[str, Header(alias="X-Oratio-Vendor")],
    x_oratio_timestamp: Annotated[str, Header(alias="X-Oratio-Timestamp", description="unix seconds")],
) -> ElizaReply:
    # API Gateway sends this path to the ElizaOS function (its handler calls `handle_raw` on the raw request); a
    # request reaching the vendor API's copy of the route was not signed for it.
    raise SignatureError("ElizaOS webhooks are answered by the ElizaOS function")


def handle_raw(service: ElizaInterop, raw_body: bytes, headers: dict[str, str]) -> Response[dict[str, Any]]:
    """The route's work on the raw request (the ElizaOS function calls this): signature, then body, then answer."""

    async def answer() -> ElizaReply:
        vendor = await service.verify(headers, raw_body)
        message = parse_message(raw_body)
        lower = {k.lower(): v for k, v in headers.items()}
        return await service.handle(vendor, lower[SIGNATURE_HEADER], message)

    reply = _run(answer())
    return Response(status_code=HTTPStatus.OK, content_type=content_types.APPLICATION_JSON, body=reply.model_dump())


def error_response(error: Exception) -> Response[dict[str, Any]]:
    """Every failure of the route as the API's JSON error."""
    if isinstance(error, MissingElizaSignature):
        return json_error(HTTPStatus.UNAUTHORIZED, ErrorBody(error="unauthenticated", message=str(error)))
    if isinstance(error, SignatureError):
        return json_error(HTTPStatus.FORBIDDEN, ErrorBody(error="forbidden", message="the request is not signed right"))
    if isinstance(error, ElizaBodyError):
        details = [FieldProblem(field=f, message=m, type=t) for f, m, t in error.problems]
        body = ErrorBody(error="validation_error", message=str(error), details=details)
        return json_error(HTTPStatus.UNPROCESSABLE_ENTITY, body)
    if isinstance(error, UnknownAgent):
        return json_error(HTTPStatus.NOT_FOUND, ErrorBody(error="not_found", message=str(error)))
    if isinstance(error, ReplayInProgress):
        return json_error(HTTPStatus.CONFLICT, ErrorBody(error="request_in_progress", message=str(error)))
    if isinstance(error, SecretUnavailableError) or getattr(error, "retryable", False):
        body = ErrorBody(error="service_unavailable", message="the agent is briefly unavailable; retry shortly")
        return json_error(HTTPStatus.SERVICE_UNAVAILABLE, body, {"Retry-After": RETRY_AFTER_SECONDS})
    raise error


for _kind in (SignatureError, ElizaBodyError, UnknownAgent, ReplayInProgress, SecretUnavailableError):
    webhook_router.exception_handler(_kind)(error_response)
