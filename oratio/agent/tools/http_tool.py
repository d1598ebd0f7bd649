"""A tenant's business tool: one HTTPS endpoint of the tenant's own systems (order status, bookings, ...)
called with the model's validated arguments, with the tenant's timeout and a response size limit.

Requests carry `X-Oratio-Tenant`, `X-Oratio-Agent` and `X-Oratio-Session` so the tenant's side can
authorise and correlate; tools that write also carry an `Idempotency-Key` derived from the tool-use id,
so a retried call is recognisable and acts once. Redirects are not followed: the configured URL is the
only place Oratio sends data to. The URL must pass the egress policy (https, a public host) before anything is
sent, and the client it is given should be `oratio.agent.tools.egress.guarded_http_client()`, which checks the
addresses the host resolves to as it connects. The whole call -- connecting, sending, reading -- is bounded by the
tool's timeout, and the body by `max_response_bytes` (uncompressed: compressed answers are not asked for, and
refused if sent anyway, so a small body cannot expand past the cap).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import httpx
from pydantic_core import from_json

from oratio.agent.tools.base import ToolContext, ToolSpec
from oratio.agent.tools.egress import EgressRefused
from oratio.agent.tools.egress_policy import tool_url_refusal
from oratio.agent.tools.invocation import ToolError, ToolTimeoutError, current_tool_use_id
from oratio.config.tenant import BusinessTool

logger = logging.getLogger(__name__)

TENANT_HEADER = "X-Oratio-Tenant"
AGENT_HEADER = "X-Oratio-Agent"
SESSION_HEADER = "X-Oratio-Session"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "Oratio-Agent/1"
IDENTITY = "identity"


def idempotency_key(tenant_id: str, session_id: str, tool_name: str, tool_use_id: str) -> str:
    """A stable key for one tool call: the same call retried gets the same key, different calls never do."""
    material = "\x1f".join((tenant_id, session_id, tool_name, tool_use_id))
    return hashlib.sha256(material.encode()).hexdigest()[:48]


def _query_params(arguments: dict[str, Any]) -> dict[str, str | list[str]]:
    """GET arguments as query parameters: scalars as text, lists repeated, nested objects as JSON text."""
    params: dict[str, str | list[str]] = {}
    for key, value in arguments.items():
        if value is None:
            continue
        if isinstance(value, list):
            params[key] = [_scalar(v) for v in value]
        else:
            params[key] = _scalar(value)
    return params


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


class HttpBusinessTool:
    """Calls a tenant's HTTPS endpoint (POST JSON or GET with query parameters) and returns its JSON."""

    def __init__(self, config: BusinessTool, client: httpx.AsyncClient) -> None:
        self._config = config
        self._client = client
        self.spec = ToolSpec(
            name=config.name,
            description=config.description,
            input_schema=config.input_schema,
            writes=config.writes,
            timeout_seconds=config.timeout_seconds,
        )

    def _headers(self, context: ToolContext) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": IDENTITY,
            "User-Agent": USER_AGENT,
            TENANT_HEADER: context.tenant_id,
            AGENT_HEADER: context.agent_id,
            SESSION_HEADER: context.session_id,
        }
        if self._config.writes:
            tool_use_id = current_tool_use_id()
            if tool_use_id is None:
                raise ToolError(f"{self._config.name} changes data and needs a tool-use id; run it via the executor")
            headers[IDEMPOTENCY_HEADER] = idempotency_key(
                context.tenant_id, context.session_id, self._config.name, tool_use_id
            )
        return headers

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        config = self._config
        name = config.name
        refusal = tool_url_refusal(str(config.url))
        if refusal is not None:
            logger.warning("business tool refused by the egress policy", extra={"tool": name, "reason": refusal})
            raise ToolError(f"{name} is not allowed to call its URL: {refusal}")
        request_args: dict[str, Any] = {"headers": self._headers(context)}
        if config.method == "GET":
            request_args["params"] = _query_params(arguments)
        else:
            request_args["json"] = arguments
        try:
            # One deadline for the whole call: httpx's timeout is per operation, so a server dripping a byte at a
            # time would otherwise hold the tool for as long as it liked.
            async with asyncio.timeout(config.timeout_seconds):
                body = await self._exchange(config.method, str(config.url), request_args)
        except (TimeoutError, httpx.TimeoutException) as e:
            raise ToolTimeoutError(f"{name} did not answer within {config.timeout_seconds:g} s") from e
        except EgressRefused as e:
            logger.warning("business tool refused by the egress guard", extra={"tool": name, "reason": str(e)})
            raise ToolError(f"{name} is not allowed to call its URL: {e}") from e
        except httpx.HTTPError as e:
            logger.warning("business tool unreachable", extra={"tool": name, "error": type(e).__name__})
            raise ToolError(f"{name} could not reach the business system ({type(e).__name__})") from e
        try:
            data = from_json(body)  # refuses nesting past its recursion limit instead of exhausting the stack
        except ValueError as e:
            raise ToolError(f"{name} failed: the business system did not answer with JSON") from e
        # Converse tool results must be JSON objects; an array or scalar answer is wrapped.
        return data if isinstance(data, dict) else {"result": data}

    async def _exchange(self, method: str, url: str, request_args: dict[str, Any]) -> bytes:
        name = self._config.name
        async with self._client.stream(
            method,
            url,
            timeout=httpx.Timeout(self._config.timeout_seconds),
            follow_redirects=False,
            **request_args,
        ) as response:
            if not response.is_success:
                raise ToolError(f"{name} failed: the business system answered HTTP {response.status_code}")
            encoding = response.headers.get("Content-Encoding", IDENTITY).strip().lower()
            if encoding != IDENTITY:
                raise ToolError(f"{name} failed: the business system sent {encoding!r}-encoded data, not asked for")
            return await self._read_limited(response)

    async def _read_limited(self, response: httpx.Response) -> bytes:
        """The body, read in chunks and abandoned as soon as it passes `max_response_bytes`."""
        limit = self._config.max_response_bytes
        too_large = ToolError(f"{self._config.name} failed: the response is larger than {limit} bytes")
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.aiter_bytes():  # identity-encoded (checked): nothing to expand
            received += len(chunk)
            if received > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)
