"""The typed client every channel uses to call the tenant agent (the `AgentClient` port).

`AgentCoreAgentClient` invokes the deployed runtime with boto3 `bedrock-agentcore` `invoke_agent_runtime`;
`HttpAgentClient` posts to the same app served locally (`python -m agentcore.tenant_agent`). Both send
an `InvocationRequest`, parse the server-sent-event reply into `ReplyEvent`s as it arrives, and raise
`AgentClientError` subclasses that say whether trying again may help.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Protocol

import boto3  # noqa: TID251 - this module is the AgentCore adapter behind the AgentClient port
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError

from oratio.agent.contracts import ErrorEvent, InvocationRequest, ReplyEvent, TextChunk

logger = logging.getLogger(__name__)

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
# InvokeAgentRuntime's runtimeSessionId must be 33-256 characters long.
MIN_SESSION_ID_CHARS = 33
MAX_SESSION_ID_CHARS = 256
DEFAULT_QUALIFIER = "DEFAULT"
LOCAL_BASE_URL = "http://127.0.0.1:8080"
EVENT_STREAM = "text/event-stream"

# A turn streams its first event within the turn deadline (8 s by default, 120 s at most): the read
# timeout bounds the gap between two events, not the whole turn.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 30.0

_EVENTS: TypeAdapter[ReplyEvent] = TypeAdapter(ReplyEvent)

_THROTTLED_CODES = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"})
# 4xx codes where trying again may help: the agent itself failed (424), or a conflicting call was in flight.
_UNAVAILABLE_CODES = frozenset({"RuntimeClientError", "RetryableConflictException"})


# ----------------------------------------------------------------------------------------- errors
class AgentClientError(Exception):
    """Invoking the tenant agent failed. `retryable` says whether the same call may succeed later."""

    retryable = False


class AgentUnavailableError(AgentClientError):
    """The runtime or the agent in it is down, failing, or too slow (5xx, 424, timeouts, broken stream)."""

    retryable = True


class AgentThrottledError(AgentClientError):
    """Too many requests for the runtime or the account's quota: back off and retry."""

    retryable = True


class AgentRequestError(AgentClientError):
    """The request itself is wrong (invalid payload, unknown runtime, access denied): don't retry it."""


# What the reader thread hands the event loop: an event, the error that ended the call, or None (done).
_Item = ReplyEvent | AgentClientError | None


# ------------------------------------------------------------------------------------------- port
class AgentClient(Protocol):
    """Invoke the tenant agent for one turn."""

    def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        """Stream the turn's events in order (`TurnComplete` last); raise `AgentClientError` subclasses."""
        ...

    async def reply_text(self, request: InvocationRequest, session_id: str) -> str:
        """The turn's reply as one text (see `reply_text_of`)."""
        ...


async def reply_text_of(events: AsyncIterator[ReplyEvent]) -> str:
    """Join a turn's text chunks; a turn that failed without text gives its `ErrorEvent` message, which
    is written to be spoken, so a voice caller never hears silence."""
    texts: list[str] = []
    error: ErrorEvent | None = None
    async for event in events:
        if isinstance(event, TextChunk) and event.text.strip():
            texts.append(event.text.strip())
        elif isinstance(event, ErrorEvent) and error is None:
            error = event
    if not texts and error is not None:
        return error.message
    return " ".join(texts)


def runtime_session_id(session_id: str) -> str:
    """`session_id` as AgentCore accepts it: ids shorter than 33 characters get a suffix derived from the
    id itself, so the same conversation always lands on the same runtime session."""
    session_id = session_id.strip()
    if not session_id:
        raise AgentRequestError("session_id must not be empty")
    if len(session_id) > MAX_SESSION_ID_CHARS:
        raise AgentRequestError(f"session_id is {len(session_id)} characters; AgentCore allows {MAX_SESSION_ID_CHARS}")
    if len(session_id) >= MIN_SESSION_ID_CHARS:
        return session_id
    return f"{session_id}-{hashlib.sha256(session_id.encode()).hexdigest()[:32]}"


def _payload(request: InvocationRequest) -> bytes:
    return request.model_dump_json(exclude_none=True).encode()


