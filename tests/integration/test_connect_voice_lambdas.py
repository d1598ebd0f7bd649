"""The Connect voice Lambdas end to end: `voice_turn` (Lex code hook and flow actions) and `voice_agent_turn`
(the worker) with their real adapters against moto DynamoDB; the Lambda invoke and AgentCore's
`invoke_agent_runtime` (neither of which moto runs without Docker) behind botocore `Stubber`s, which check
every request against the service model."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from oratio.adapters.lambda_turn_worker import LambdaTurnWorker
from oratio.agent.contracts import (
    CustomerIdentity,
    InvocationRequest,
    ReplyEvent,
    TextChunk,
    TurnComplete,
    UserMessage,
)
from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio.config import load_tenant_file
from oratio.config.tenant import Channel
from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.ports import TurnWorkerError
from oratio.connect_voice.profile import VOICE_PROFILE_ENV_VAR, VoiceProfile
from oratio.domain.agents import AgentStatus
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from tests.events import connect_voice_action_event, lambda_context, lex_code_hook_event
from tests.integration.conftest import REGION, load_handler, seed_agent, table_name

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
PROFILE = VoiceProfile.from_tenant(TENANT)
CONTACT = "5fb2c1a4-7d0e-4e1b-9a43-0123456789ab"
WORKER = "oratio-cozy-comfort-voice-agent-turn"
RUNTIME_ARN = f"arn:aws:bedrock-agentcore:{REGION}:111122223333:runtime/oratio_cozy_comfort-AbCdEf1234"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
ATTRS = {"contact_id": CONTACT, "caller": "+15551234567", "agent_id": "front-desk", "speech_mode": "cascaded"}
# The agent the calls are routed to, live on a version with its own lines and voice.
RILEY = AgentSpec(
    name="Riley",
    business_type="retail",
    character_config=CharacterConfig(business_name="Cozy Comfort Bedding"),
    definition=AgentOverrides.model_validate(
        {
            "lines": {"greeting": "Hi, Riley here from Cozy Comfort!", "paused_line": "Riley is on a break, one sec."},
            "voice": {"voice_id": "matthew"},
        }
    ),
)


def outcome_json(text: str = "Yes, our queen duvets start at $89.", **extra: Any) -> bytes:
    return (
        TurnOutcome(turn_id="e" * 32, status="ok", reply_text=text, finished_at=NOW, **extra).model_dump_json().encode()
    )


def invoked(payload: bytes, **extra: Any) -> dict[str, Any]:
    return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload)), **extra}


# ------------------------------------------------------------------------------ LambdaTurnWorker
JOB = TurnJob(
    turn_id="e" * 32,
    contact_id=CONTACT,
    request=InvocationRequest(
        tenant_id="cozy-comfort",
        agent_id="front-desk",
        channel=Channel.VOICE,
        customer=CustomerIdentity(kind="phone", value="+15551234567"),
        session_id=CONTACT,
        input=UserMessage(text="Do you have queen duvets?"),
    ),
    submitted_at=NOW,
)


@pytest.fixture
def lambda_client(aws_env: None) -> Any:
    return boto3.client("lambda", region_name=REGION)


def test_the_worker_is_invoked_synchronously_once_and_its_outcome_returned(lambda_client: Any) -> None:
    with Stubber(lambda_client) as stubber:
        stubber.add_response(
            "invoke",
            invoked(outcome_json()),
            {"FunctionName": WORKER, "InvocationType": "RequestResponse", "Payload": JOB.model_dump_json().encode()},
        )
        outcome = asyncio.run(LambdaTurnWorker(WORKER, client=lambda_client).run(JOB, wait_seconds=2.0))
        stubber.assert_no_pending_responses()
    assert outcome is not None
    assert outcome.reply_text == "Yes, our queen duvets start at $89."


@pytest.mark.parametrize(
    "failure",
    [
        ("response", invoked(b'{"errorMessage": "boom", "errorType": "RuntimeError"}', FunctionError="Unhandled")),
        ("error", "TooManyRequestsException"),
        ("response", invoked(b'{"not": "an outcome"}')),
    ],
    ids=["worker-crashed", "throttled", "wrong-answer"],
)
def test_a_worker_that_fails_or_cannot_be_invoked_raises_a_typed_error(
    lambda_client: Any, failure: tuple[str, Any]
) -> None:
    kind, value = failure
    with Stubber(lambda_client) as stubber:
        if kind == "response":
            stubber.add_response("invoke", value)
        else:
            stubber.add_client_error("invoke", service_error_code=value, http_status_code=429)
        with pytest.raises(TurnWorkerError):
            asyncio.run(LambdaTurnWorker(WORKER, client=lambda_client).run(JOB, wait_seconds=2.0))


def test_a_turn_slower_than_the_wait_returns_none_and_runs_on() -> None:
    release, finished = threading.Event(), threading.Event()

    class SlowLambda:
        def invoke(self, **_: Any) -> dict[str, Any]:
            release.wait(5)
            finished.set()
            return invoked(outcome_json())

    worker = LambdaTurnWorker(WORKER, client=SlowLambda())
    started = time.monotonic()
    assert asyncio.run(worker.run(JOB, wait_seconds=0.2)) is None
    assert time.monotonic() - started < 2  # the caller was not kept waiting for the turn
    release.set()
    assert finished.wait(5)  # the invocation itself went on to the end


# ------------------------------------------------------------------------------ voice_turn Lambda
@pytest.fixture
def voice_turn(dynamodb: Any, monkeypatch: pytest.MonkeyPatch, lambda_client: Any) -> tuple[ModuleType, Stubber]:
    seed_agent(dynamodb, "cozy-comfort", "front-desk", spec=RILEY)
    monkeypatch.setenv(AGENTS.env_var, table_name(AGENTS))
    monkeypatch.setenv(AGENT_DEFINITIONS.env_var, table_name(AGENT_DEFINITIONS))
    monkeypatch.setenv(CONVERSATIONS.env_var, table_name(CONVERSATIONS))
    monkeypatch.setenv(TENANT_STATE.env_var, table_name(TENANT_STATE))
    monkeypatch.setenv(USAGE.env_var, table_name(USAGE))
    monkeypatch.setenv(VOICE_PROFILE_ENV_VAR, PROFILE.to_env())
    monkeypatch.setenv("ORATIO_VOICE_WORKER_FUNCTION", WORKER)
    handler = load_handler("voice_turn")
    stubber = Stubber(lambda_client)
    stubber.activate()
    monkeypatch.setattr(handler, "LambdaTurnWorker", lambda name: LambdaTurnWorker(name, client=lambda_client))
    return handler, stubber


def call_items(client: Any, prefix: str) -> list[dict[str, Any]]:
    items = client.query(
        TableName=table_name(CONVERSATIONS),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": f"cozy-comfort#{CONTACT}"}, ":prefix": {"S": prefix}},
    )["Items"]
    return list(items)


def lex(text: str, **kwargs: Any) -> dict[str, Any]:
    return lex_code_hook_event(text, session_id=CONTACT, session_attributes=ATTRS, **kwargs)


def test_a_lex_turn_is_answered_by_the_agent_through_the_worker(voice_turn: tuple[ModuleType, Stubber]) -> None:
    handler, stubber = voice_turn
    stubber.add_response("invoke", invoked(outcome_json()))
    response = handler.lambda_handler(lex("Do you have queen duvets?"), lambda_context("voice_turn"))
    assert response["sessionState"]["dialogAction"] == {"type": "ElicitIntent"}
    assert response["messages"] == [{"contentType": "PlainText", "content": "Yes, our queen duvets start at $89."}]
    assert response["sessionState"]["sessionAttributes"]["next_step"] == "converse"
    stubber.assert_no_pending_responses()


def test_a_caller_asking_for_a_person_is_transferred_and_the_turn_and_handoff_are_stored_by_contact(
    voice_turn: tuple[ModuleType, Stubber], dynamodb: Any
) -> None:
    handler, _ = voice_turn
    response = handler.lambda_handler(lex("I want to talk to a human", intent="SpeakToPerson"), lambda_context())
    state = response["sessionState"]
    assert state["dialogAction"] == {"type": "Close"}
    assert state["intent"] == {"name": "SpeakToPerson", "state": "Fulfilled"}
    assert state["sessionAttributes"]["next_step"] == "transfer"
    assert "No conversation yet" in state["sessionAttributes"]["handoff_summary"]
    (turn,) = call_items(dynamodb, "TURN#")
    assert turn["user_text"] == {"S": "I want to talk to a human"}
    assert turn["routing_reason"] == {"S": "caller asked for a person"}
    (event,) = call_items(dynamodb, "EVENT#")
    assert event["kind"] == {"S": "handoff"}


def test_a_throttled_worker_counts_against_the_agent_breaker_in_dynamodb(
    voice_turn: tuple[ModuleType, Stubber], dynamodb: Any
) -> None:
    handler, stubber = voice_turn
    stubber.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
    response = handler.lambda_handler(lex("Hello?"), lambda_context())
    assert response["messages"][0]["content"] == PROFILE.connect.trouble_message
    breaker = dynamodb.get_item(
        TableName=table_name(TENANT_STATE), Key={"pk": {"S": "cozy-comfort"}, "sk": {"S": "breaker#agent"}}
    )["Item"]
    assert (breaker["failures"], breaker["state"]) == ({"N": "1"}, {"S": "closed"})
    (turn,) = call_items(dynamodb, "TURN#")
    assert turn["outcome"] == {"S": "failed"}


def test_the_flows_prepare_action_answers_with_a_flat_string_map(voice_turn: tuple[ModuleType, Stubber]) -> None:
    handler, _ = voice_turn
    event = connect_voice_action_event("prepare", contact_id=CONTACT, attributes={"agent_id": "front-desk"})
    answer = handler.lambda_handler(event, lambda_context())
    assert all(isinstance(v, str) for v in answer.values())
    assert (answer["speech_mode"], answer["next_step"], answer["tts_voice"]) == (
        "speech_to_speech",
        "converse",
        "Matthew",
    )
    # The routed agent's own greeting and Nova Sonic voice (its live version), not the tenant's.
    assert answer["prompt"] == "Hi, Riley here from Cozy Comfort!"
    assert answer["sonic_voice"] == "matthew"


@pytest.mark.parametrize(
    ("status", "next_step", "said"),
    [
        (AgentStatus.PAUSED, "transfer", "Riley is on a break, one sec."),
        (AgentStatus.STOPPED, "end", "This assistant is not available any more"),
        (AgentStatus.DELETED, "end", "This assistant is not available any more"),
    ],
)
def test_a_pause_or_stop_during_the_call_is_honoured_on_the_next_turn_and_recorded(
    voice_turn: tuple[ModuleType, Stubber], dynamodb: Any, status: AgentStatus, next_step: str, said: str
) -> None:
    handler, stubber = voice_turn
    stubber.add_response("invoke", invoked(outcome_json()))
    first = handler.lambda_handler(lex("Do you have queen duvets?"), lambda_context())
    assert first["sessionState"]["sessionAttributes"]["next_step"] == "converse"
    seed_agent(dynamodb, "cozy-comfort", "front-desk", status=status, spec=RILEY)  # the vendor acts mid-call

    second = handler.lambda_handler(lex("And pillows?"), lambda_context())

    assert second["sessionState"]["sessionAttributes"]["next_step"] == next_step
    assert said in second["messages"][0]["content"]
    stubber.assert_no_pending_responses()  # the agent was not asked: the code hook answered for it
    kinds = [e["kind"]["S"] for e in call_items(dynamodb, "EVENT#")]
    assert "lifecycle" in kinds
    turns = call_items(dynamodb, "TURN#")
    assert turns[-1]["routing_reason"] == {"S": f"agent {status.value}"}


@pytest.mark.parametrize(
    "event",
    [
        {"messageVersion": "1.0", "sessionState": {"intent": {"name": "FallbackIntent"}}},
        {"not": "an event"},
    ],
    ids=["broken-lex-event", "garbage"],
)
def test_an_event_that_cannot_be_read_still_gets_a_spoken_handoff(
    voice_turn: tuple[ModuleType, Stubber], event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, _ = voice_turn
    response = handler.lambda_handler(event, lambda_context())
    assert response["sessionState"]["dialogAction"] == {"type": "Close"}
    assert response["sessionState"]["sessionAttributes"]["next_step"] == "transfer"
    assert response["messages"][0]["content"]
    assert '"VoiceTurnFailures"' in capsys.readouterr().out


def test_an_unknown_flow_action_or_a_broken_deployment_hands_the_caller_to_a_person(
    voice_turn: tuple[ModuleType, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, _ = voice_turn
    answer = handler.lambda_handler(connect_voice_action_event("dance"), lambda_context())
    assert (answer["next_step"], answer["speech_mode"]) == ("transfer", "human")
    monkeypatch.delenv(VOICE_PROFILE_ENV_VAR)
    broken = load_handler("voice_turn")
    answer = broken.lambda_handler(connect_voice_action_event("prepare"), lambda_context())
    assert answer["handoff_reason"] == "voice flow action failed (misconfigured)"


# ------------------------------------------------------------------------ voice_agent_turn Lambda
def sse(events: list[ReplyEvent]) -> bytes:
    return "".join(f"data: {json.dumps(e.model_dump(mode='json'))}\n\n" for e in events).encode()


@pytest.fixture
def agent_turn(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, Stubber]:
    import agentcore.tenant_agent.client as client_module

    monkeypatch.setenv("ORATIO_TENANT_ID", "cozy-comfort")
    monkeypatch.setenv(CONVERSATIONS.env_var, table_name(CONVERSATIONS))
    monkeypatch.setenv(TENANT_STATE.env_var, table_name(TENANT_STATE))
    monkeypatch.setenv("ORATIO_AGENT_RUNTIME_ARN", RUNTIME_ARN)
    monkeypatch.setenv("ORATIO_AGENT_QUALIFIER", "live")
    monkeypatch.setenv("ORATIO_AGENT_BREAKER", PROFILE.connect.breaker.model_dump_json())
    agentcore = boto3.client("bedrock-agentcore", region_name=REGION)
    stubber = Stubber(agentcore)
    stubber.activate()
    real = client_module.AgentCoreAgentClient
    monkeypatch.setattr(
        client_module, "AgentCoreAgentClient", lambda arn, qualifier: real(arn, qualifier, client=agentcore)
    )
    return load_handler("voice_agent_turn"), stubber


def test_the_worker_runs_the_turn_through_agentcore_and_leaves_the_outcome_in_the_mailbox(
    agent_turn: tuple[ModuleType, Stubber], dynamodb: Any
) -> None:
    handler, stubber = agent_turn
    events: list[ReplyEvent] = [
        TextChunk(text="Yes, queen duvets start at $89."),
        TurnComplete(
            session_id=CONTACT,
            model_id="nova-lite",
            routing_reason="simple",
            role="greeter",
            qualification_score=0.2,
            cost_usd=0.0004,
        ),
    ]
    body = sse(events)
    stubber.add_response(
        "invoke_agent_runtime",
        {"response": StreamingBody(io.BytesIO(body), len(body)), "contentType": "text/event-stream", "statusCode": 200},
        {
            "agentRuntimeArn": RUNTIME_ARN,
            "qualifier": "live",
            "runtimeSessionId": CONTACT,
            "contentType": "application/json",
            "accept": "text/event-stream",
            "payload": JOB.request.model_dump_json(exclude_none=True).encode(),
        },
    )
    answer = handler.lambda_handler(json.loads(JOB.model_dump_json()), lambda_context("voice_agent_turn"))
    assert (answer["status"], answer["reply_text"]) == ("ok", "Yes, queen duvets start at $89.")
    (stored,) = call_items(dynamodb, "VOICE#")
    assert TurnOutcome.model_validate_json(stored["outcome"]["S"]).reply_text == "Yes, queen duvets start at $89."
    stubber.assert_no_pending_responses()


def test_an_unreachable_agent_becomes_a_failed_outcome_a_breaker_count_and_a_kept_turn(
    agent_turn: tuple[ModuleType, Stubber], dynamodb: Any
) -> None:
    handler, stubber = agent_turn
    stubber.add_client_error("invoke_agent_runtime", service_error_code="ThrottlingException", http_status_code=429)
    answer = handler.lambda_handler(json.loads(JOB.model_dump_json()), lambda_context())
    assert (answer["status"], answer["error"]) == ("failed", "AgentThrottledError")
    breaker = dynamodb.get_item(
        TableName=table_name(TENANT_STATE), Key={"pk": {"S": "cozy-comfort"}, "sk": {"S": "breaker#agent"}}
    )["Item"]
    assert breaker["failures"] == {"N": "1"}
    (turn,) = call_items(dynamodb, "TURN#")
    assert (turn["user_text"], turn["outcome"]) == ({"S": "Do you have queen duvets?"}, {"S": "failed"})


def test_the_worker_refuses_a_job_of_another_tenant_or_a_broken_one(
    agent_turn: tuple[ModuleType, Stubber], capsys: pytest.CaptureFixture[str]
) -> None:
    handler, _ = agent_turn
    other = json.loads(JOB.model_dump_json())
    other["request"]["tenant_id"] = "another-tenant"
    with pytest.raises(handler.InvalidTurnJobError, match="another tenant"):
        handler.lambda_handler(other, lambda_context())
    broken = json.loads(JOB.model_dump_json())
    broken["request"]["input"]["text"] = ""
    with pytest.raises(handler.InvalidTurnJobError, match="1 invalid field"):
        handler.lambda_handler(broken, lambda_context())
    assert "queen duvets" not in capsys.readouterr().out  # the caller's words never reach the log
