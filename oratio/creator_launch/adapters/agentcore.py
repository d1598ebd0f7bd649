"""`CreatorJobLauncher` over the deployed AgentCreator runtime: one `bedrock-agentcore` InvokeAgentRuntime call
whose JSON payload is the `LaunchRequest`. The runtime answers at once (`LaunchAccepted`) and runs the job in
the background (its `/ping` says HealthyBusy meanwhile, so AgentCore keeps the session alive)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from oratio.creator_launch import LaunchAccepted, LaunchError, LaunchRequest
from oratio.observability import logger

DEFAULT_QUALIFIER = "DEFAULT"
JSON = "application/json"
# AgentCore runtime session ids are 33 to 256 characters; one session per job keeps a retry beside its run.
MIN_SESSION_ID_CHARS = 33
SESSION_PREFIX = "agent-creator-"
# The runtime only accepts the job (it runs in the background): a few seconds is plenty, and the vendor API's
# Lambda must answer well inside API Gateway's 29 s.
CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 2


def session_id_of(request: LaunchRequest) -> str:
    """The runtime session of a job (the same for its run and its retries)."""
    return f"{SESSION_PREFIX}{request.tenant_id}-{request.job_id}".ljust(MIN_SESSION_ID_CHARS, "0")


def default_config() -> Config:
    """Explicit timeouts; one retry in standard mode (launching is safe to repeat: the runtime refuses to run a
    job that is not queued or failed)."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )


class AgentCoreCreatorLauncher:
    """Launches jobs on the AgentCreator runtime named by `runtime_arn`."""

    def __init__(self, runtime_arn: str, qualifier: str = DEFAULT_QUALIFIER, client: Any | None = None) -> None:
        self.runtime_arn = runtime_arn
        self.qualifier = qualifier
        if client is None:
            region = runtime_arn.split(":")[3] if runtime_arn.count(":") >= 5 else None
            client = boto3.client("bedrock-agentcore", region_name=region or None, config=default_config())
        self._client = client

    def launch(self, request: LaunchRequest) -> None:
        try:
            response = self._client.invoke_agent_runtime(
                agentRuntimeArn=self.runtime_arn,
                qualifier=self.qualifier,
                runtimeSessionId=session_id_of(request),
                contentType=JSON,
                accept=JSON,
                payload=request.model_dump_json().encode(),
            )
            status = int(response.get("statusCode", 200))
            body = response["response"].read()
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", "unknown error"))
            logger.warning("AgentCreator runtime refused the launch", extra={"code": code, "job_id": request.job_id})
            raise LaunchError(f"the AgentCreator runtime refused the job ({code})") from e
        except BotoCoreError as e:
            logger.warning("AgentCreator runtime unreachable", extra={"error": type(e).__name__})
            raise LaunchError(f"the AgentCreator runtime could not be reached ({type(e).__name__})") from e
        if status >= 400:
            raise LaunchError(f"the AgentCreator runtime answered HTTP {status}")
        try:
            accepted = LaunchAccepted.model_validate_json(body)
        except ValidationError as e:
            raise LaunchError("the AgentCreator runtime's answer is not a LaunchAccepted") from e
        if not accepted.accepted or accepted.job_id != request.job_id:
            raise LaunchError(f"the AgentCreator runtime did not take job {request.job_id}")
