"""The Bedrock Converse adapter: requests match botocore's service model; AWS errors map to ModelErrors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from oratio.adapters.bedrock_model import BedrockConverseModel
from oratio.agent.ports import (
    ConversationTurn,
    ModelError,
    ModelRequestError,
    ModelThrottledError,
    ModelTimeoutError,
    ModelUnavailableError,
)
from oratio.agent.prompt import PromptBuilder
from oratio.agent_definitions.merge import resolve
from oratio.agent_definitions.model import AgentOverrides
from oratio.config.catalog import load_model_catalog
from oratio.config.tenant import Channel, load_tenant_file

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
TOOLS = [
    {
        "toolSpec": {
            "name": "knowledge_search",
            "description": "Search the product catalogue and policies.",
            "inputSchema": {"json": {"type": "object", "properties": {"query": {"type": "string"}}}},
        }
    }
]


def input_shape() -> Any:
    session = botocore.session.get_session()
    return session.get_service_model("bedrock-runtime").operation_model("ConverseStream").input_shape


def build_request(model_id: str, thinking: int, with_tool_round: bool = False) -> dict[str, Any]:
    # An agent whose facts make the static prompt long enough (~4,800 tokens) for every model's cache minimum.
    builder = PromptBuilder(
        resolve(TENANT, "agt-1", AgentOverrides(facts={f"fact_{i:02d}": "x" * 480 for i in range(40)}))
    )
    model = load_model_catalog().model(model_id)
    history = [ConversationTurn(role="user", text="Hi", at=NOW, channel="voice")]
    messages = builder.messages(history, "Do you have king duvets?")
    if with_tool_round:
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "look it up", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t1", "name": "knowledge_search", "input": {"query": "king duvet"}}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"json": {"hits": 2}}], "status": "success"}}
                ],
            }
        )
    system = builder.system_blocks(
        builder.static_system_text(Channel.VOICE),
        builder.dynamic_system_text(role="greeter", role_instructions="Greet.", customer=None, now=NOW),
        model,
        TOOLS,
    )
    return builder.request(
        model=model, system=system, messages=messages, tool_specs=TOOLS, voice=True, thinking_budget_tokens=thinking
    )


@pytest.mark.parametrize(
    ("model_id", "thinking", "with_tool_round"),
    [("claude-haiku-4-5", 2048, True), ("claude-sonnet-4-5", 0, False), ("nova-micro", 0, True)],
)
def test_prompt_builder_requests_are_valid_converse_stream_input(
    model_id: str, thinking: int, with_tool_round: bool
) -> None:
    request = build_request(model_id, thinking, with_tool_round)

    validate_parameters(request, input_shape())  # raises ParamValidationError on any shape mistake

    assert {"cachePoint": {"type": "default"}} in request["system"]


def stubbed_model(aws_env: None, code: str) -> BedrockConverseModel:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("converse_stream", service_error_code=code, service_message="secret AWS detail")
    stubber.activate()
    return BedrockConverseModel(client_factory=lambda: client)


async def drain(model: BedrockConverseModel, request: dict[str, Any]) -> list[dict[str, Any]]:
    return [event async for event in model.converse_stream(request)]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", ModelThrottledError),
        ("ModelTimeoutException", ModelTimeoutError),
        ("ServiceUnavailableException", ModelUnavailableError),
        ("InternalServerException", ModelUnavailableError),
        ("ModelNotReadyException", ModelUnavailableError),
        ("ValidationException", ModelRequestError),
        ("AccessDeniedException", ModelRequestError),
        ("ResourceNotFoundException", ModelRequestError),
    ],
)
def test_bedrock_errors_become_typed_model_errors(aws_env: None, code: str, expected: type[ModelError]) -> None:
    model = stubbed_model(aws_env, code)

    with pytest.raises(expected) as raised:
        asyncio.run(drain(model, build_request("nova-micro", 0)))

    assert "secret AWS detail" not in str(raised.value)
    assert raised.value.__cause__ is not None
    assert raised.value.retryable is (expected is not ModelRequestError)


class FakeStream:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.closed = False

    def __iter__(self) -> Any:
        return iter(self.events)

    def close(self) -> None:
        self.closed = True


class FakeClient:
    def __init__(self, stream: FakeStream | None = None, error: Exception | None = None) -> None:
        self.stream, self.error = stream, error
        self.calls: list[dict[str, Any]] = []

    def converse_stream(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"stream": self.stream}


def test_stream_events_pass_through_from_the_worker_thread() -> None:
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4}}},
    ]
    stream = FakeStream(events)
    client = FakeClient(stream)
    model = BedrockConverseModel(client_factory=lambda: client)

    assert asyncio.run(drain(model, {"modelId": "m", "messages": []})) == events
    assert client.calls == [{"modelId": "m", "messages": []}]
    assert stream.closed


def test_in_stream_throttling_event_raises_throttled() -> None:
    stream = FakeStream([{"messageStart": {"role": "assistant"}}, {"throttlingException": {"message": "x"}}])
    model = BedrockConverseModel(client_factory=lambda: FakeClient(stream))

    with pytest.raises(ModelThrottledError):
        asyncio.run(drain(model, {}))


def test_read_timeout_becomes_model_timeout() -> None:
    model = BedrockConverseModel(client_factory=lambda: FakeClient(error=ReadTimeoutError(endpoint_url="https://x")))

    with pytest.raises(ModelTimeoutError):
        asyncio.run(drain(model, {}))
