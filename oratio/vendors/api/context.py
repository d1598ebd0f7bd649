"""What every route needs from the request it serves, handed to the route modules by the handler: the service,
the caller's vendor id and identity (from the authorizer, never from the body), and the idempotency wrapper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from oratio.domain.agents import AGENT_ID_PATTERN
from oratio.vendors.service import VendorService

BASE = "/api/v1"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
MAX_VERSION = 999_999
SECURITY: list[dict[str, list[str]]] = [{"vendorIdToken": []}]

Operation = Callable[[dict[str, Any]], dict[str, Any]]

AgentId = Annotated[str, Path(pattern=AGENT_ID_PATTERN, description="the agent's id")]
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="a definition version of the agent")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="makes the call safe to retry: the same key returns the first result (24 h)",
    ),
]


@dataclass(frozen=True)
class RouteContext:
    """The request-scoped pieces a route calls; the handler builds one per function instance."""

    service: Callable[[], VendorService]
    vendor_id: Callable[[], str]
    author: Callable[[], str]
    once: Callable[[Operation, dict[str, Any]], dict[str, Any]]
