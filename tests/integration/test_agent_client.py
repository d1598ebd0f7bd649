"""The typed agent clients (`agentcore/tenant_agent/client.py`): `AgentCoreAgentClient` against a botocore
`Stubber` (moto has no `invoke_agent_runtime`), and `HttpAgentClient` against the real runtime app with a
fake engine, in process and over a uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from agentcore.tenant_agent import app as app_module
from agentcore.tenant_agent import wiring
from agentcore.tenant_agent.client import (
    AgentCoreAgentClient,
    AgentRequestError,
    AgentThrottledError,
    AgentUnavailableError,
    HttpAgentClient,
    runtime_session_id,
)
from oratio.agent.contracts import (
    Acknowledgement,
    CustomerIdentity,
    ErrorEvent,
    InvocationRequest,
    ReplyEvent,
    TextChunk,
    TurnComplete,
    UserMessage,
)
from oratio.config.tenant import Channel
from oratio_local.agent_server import serve_on_loopback

REGION = "us-east-1"
RUNTIME_ARN = f"arn:aws:bedrock-agentcore:{REGION}:111122223333:runtime/oratio_cozy_comfort-AbCdEf1234"
CALL_SESSION = "contact-5f0c8a2e-2b1d-4d6e-9c1a-7a3e5b9d0f12"

REQUEST = InvocationRequest(
    tenant_id="cozy-comfort",
    agent_id="front-desk",
    channel=Channel.VOICE,
    customer=CustomerIdentity(kind="phone", value="+15551234567"),
    input=UserMessage(text="Do you have king size duvets?"),
)
REPLY: list[ReplyEvent] = [
    Acknowledgement(text="Let me check that for you.", reason="tools"),
    TextChunk(text="Yes, we have king size duvets."),
    TextChunk(text="They start at $129."),
    TurnComplete(
        session_id=CALL_SESSION, model_id="nova-lite", routing_reason="simple", role="greeter", qualification_score=0.1
    ),
]


def sse(events: list[ReplyEvent]) -> bytes:
    return "".join(f"data: {json.dumps(e.model_dump(mode='json'))}\n\n" for e in events).encode()


def collect(events: AsyncIterator[ReplyEvent]) -> list[ReplyEvent]:
    async def run() -> list[ReplyEvent]:
        return [event async for event in events]

    return asyncio.run(run())


# ------------------------------------------------------------------------------ AgentCore client
@pytest.fixture
def agentcore(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("bedrock-agentcore", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expected_params(session: str = CALL_SESSION) -> dict[str, Any]:
    return {
        "agentRuntimeArn": RUNTIME_ARN,
        "qualifier": "DEFAULT",
        "runtimeSessionId": session,
        "contentType": "application/json",
        "accept": "text/event-stream",
        "payload": REQUEST.model_dump_json(exclude_none=True).encode(),
    }


def streamed(body: bytes, *, status: int = 200, content_type: str = "text/event-stream") -> dict[str, Any]:
    return {
        "response": StreamingBody(io.BytesIO(body), len(body)),
        "contentType": content_type,
        "statusCode": status,
        "runtimeSessionId": CALL_SESSION,
    }


def test_agentcore_client_sends_the_request_and_parses_the_event_stream(agentcore: tuple[Any, Stubber]) -> None:
    client, stubber = agentcore
    stubber.add_response("invoke_agent_runtime", streamed(sse(REPLY)), expected_params())

    events = collect(AgentCoreAgentClient(RUNTIME_ARN, client=client).invoke(REQUEST, CALL_SESSION))

    assert events == REPLY


def test_agentcore_client_reads_events_split_across_lines_and_without_a_final_blank_line(
    agentcore: tuple[Any, Stubber],
) -> None:
    client, stubber = agentcore
    # SSE allows one event's data over several lines, comments, CRLF, and a last event without its blank line.
    body = (
        b": keep-alive\r\n\r\n"
        b'data: {"type": "text",\r\ndata:  "text": "Hello there."}\r\n\r\n'
        b'data: {"type":"error","code":"turn_failed","message":"Sorry."}'
    )
    stubber.add_response("invoke_agent_runtime", streamed(body), expected_params())

    events = collect(AgentCoreAgentClient(RUNTIME_ARN, client=client).invoke(REQUEST, CALL_SESSION))

    assert events == [TextChunk(text="Hello there."), ErrorEvent(code="turn_failed", message="Sorry.")]


def test_agentcore_client_pads_short_session_ids_to_the_api_minimum_the_same_way_each_time(
    agentcore: tuple[Any, Stubber],
) -> None:
    client, stubber = agentcore
    padded = runtime_session_id("chat-42")
    stubber.add_response("invoke_agent_runtime", streamed(sse(REPLY)), expected_params(padded))

    collect(AgentCoreAgentClient(RUNTIME_ARN, client=client).invoke(REQUEST, "chat-42"))

    assert padded.startswith("chat-42-")
    assert len(padded) >= 33
    assert runtime_session_id("chat-42") == padded
    assert runtime_session_id("chat-43") != padded
    assert runtime_session_id(CALL_SESSION) == CALL_SESSION


@pytest.mark.parametrize("session", ["", "   ", "x" * 257])
def test_session_ids_the_api_cannot_take_are_rejected_before_any_call(session: str) -> None:
    with pytest.raises(AgentRequestError):
        runtime_session_id(session)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ThrottlingException", 429, AgentThrottledError),
        ("ServiceQuotaExceededException", 402, AgentThrottledError),
        ("RuntimeClientError", 424, AgentUnavailableError),
        ("InternalServerException", 500, AgentUnavailableError),
        ("ValidationException", 400, AgentRequestError),
        ("AccessDeniedException", 403, AgentRequestError),
        ("ResourceNotFoundException", 404, AgentRequestError),
        ("RetryableConflictException", 409, AgentUnavailableError),
        # An unmodelled 4xx, such as the agent app's own 400 answer relayed by the service.
        ("invalid_request", 400, AgentRequestError),
    ],
)
def test_agentcore_client_errors_say_whether_retrying_may_help(
    agentcore: tuple[Any, Stubber], code: str, status: int, error: type[Exception]
) -> None:
    client, stubber = agentcore
    stubber.add_client_error(
        "invoke_agent_runtime", service_error_code=code, http_status_code=status, expected_params=expected_params()
    )

    with pytest.raises(error) as raised:
        collect(AgentCoreAgentClient(RUNTIME_ARN, client=client).invoke(REQUEST, CALL_SESSION))

    assert isinstance(raised.value.__cause__, ClientError)
    assert raised.value.retryable is (error is not AgentRequestError)


def test_agentcore_client_turns_the_apps_400_into_a_request_error_with_its_message(
    agentcore: tuple[Any, Stubber],
) -> None:
    client, stubber = agentcore
    body = ErrorEvent(code="invalid_request", message="Invalid request: tenant_id: Field required")
    stubber.add_response(
        "invoke_agent_runtime",
        streamed(body.model_dump_json().encode(), status=400, content_type="application/json"),
        expected_params(),
    )

    with pytest.raises(AgentRequestError, match="tenant_id: Field required"):
        collect(AgentCoreAgentClient(RUNTIME_ARN, client=client).invoke(REQUEST, CALL_SESSION))


def test_agentcore_client_rejects_an_event_outside_the_contract(agentcore: tuple[Any, Stubber]) -> None:
    client, stubber = agentcore
    # What the SDK itself would stream if the app let an exception escape.
    body = b'data: {"error": "boom", "error_type": "RuntimeError", "message": "An error occurred"}\n\n'
    stubber.add_response("invoke_agent_runtime", streamed(body), expected_params())

    with pytest.raises(AgentUnavailableError, match="not a ReplyEvent"):
        collect(AgentCoreAgentClient(RUNTIME_ARN, client=client).invoke(REQUEST, CALL_SESSION))


def test_reply_text_joins_the_spoken_text_of_a_turn(agentcore: tuple[Any, Stubber]) -> None:
    client, stubber = agentcore
    stubber.add_response("invoke_agent_runtime", streamed(sse(REPLY)), expected_params())

    text = asyncio.run(AgentCoreAgentClient(RUNTIME_ARN, client=client).reply_text(REQUEST, CALL_SESSION))

    assert text == "Yes, we have king size duvets. They start at $129."


def test_agentcore_client_stops_reading_when_the_caller_stops_listening(agentcore: tuple[Any, Stubber]) -> None:
    client, stubber = agentcore
    stream = streamed(sse(REPLY))
    stubber.add_response("invoke_agent_runtime", stream, expected_params())

    async def first_only() -> ReplyEvent:
        events = AgentCoreAgentClient(RUNTIME_ARN, client=client).invoke(REQUEST, CALL_SESSION)
        first = await anext(events)
        await events.aclose()  # type: ignore[attr-defined]
        return first

    assert asyncio.run(first_only()) == REPLY[0]
    assert stream["response"]._raw_stream.closed


# ----------------------------------------------------------------------------------- HTTP client
class FakeEngine:
    def __init__(self) -> None:
        self.sessions: list[str] = []

    async def handle(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        self.sessions.append(session_id)
        for event in REPLY[:-1]:
            yield event
        yield REPLY[-1].model_copy(update={"session_id": session_id})


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    app_module.set_engine(fake)
    yield fake
    app_module.set_engine(None, factory=wiring.build_engine)


def in_process_client() -> HttpAgentClient:
    transport = httpx.ASGITransport(app=app_module.app)
    return HttpAgentClient(client=httpx.AsyncClient(transport=transport, base_url="http://agent"))


def test_http_client_streams_the_turn_and_sends_the_session_header(engine: FakeEngine) -> None:
    async def run() -> list[ReplyEvent]:
        async with in_process_client() as agent:
            return [event async for event in agent.invoke(REQUEST, CALL_SESSION)]

    events = asyncio.run(run())

    assert events == REPLY
    assert engine.sessions == [CALL_SESSION]


def test_http_client_reports_an_invalid_request_with_the_apps_message(engine: FakeEngine) -> None:
    bad = InvocationRequest.model_construct(**{**REQUEST.__dict__, "tenant_id": "x"})

    async def run() -> list[ReplyEvent]:
        async with in_process_client() as agent:
            return [event async for event in agent.invoke(bad, CALL_SESSION)]

    with pytest.raises(AgentRequestError, match="tenant_id"):
        asyncio.run(run())
    assert engine.sessions == []


@pytest.fixture
def served_app(engine: FakeEngine) -> Iterator[str]:
    """The runtime app on a real uvicorn server on 127.0.0.1, on a port the OS picks."""
    with serve_on_loopback(app_module.app) as base_url:
        yield base_url


def test_http_client_against_the_served_app_on_loopback(served_app: str, engine: FakeEngine) -> None:
    async def run() -> str:
        async with HttpAgentClient(served_app) as agent:
            return await agent.reply_text(REQUEST, "chat-42")

    assert asyncio.run(run()) == "Yes, we have king size duvets. They start at $129."
    assert engine.sessions == [runtime_session_id("chat-42")]


def test_http_client_says_the_agent_is_unavailable_when_nothing_listens() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, closed again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def run() -> list[ReplyEvent]:
        async with HttpAgentClient(f"http://127.0.0.1:{port}") as agent:
            return [event async for event in agent.invoke(REQUEST, CALL_SESSION)]

    with pytest.raises(AgentUnavailableError) as raised:
        asyncio.run(run())
    assert isinstance(raised.value.__cause__, httpx.TransportError)
