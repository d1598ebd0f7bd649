"""The Bedrock stage model's Converse requests, validated by botocore's Stubber against the bedrock-runtime model:
one tool with the stage's output schema, forced by toolChoice; throttling retried with backoff; usage recorded."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from oratio.agent_creator.adapters.bedrock_model import BedrockStageModel
from oratio.agent_creator.jobs import StageName
from oratio.agent_creator.model_port import (
    Backoff,
    StageModelRequestError,
    StageOutputInvalidError,
    StageRequest,
)
from oratio.agent_creator.outputs import ModelCodeReview

REQUEST = StageRequest(stage=StageName.CODE_REVIEWER, instructions="Review it.", inputs={"agent_py": "SPEC = 1"},
                       model_id="claude-haiku-4-5")  # fmt: skip


def _response(tool_input: dict[str, Any], name: str = "code_reviewer_output") -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t1", "name": name, "input": tool_input}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1200, "outputTokens": 80, "totalTokens": 1280},
        "metrics": {"latencyMs": 900},
    }  # fmt: skip


def _model(sleeps: list[float]) -> tuple[BedrockStageModel, Stubber]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    backoff = Backoff(attempts=3, sleep=sleeps.append, jitter=lambda low, high: high)
    return BedrockStageModel(client=client, backoff=backoff), Stubber(client)


def test_a_stage_call_forces_the_output_tool_and_returns_the_validated_output_with_usage() -> None:
    sleeps: list[float] = []
    model, stub = _model(sleeps)
    expected = {
        "modelId": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "system": [{"text": "Review it."}],
        "messages": [{"role": "user", "content": [{"text": '{"agent_py": "SPEC = 1"}'}]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "code_reviewer_output", "description": ANY,
                                               "inputSchema": {"json": ModelCodeReview.model_json_schema()}}}],
                       "toolChoice": {"tool": {"name": "code_reviewer_output"}}},
        "inferenceConfig": ANY,
    }  # fmt: skip
    stub.add_response("converse", _response({"verdict": "approve", "reasons": ["fine"]}), expected)
    with stub:
        answer = model.answer(REQUEST, ModelCodeReview)
    assert answer.output == ModelCodeReview(verdict="approve", reasons=("fine",))
    assert (answer.usage.model_id, answer.usage.input_tokens, answer.usage.output_tokens) == (
        "claude-haiku-4-5",
        1200,
        80,
    )
    stub.assert_no_pending_responses()


def test_throttling_is_retried_with_growing_backoff_then_answered() -> None:
    sleeps: list[float] = []
    model, stub = _model(sleeps)
    stub.add_client_error("converse", "ThrottlingException", http_status_code=429)
    stub.add_client_error("converse", "ThrottlingException", http_status_code=429)
    stub.add_response("converse", _response({"verdict": "reject", "reasons": ["no greeting"]}))
    with stub:
        answer = model.answer(REQUEST, ModelCodeReview)
    assert answer.output.verdict == "reject"
    assert sleeps == [0.5, 1.0]


def test_an_access_error_is_not_retried() -> None:
    sleeps: list[float] = []
    model, stub = _model(sleeps)
    stub.add_client_error("converse", "AccessDeniedException", http_status_code=403)
    with stub, pytest.raises(StageModelRequestError):
        model.answer(REQUEST, ModelCodeReview)
    assert sleeps == []


@pytest.mark.parametrize(
    "response",
    [_response({"verdict": "maybe"}), _response({"verdict": "approve"}, name="other_tool")],
)
def test_an_answer_outside_the_schema_is_an_invalid_output(response: dict[str, Any]) -> None:
    model, stub = _model([])
    stub.add_response("converse", response)
    with stub, pytest.raises(StageOutputInvalidError):
        model.answer(REQUEST, ModelCodeReview)
