"""The AgentCreator launcher against the `bedrock-agentcore` service model (botocore Stubber: moto has no
InvokeAgentRuntime): the request it sends, what it makes of the runtime's answers, and the in-process launcher."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from oratio.agent_creator.jobs import StageName
from oratio.creator_launch import InProcessLauncher, LaunchAction, LaunchError, LaunchRequest
from oratio.creator_launch.adapters.agentcore import AgentCoreCreatorLauncher, session_id_of

REGION = "us-east-1"
RUNTIME_ARN = f"arn:aws:bedrock-agentcore:{REGION}:111122223333:runtime/oratio_agent_creator-AbCdEf1234"
JOB_ID = "job-0123456789abcdef0123456789abcdef"
RUN = LaunchRequest(action=LaunchAction.RUN, tenant_id="cozy-comfort", job_id=JOB_ID)


@pytest.fixture
def agentcore(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("bedrock-agentcore", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def answer(body: bytes, status: int = 200) -> dict[str, Any]:
    return {
        "response": StreamingBody(io.BytesIO(body), len(body)),
        "contentType": "application/json",
        "statusCode": status,
        "runtimeSessionId": session_id_of(RUN),
    }


def expected(request: LaunchRequest) -> dict[str, Any]:
    return {
        "agentRuntimeArn": RUNTIME_ARN,
        "qualifier": "DEFAULT",
        "runtimeSessionId": session_id_of(request),
        "contentType": "application/json",
        "accept": "application/json",
        "payload": request.model_dump_json().encode(),
    }


def test_launch_sends_the_job_to_the_runtime_and_accepts_its_acknowledgement(agentcore: tuple[Any, Stubber]) -> None:
    client, stubber = agentcore
    stubber.add_response(
        "invoke_agent_runtime", answer(f'{{"job_id":"{JOB_ID}","accepted":true}}'.encode()), expected(RUN)
    )

    AgentCoreCreatorLauncher(RUNTIME_ARN, client=client).launch(RUN)


def test_a_retry_names_its_stage_and_lands_on_the_jobs_own_session(agentcore: tuple[Any, Stubber]) -> None:
    client, stubber = agentcore
    retry = RUN.model_copy(update={"action": LaunchAction.RETRY, "from_stage": StageName.GATE})
    stubber.add_response("invoke_agent_runtime", answer(f'{{"job_id":"{JOB_ID}"}}'.encode()), expected(retry))

    AgentCoreCreatorLauncher(RUNTIME_ARN, client=client).launch(retry)

    assert session_id_of(retry) == session_id_of(RUN)
    assert len(session_id_of(RUN)) >= 33
    assert b'"from_stage":"gate"' in retry.model_dump_json().encode()


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b'{"job_id":"job-other0000","accepted":true}', 200, "did not take"),
        (b'{"job_id":"' + JOB_ID.encode() + b'","accepted":false}', 200, "did not take"),
        (b"<html>oops</html>", 200, "not a LaunchAccepted"),
        (b'{"message":"bad"}', 500, "HTTP 500"),
    ],
    ids=["another-job", "refused", "not-json", "server-error"],
)
def test_a_runtime_answer_that_does_not_take_the_job_is_a_launch_error(
    agentcore: tuple[Any, Stubber], body: bytes, status: int, reason: str
) -> None:
    client, stubber = agentcore
    stubber.add_response("invoke_agent_runtime", answer(body, status), expected(RUN))

    with pytest.raises(LaunchError, match=reason):
        AgentCoreCreatorLauncher(RUNTIME_ARN, client=client).launch(RUN)


def test_a_refused_invocation_is_a_launch_error_naming_the_code(agentcore: tuple[Any, Stubber]) -> None:
    client, stubber = agentcore
    stubber.add_client_error("invoke_agent_runtime", "ThrottlingException", http_status_code=429)

    with pytest.raises(LaunchError, match="ThrottlingException"):
        AgentCoreCreatorLauncher(RUNTIME_ARN, client=client).launch(RUN)


def test_in_process_launcher_runs_the_job_and_never_raises_into_the_request() -> None:
    ran: list[LaunchRequest] = []

    def runner(request: LaunchRequest) -> None:
        ran.append(request)
        raise RuntimeError("the pipeline broke")

    launcher = InProcessLauncher(runner)
    launcher.launch(RUN)

    assert ran == [RUN]
    assert launcher.launched == [RUN]


def test_in_process_launcher_waits_for_its_background_jobs() -> None:
    # Given a background job that runs until it is let go
    release = threading.Event()
    launcher = InProcessLauncher(lambda request: release.wait(), background=True)
    launcher.launch(RUN)
    # Then waiting while it runs names it, and waiting after it ends names nothing
    assert launcher.wait(timeout_seconds=0.05) == [f"creator-{RUN.job_id}"]
    release.set()
    assert launcher.wait() == []
