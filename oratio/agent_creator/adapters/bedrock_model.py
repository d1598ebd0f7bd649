"""`BedrockStageModel`: AgentCreator's `StageModel` over Amazon Bedrock's Converse API with structured output.

Each stage call offers exactly one tool whose input schema is the stage's output schema and forces it with
`toolChoice`, so the answer arrives as the tool's JSON input, which is validated as the stage's output model.
botocore's own retries are off; `Backoff` retries throttling and unavailability with jittered backoff.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oratio.agent_creator.model_port import (
    Backoff,
    StageAnswer,
    StageModelError,
    StageModelRequestError,
    StageModelThrottledError,
    StageModelUnavailableError,
    StageOutputInvalidError,
    StageRequest,
    StageUsage,
)
from oratio.config.catalog import ModelCatalog, load_model_catalog

THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
UNAVAILABLE = {
    "ServiceUnavailableException",
    "InternalServerException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ModelErrorException",
}


class BedrockStageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region_name: str | None = None
    connect_timeout_seconds: float = Field(default=5, gt=0)
    read_timeout_seconds: float = Field(default=120, gt=0, description="a whole stage answer, not a stream")
    max_tokens: int = Field(default=8_192, ge=256, le=64_000)
    temperature: float = Field(default=0.0, ge=0, le=1)


def tool_name(request: StageRequest) -> str:
    return f"{request.stage.value}_output"


def stage_schema(output_type: type[BaseModel]) -> dict[str, Any]:
    """The stage output's JSON schema as a tool input schema."""
    return output_type.model_json_schema()


def converse_request(
    request: StageRequest, output_type: type[BaseModel], bedrock_model_id: str, settings: BedrockStageSettings
) -> dict[str, Any]:
    """The Converse request of one stage call: one tool with the output schema, forced."""
    name = tool_name(request)
    return {
        "modelId": bedrock_model_id,
        "system": [{"text": request.instructions}],
        "messages": [{"role": "user", "content": [{"text": json.dumps(request.inputs, ensure_ascii=False)}]}],
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": name,
                        "description": f"Return the {request.stage.value} stage's output.",
                        "inputSchema": {"json": stage_schema(output_type)},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": name}},
        },
        "inferenceConfig": {"maxTokens": settings.max_tokens, "temperature": settings.temperature},
    }


class BedrockStageModel:
    """`StageModel` over `bedrock-runtime` Converse (blocking; AgentCreator runs stages one after another)."""

    def __init__(
        self,
        settings: BedrockStageSettings | None = None,
        *,
        client: Any | None = None,
        catalog: ModelCatalog | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings or BedrockStageSettings()
        self._catalog = catalog or load_model_catalog()
        self._backoff = backoff or Backoff()
        self._client = client or boto3.client(
            "bedrock-runtime",
            region_name=self.settings.region_name,
            config=Config(
                connect_timeout=self.settings.connect_timeout_seconds,
                read_timeout=self.settings.read_timeout_seconds,
                retries={"total_max_attempts": 1, "mode": "standard"},
            ),
        )

    def answer[T: BaseModel](self, request: StageRequest, output_type: type[T]) -> StageAnswer[T]:
        entry = self._catalog.model(request.model_id)
        body = converse_request(request, output_type, entry.bedrock_model_id, self.settings)
        response = self._backoff.run(lambda: self._call(body))
        usage = response.get("usage", {})
        used = StageUsage(entry.id, int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0)))
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        name = tool_name(request)
        uses = [b["toolUse"] for b in blocks if "toolUse" in b]
        tool_input = next((u.get("input") for u in uses if u.get("name") == name), None)
        if tool_input is None:
            raise StageOutputInvalidError(f"{request.stage.value}: the model answered without the output tool")
        try:
            return StageAnswer(output_type.model_validate(tool_input), used)
        except ValidationError as e:
            raise StageOutputInvalidError(f"{request.stage.value}: {e.error_count()} schema error(s)") from e

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self._client.converse(**body))
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            error: type[StageModelError]
            if code in THROTTLED:
                error = StageModelThrottledError
            elif code in UNAVAILABLE:
                error = StageModelUnavailableError
            else:
                error = StageModelRequestError
            raise error(f"bedrock converse: {code}") from e
        except BotoCoreError as e:
            raise StageModelUnavailableError(f"bedrock converse: {type(e).__name__}") from e
