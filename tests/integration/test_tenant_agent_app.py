"""The tenant agent runtime's HTTP contract (`agentcore/tenant_agent/app.py`), with a fake `TurnEngine`:
what a caller on AgentCore Runtime sees on `/ping` and `/invocations`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from agentcore.tenant_agent import app as app_module
from agentcore.tenant_agent import wiring
from oratio.agent.contracts import (
    Acknowledgement,
    ErrorEvent,
    InvocationRequest,
    ReplyEvent,
    TextChunk,
    ToolActivity,
    TurnComplete,
)

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
CALL_SESSION = "contact-5f0c8a2e-2b1d-4d6e-9c1a-7a3e5b9d0f12"
SECRET = "password=hunter2 at db.internal:5432"


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": "cozy-comfort",
        "agent_id": "front-desk",
        "channel": "voice",
        "customer": {"kind": "phone", "value": "+15551234567"},
        "input": {"kind": "message", "text": "Do you have king size duvets?"},
    }
    body.update(overrides)
    return body


def done(session_id: str) -> TurnComplete:
    return TurnComplete(
        session_id=session_id,
        model_id="nova-lite",
        routing_reason="simple question",
        role="greeter",
        qualification_score=0.2,
        input_tokens=120,
        output_tokens=30,
        cost_usd=0.00002,
    )


class FakeEngine:
    """Replays scripted events, then `TurnComplete`; records what it was asked; can fail or wait mid-turn."""

    def __init__(
        self,
        events: list[ReplyEvent] | None = None,
        *,
        fail_after: int | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.events = events or [
            Acknowledgement(text="Let me check that for you.", reason="tools"),
            ToolActivity(name="knowledge_search", status="ok", duration_ms=42.0),
            TextChunk(text="Yes, we have king size duvets."),
            TextChunk(text="They start at $129."),
        ]
        self.fail_after = fail_after
        self.gate = gate
        self.calls: list[tuple[InvocationRequest, str]] = []

    async def handle(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        self.calls.append((request, session_id))
        for index, event in enumerate(self.events):
            if self.fail_after is not None and index == self.fail_after:
                raise RuntimeError(SECRET)
            if self.gate is not None and index == 1:
                await asyncio.to_thread(self.gate.wait, 5)
            yield event
        yield done(session_id)


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    app_module.set_engine(fake)
    yield fake
    app_module.set_engine(None, factory=wiring.build_engine)


class AgentHttp:
    """Requests to the app in process (httpx's ASGI transport); nothing listens on a socket."""

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app_module.app), base_url="http://agent")

    async def apost(self, body: Any, session: str | None = CALL_SESSION) -> httpx.Response:
        headers = {SESSION_HEADER: session} if session else {}
        async with self.client() as http:
            return await http.post("/invocations", json=body, headers=headers)

    async def aping(self) -> str:
        async with self.client() as http:
            status: str = (await http.get("/ping")).json()["status"]
            return status

    def post(self, body: Any, session: str | None = CALL_SESSION) -> httpx.Response:
        return asyncio.run(self.apost(body, session))

    def ping(self) -> str:
        return asyncio.run(self.aping())


@pytest.fixture
def client() -> AgentHttp:
    return AgentHttp()


def sse_events(body: str) -> list[dict[str, Any]]:
    """Every SSE event of the body; each must be exactly one `data:` line holding one JSON object."""
    blocks = [block for block in body.split("\n\n") if block.strip()]
    events = []
    for block in blocks:
        lines = block.split("\n")
        assert len(lines) == 1, f"one data line per event, got {lines!r}"
        assert lines[0].startswith("data: ")
        events.append(json.loads(lines[0].removeprefix("data: ")))
    return events


def invoke(client: AgentHttp, body: Any, *, session: str | None = CALL_SESSION) -> httpx.Response:
    return client.post(body, session)


def test_ping_reports_healthy_when_no_turn_is_running(client: AgentHttp, engine: FakeEngine) -> None:
    assert client.ping() == "Healthy"


def test_turn_streams_one_event_per_data_line_in_order_with_turn_complete_last(
    client: AgentHttp, engine: FakeEngine
) -> None:
    response = invoke(client, request_body())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [e["type"] for e in events] == ["ack", "tool", "text", "text", "done"]
    assert events[2]["text"] == "Yes, we have king size duvets."
    assert events[-1]["session_id"] == CALL_SESSION
    assert events[-1]["cost_usd"] == pytest.approx(0.00002)


def test_session_comes_from_the_runtime_header_not_the_payload(client: AgentHttp, engine: FakeEngine) -> None:
    invoke(client, request_body(session_id="payload-session"), session=CALL_SESSION)

    (request, session_id), *_ = engine.calls
    assert session_id == CALL_SESSION
    assert request.input.kind == "message"
    assert request.customer is not None
    assert request.customer.key == "phone:+15551234567"


def test_payload_session_is_used_when_the_header_is_missing(client: AgentHttp, engine: FakeEngine) -> None:
    events = sse_events(invoke(client, request_body(session_id="local-chat-7"), session=None).text)

    assert engine.calls[0][1] == "local-chat-7"
    assert events[-1]["session_id"] == "local-chat-7"