# ------------------------------------------------------------------------------- SSE parsing
class SseParser:
    """Incremental `text/event-stream` parser: feed lines, get each event's `data` when a blank line ends
    it. Comments (`:`) and other fields (`event:`, `id:`, `retry:`) are ignored; multi-line data is joined
    with newlines, as the SSE specification says."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def close(self) -> str | None:
        """The last event, if the stream ended without its blank line."""
        return self._flush()

    def _flush(self) -> str | None:
        if not self._data:
            return None
        data, self._data = "\n".join(self._data), []
        return data


def parse_event(data: str) -> ReplyEvent:
    """One SSE `data` payload as a `ReplyEvent`; anything else means the agent broke the contract."""
    try:
        return _EVENTS.validate_json(data)
    except ValidationError as e:
        raise AgentUnavailableError("the agent sent an event that is not a ReplyEvent") from e


def _events_from_lines(lines: Iterable[str], parser: SseParser) -> Iterator[ReplyEvent]:
    for line in lines:
        data = parser.feed(line)
        if data is not None:
            yield parse_event(data)


def _error_for_status(status: int, body: bytes) -> AgentClientError:
    """The agent app answered with an error status; its body is an `ErrorEvent` when the app wrote it."""
    try:
        message = ErrorEvent.model_validate_json(body).message
    except ValidationError:
        message = f"the agent answered HTTP {status}"
    if status == 429:
        return AgentThrottledError(message)
    if 400 <= status < 500:
        return AgentRequestError(message)
    return AgentUnavailableError(message)


# ------------------------------------------------------------------------------ AgentCore client
class AgentCoreAgentClient:
    """`AgentClient` over the deployed runtime (`bedrock-agentcore` InvokeAgentRuntime).

    boto3 blocks, so the call and the reading of its streaming body run on a thread of their own and hand
    events to the event loop through an `asyncio.Queue`; the loop never waits on the network.
    """

    def __init__(
        self,
        runtime_arn: str,
        qualifier: str = DEFAULT_QUALIFIER,
        client: Any | None = None,
        *,
        config: Config | None = None,
    ) -> None:
        self.runtime_arn = runtime_arn
        self.qualifier = qualifier
        if client is None:
            region = runtime_arn.split(":")[3] if runtime_arn.count(":") >= 5 else None
            client = boto3.client("bedrock-agentcore", region_name=region or None, config=config or default_config())
        self._client = client

    async def reply_text(self, request: InvocationRequest, session_id: str) -> str:
        return await reply_text_of(self.invoke(request, session_id))

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        params = {
            "agentRuntimeArn": self.runtime_arn,
            "qualifier": self.qualifier,
            "runtimeSessionId": runtime_session_id(session_id),
            "contentType": "application/json",
            "accept": EVENT_STREAM,
            "payload": _payload(request),
        }
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()
        body: list[Any] = []  # the streaming body, once the call returned; closed to unblock a read
        reader = threading.Thread(
            target=self._read,
            args=(params, loop, queue, stop, body),
            name="agentcore-invoke",
            daemon=True,
        )
        reader.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, AgentClientError):
                    raise item
                yield item
        finally:
            stop.set()
            for stream in body:
                stream.close()

    def _read(
        self,
        params: dict[str, Any],
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[_Item],
        stop: threading.Event,
        body: list[Any],
    ) -> None:
        """Runs on the reader thread: call, then parse the body line by line into events for the loop."""

        def put(item: _Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed: nobody is waiting any more
                stop.set()

        try:
            response = self._client.invoke_agent_runtime(**params)
            stream = response["response"]
            body.append(stream)
            status = int(response.get("statusCode", 200))
            content_type = str(response.get("contentType", EVENT_STREAM))
            if status >= 400:
                put(_error_for_status(status, stream.read()))
            elif content_type.startswith("application/json"):
                put(parse_event(stream.read().decode()))
            else:
                parser = SseParser()
                lines = (raw.decode() for raw in stream.iter_lines(keepends=True))
                for event in _events_from_lines(lines, parser):
                    if stop.is_set():
                        return
                    put(event)
                last = parser.close()
                if last is not None:
                    put(parse_event(last))
            put(None)
        except ClientError as e:
            put(_translate_client_error(e))
        except BotoCoreError as e:
            put(AgentUnavailableError(f"could not reach the agent runtime ({type(e).__name__})"))
            logger.warning("agent runtime call failed: %s", e)
        except AgentClientError as e:
            put(e)
        except Exception as e:  # a closed body mid-read after the consumer left, or a bug: never hang the turn
            if not stop.is_set():
                logger.exception("reading the agent's reply failed")
                error = AgentUnavailableError("reading the agent's reply failed")
                error.__cause__ = e
                put(error)
        finally:
            if stop.is_set():  # the consumer left before the body was read to the end
                for stream in body:
                    stream.close()


def default_config() -> Config:
    """Explicit timeouts, and no automatic retry: a turn is not idempotent (tools may have run), and the
    callers (voice bridge, code hook) have their own fallback and circuit breaker."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": 1},
    )


def _translate_client_error(error: ClientError) -> AgentClientError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    message = f"agent runtime call failed: {code or 'unknown error'}"
    translated: AgentClientError
    if code in _THROTTLED_CODES or status == 429:
        translated = AgentThrottledError(message)
    elif code in _UNAVAILABLE_CODES or not 400 <= status < 500:
        translated = AgentUnavailableError(message)
    else:  # the service's own validation, access and not-found errors, or the agent app's 4xx answer
        translated = AgentRequestError(message)
    translated.__cause__ = error
    return translated


# ---------------------------------------------------------------------------------- local client
class HttpAgentClient:
    """`AgentClient` over HTTP to the app served locally (or any `/invocations` endpoint without SigV4)."""

    def __init__(
        self,
        base_url: str = LOCAL_BASE_URL,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._client = client or httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout or httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        )

    async def __aenter__(self) -> HttpAgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def reply_text(self, request: InvocationRequest, session_id: str) -> str:
        return await reply_text_of(self.invoke(request, session_id))

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        headers = {
            SESSION_HEADER: runtime_session_id(session_id),
            "Content-Type": "application/json",
            "Accept": EVENT_STREAM,
        }
        try:
            async with self._client.stream("POST", "/invocations", content=_payload(request), headers=headers) as resp:
                if resp.status_code >= 400:
                    raise _error_for_status(resp.status_code, await resp.aread())
                if resp.headers.get("content-type", "").startswith("application/json"):
                    yield parse_event((await resp.aread()).decode())
                    return
                parser = SseParser()
                async for line in resp.aiter_lines():
                    data = parser.feed(line)
                    if data is not None:
                        yield parse_event(data)
                last = parser.close()
                if last is not None:
                    yield parse_event(last)
        except httpx.TimeoutException as e:
            raise AgentUnavailableError("the agent did not answer in time") from e
        except httpx.TransportError as e:
            raise AgentUnavailableError(f"could not reach the agent at {self._client.base_url}") from e