def test_a_session_is_generated_and_reported_when_the_caller_sends_none(client: AgentHttp, engine: FakeEngine) -> None:
    events = sse_events(invoke(client, request_body(), session=None).text)

    generated = engine.calls[0][1]
    assert generated.startswith(app_module.GENERATED_SESSION_PREFIX)
    assert len(generated) >= 33  # usable as an AgentCore runtime session id next time
    assert events[-1] == {**events[-1], "type": "done", "session_id": generated}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            request_body(tenant_id=None) | {"input": {"kind": "message", "text": ""}},
            ["tenant_id", "input.message.text"],
        ),
        ({k: v for k, v in request_body().items() if k != "agent_id"}, ["agent_id"]),
        (request_body(channel="pigeon"), ["channel"]),
        (request_body(unexpected="x"), ["unexpected"]),
        (["not", "an", "object"], ["body"]),
    ],
)
def test_invalid_payload_gets_a_400_error_event_naming_the_fields(
    client: AgentHttp, engine: FakeEngine, body: Any, fields: list[str]
) -> None:
    response = invoke(client, body)

    assert response.status_code == 400
    error = ErrorEvent.model_validate(response.json())
    assert error.code == "invalid_request"
    for field in fields:
        assert field in error.message
    assert "Traceback" not in response.text
    assert engine.calls == []


def test_invalid_payload_does_not_echo_submitted_values(client: AgentHttp, engine: FakeEngine) -> None:
    response = invoke(client, request_body(customer={"kind": "phone", "value": "+15551234567", "pin": "4321"}))

    assert response.status_code == 400
    assert "customer.pin" in response.json()["message"]
    assert "4321" not in response.text


def test_engine_failure_mid_turn_ends_with_a_safe_error_and_turn_complete(client: AgentHttp) -> None:
    failing = FakeEngine(fail_after=2)
    app_module.set_engine(failing)
    try:
        response = invoke(client, request_body())
    finally:
        app_module.set_engine(None, factory=wiring.build_engine)

    assert response.status_code == 200
    events = sse_events(response.text)
    assert [e["type"] for e in events] == ["ack", "tool", "error", "done"]
    assert events[2] == {"type": "error", "code": "turn_failed", "message": app_module.FAILED_TURN_MESSAGE}
    assert events[3]["session_id"] == CALL_SESSION
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text


def test_engine_that_cannot_be_built_answers_unavailable_and_is_retried_next_turn(client: AgentHttp) -> None:
    attempts: list[int] = []

    def broken_factory() -> FakeEngine:
        attempts.append(1)
        raise RuntimeError(SECRET)

    app_module.set_engine(None, factory=broken_factory)
    try:
        first = sse_events(invoke(client, request_body()).text)
        second = sse_events(invoke(client, request_body()).text)
    finally:
        app_module.set_engine(None, factory=wiring.build_engine)

    assert [e["type"] for e in first] == ["error", "done"]
    assert first[0]["code"] == "agent_unavailable"
    assert SECRET not in json.dumps(first)
    assert second == first
    assert len(attempts) == 2


def test_ping_reports_healthy_busy_while_a_turn_is_streaming(client: AgentHttp) -> None:
    gate = threading.Event()
    app_module.set_engine(FakeEngine(gate=gate))

    async def ping_during_turn() -> tuple[list[str], httpx.Response]:
        turn = asyncio.create_task(client.apost(request_body()))
        statuses = [await client.aping()]
        for _ in range(500):
            if statuses[-1] == "HealthyBusy":
                break
            await asyncio.sleep(0.01)
            statuses.append(await client.aping())
        gate.set()
        return statuses, await turn

    try:
        statuses, response = asyncio.run(ping_during_turn())
    finally:
        gate.set()
        app_module.set_engine(None, factory=wiring.build_engine)

    assert statuses[-1] == "HealthyBusy"
    assert sse_events(response.text)[-1]["type"] == "done"
    assert client.ping() == "Healthy"
    assert app_module.turns_in_flight() == 0


# ------------------------------------------------------------------------------------------ wiring
def test_deployed_settings_without_tables_name_the_missing_variables() -> None:
    with pytest.raises(wiring.WiringError) as raised:
        wiring.RuntimeSettings.from_environ({wiring.ENV_TENANT_CONFIG_JSON: "{}"})

    for variable in ("ORATIO_TABLE_CONVERSATIONS", "ORATIO_TABLE_USAGE", wiring.ENV_MEMORY_ID, wiring.ENV_LOCAL_MODE):
        assert variable in str(raised.value)


def test_local_settings_need_only_the_tenant_id() -> None:
    settings = wiring.RuntimeSettings.from_environ({wiring.ENV_LOCAL_MODE: "1", wiring.ENV_TENANT_ID: "cozy-comfort"})

    assert settings.local_mode
    assert settings.tenant().tenant_id == "cozy-comfort"


def test_tenant_config_split_over_environment_variables_comes_back_whole() -> None:
    tenant = wiring.RuntimeSettings.from_environ(
        {wiring.ENV_LOCAL_MODE: "1", wiring.ENV_TENANT_ID: "cozy-comfort"}
    ).tenant()
    policies = tenant.business.policies.model_copy(update={"returns": ("Retours acceptés " * 300).strip()})
    big = tenant.model_copy(update={"business": tenant.business.model_copy(update={"policies": policies})})

    parts = wiring.split_tenant_config(big)
    settings = wiring.RuntimeSettings.from_environ({**parts, wiring.ENV_LOCAL_MODE: "1"})

    assert len(parts) > 2
    assert all(len(part) <= wiring.ENV_VALUE_MAX_CHARS and part.isascii() for part in parts.values())
    assert settings.tenant() == big


def test_the_server_listens_on_loopback_unless_told_otherwise() -> None:
    assert wiring.ServerSettings.from_environ({}) == wiring.ServerSettings(host="127.0.0.1", port=8080)
    assert wiring.ServerSettings.from_environ({wiring.ENV_PORT: "9001"}).port == 9001
