"""The call router Lambda handler end to end against moto DynamoDB: what Connect gets back, what is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore
from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from oratio.adapters.memory import FixedClock
from oratio.config.tenant import load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, Route, RouteReason, RoutingProfile
from oratio.domain.calls import CallSession, OpenOutcome
from oratio.domain.numbers import NumberClaim, NumberKind
from oratio.tables import AGENTS, CONVERSATIONS, NUMBERS, TENANT_STATE
from tests.events import connect_contact_flow_event, lambda_context
from tests.integration.conftest import load_handler, table_name

REPO = Path(__file__).resolve().parents[2]
TENANT_ID = "cozy-comfort"
NUMBER = "+15552333464"
# Monday 6 January 2025, 10:00 in New York; Sunday the day before is closed all day.
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
SUNDAY = datetime(2025, 1, 5, 15, 0, tzinfo=UTC)
PROFILE = RoutingProfile.from_tenant(load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml"))


def seed_agent(client: Any, status: AgentStatus = AgentStatus.ACTIVE) -> Agent:
    agent = Agent(
        vendor_id=TENANT_ID,
        agent_id="front-desk",
        name="Front desk",
        status=status,
        phone_number=NUMBER,
        created_at=OPEN_TIME - timedelta(days=30),
        updated_at=OPEN_TIME - timedelta(days=1),
    )
    DynamoDBAgentDirectory(table_name(AGENTS), client=client).put_agent(agent)
    register_number(client, NUMBER, TENANT_ID)
    return agent


def register_number(client: Any, number: str, tenant_id: str) -> None:
    """What the tenant stack's number claim writes at deploy (claiming it twice changes nothing)."""
    claim = NumberClaim(number=number, tenant_id=tenant_id, kind=NumberKind.CONNECT, claimed_by="stack:test")
    DynamoDBNumberRegistry(table_name(NUMBERS), client=client).claim(claim)


def session_items(client: Any) -> list[dict[str, Any]]:
    items = client.scan(TableName=table_name(CONVERSATIONS))["Items"]
    return [item for item in items if item["sk"]["S"] == "SESSION"]


def active_calls(client: Any) -> int:
    return DynamoDBCallSessionStore(table_name(CONVERSATIONS), table_name(TENANT_STATE), client=client).active_calls(
        TENANT_ID
    )


def emitted_metrics(output: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents Powertools printed."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the router's environment as the CDK Lambda factory would; returns a setter for the limit."""

    def _configure(max_concurrent_calls: int = PROFILE.max_concurrent_calls) -> None:
        profile = PROFILE.model_copy(update={"max_concurrent_calls": max_concurrent_calls})
        monkeypatch.setenv(AGENTS.env_var, table_name(AGENTS))
        monkeypatch.setenv(CONVERSATIONS.env_var, table_name(CONVERSATIONS))
        monkeypatch.setenv(TENANT_STATE.env_var, table_name(TENANT_STATE))
        monkeypatch.setenv(NUMBERS.env_var, table_name(NUMBERS))
        monkeypatch.setenv(ROUTING_PROFILE_ENV_VAR, profile.to_env())

    _configure()
    return _configure


def load_router(now: datetime = OPEN_TIME) -> ModuleType:
    handler = load_handler("call_router")
    handler.clock = FixedClock(now)
    return handler


def invoke(handler: ModuleType, event: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-call-router"))
    return result


def test_caller_in_opening_hours_reaches_the_agent_with_a_recorded_session(
    dynamodb: Any, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an active agent on the tenant's number during opening hours
    seed_agent(dynamodb)
    handler = load_router()
    # When Connect invokes the router for a new contact
    result = invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    # Then Connect gets the agent route with the tenant's greeting and voice, as flat strings
    assert result == {
        "route": "agent",
        "reason": "accepted",
        "agent_id": "front-desk",
        "message": PROFILE.greeting,
        "greeting": PROFILE.greeting,
        "voice_id": "tiffany",
        "voice_tier": "standard",
        "tenant_id": TENANT_ID,
        "budget_state": "ok",
        "closed_prompt": PROFILE.closed_message,
        "recording": "off",
        "recording_notice": "",
        "handoff_reason": "",
        "channel": "voice",
    }
    # And the session is stored for the agent's conversation list, with its retention TTL
    [item] = session_items(dynamodb)
    assert item["pk"]["S"] == f"{TENANT_ID}#contact-1"
    assert item["agent_key"]["S"] == f"{TENANT_ID}#front-desk"
    assert item["status"]["S"] == "open"
    assert int(item["expires_at"]["N"]) == int((OPEN_TIME + timedelta(days=90)).timestamp())
    by_agent = dynamodb.query(
        TableName=table_name(CONVERSATIONS),
        IndexName="by_agent",
        KeyConditionExpression="agent_key = :k",
        ExpressionAttributeValues={":k": {"S": f"{TENANT_ID}#front-desk"}},
    )
    assert by_agent["Count"] == 1
    assert active_calls(dynamodb) == 1
    # And the route is counted for dashboards
    emitted = emitted_metrics(capsys.readouterr().out)
    by_route = [m for m in emitted if "CallsByRoute" in m]
    assert by_route
    assert by_route[-1]["route"] == "agent"
    assert any("CallsRouted" in m and "route" not in m for m in emitted)


def test_retried_invocation_returns_the_same_answer_and_counts_the_call_once(dynamodb: Any, configure: Any) -> None:
    # Given an active agent during opening hours
    seed_agent(dynamodb)
    handler = load_router()
    event = connect_contact_flow_event(contact_id="contact-1")
    # When Connect retries the invocation with the same ContactId
    first = invoke(handler, event)
    second = invoke(handler, event)
    # Then both answers match, one SESSION item exists and the live-call counter is 1
    assert first == second
    assert first["route"] == "agent"
    assert len(session_items(dynamodb)) == 1
    assert active_calls(dynamodb) == 1


def test_retry_in_a_new_container_is_idempotent_too(dynamodb: Any, configure: Any) -> None:
    seed_agent(dynamodb)
    event = connect_contact_flow_event(contact_id="contact-1")
    first = invoke(load_router(), event)
    second = invoke(load_router(OPEN_TIME + timedelta(seconds=8)), event)
    assert first == second
    assert len(session_items(dynamodb)) == 1
    assert active_calls(dynamodb) == 1


def test_callers_outside_business_hours_hear_the_closed_message(dynamodb: Any, configure: Any) -> None:
    # Given an active agent, on a Sunday (closed)
    seed_agent(dynamodb)
    handler = load_router(SUNDAY)
    # When a caller rings
    result = invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    # Then they hear the closed message, the contact is recorded, and no slot is taken
    assert (result["route"], result["reason"]) == ("closed", "outside_business_hours")
    assert result["message"] == PROFILE.closed_message
    [item] = session_items(dynamodb)
    assert item["counted_against_limit"]["BOOL"] is False
    assert active_calls(dynamodb) == 0


def test_paused_agent_callers_hear_paused_message(dynamodb: Any, configure: Any) -> None:
    seed_agent(dynamodb, AgentStatus.PAUSED)
    handler = load_router()
    result = invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    assert (result["route"], result["reason"]) == ("paused", "agent_paused")
    assert result["message"] == PROFILE.paused_message
    assert result["agent_id"] == "front-desk"
    assert active_calls(dynamodb) == 0


def test_pausing_an_agent_takes_effect_for_the_next_call(dynamodb: Any, configure: Any) -> None:
    # Given an active agent that took a call
    seed_agent(dynamodb)
    handler = load_router()
    assert invoke(handler, connect_contact_flow_event(contact_id="contact-1"))["route"] == "agent"
    # When the vendor pauses it (the number index is unchanged; the agent item is read consistently)
    seed_agent(dynamodb, AgentStatus.PAUSED)
    # Then the next caller hears the paused message
    assert invoke(handler, connect_contact_flow_event(contact_id="contact-2"))["route"] == "paused"


def test_unknown_number_callers_hear_unavailable_message(dynamodb: Any, configure: Any) -> None:
    seed_agent(dynamodb)
    handler = load_router()
    result = invoke(handler, connect_contact_flow_event(contact_id="contact-1", dialed="+15550001111"))
    assert (result["route"], result["reason"]) == ("unavailable", "unknown_number")
    assert result["message"] == PROFILE.unavailable_message
    assert result["agent_id"] == ""
    assert active_calls(dynamodb) == 0


def test_callers_over_the_concurrent_limit_hear_unavailable_message(dynamodb: Any, configure: Any) -> None:
    # Given a tenant limited to one concurrent call, with one call in progress
    configure(max_concurrent_calls=1)
    seed_agent(dynamodb)
    handler = load_router()
    first = invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    # When a second caller rings
    second = invoke(handler, connect_contact_flow_event(contact_id="contact-2"))
    # Then the second is turned away (the counter's condition cancelled the transaction)
    assert first["route"] == "agent"
    assert (second["route"], second["reason"]) == ("unavailable", "over_capacity")
    # And both contacts are recorded, only the first holding a slot
    counted = {item["contact_id"]["S"]: item["counted_against_limit"]["BOOL"] for item in session_items(dynamodb)}
    assert counted == {"contact-1": True, "contact-2": False}
    assert active_calls(dynamodb) == 1


def test_a_finished_call_releases_its_slot(dynamodb: Any, configure: Any) -> None:
    configure(max_concurrent_calls=1)
    seed_agent(dynamodb)
    handler = load_router()
    invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    store = DynamoDBCallSessionStore(table_name(CONVERSATIONS), table_name(TENANT_STATE), client=dynamodb)
    store.close(TENANT_ID, "contact-1", OPEN_TIME + timedelta(minutes=4))
    store.close(TENANT_ID, "contact-1", OPEN_TIME + timedelta(minutes=5))
    assert active_calls(dynamodb) == 0
    assert invoke(handler, connect_contact_flow_event(contact_id="contact-2"))["route"] == "agent"


def test_missing_table_gives_callers_the_unavailable_message_not_an_error(
    dynamodb: Any, configure: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the conversations table is gone (DynamoDB cannot store the session)
    seed_agent(dynamodb)
    dynamodb.delete_table(TableName=table_name(CONVERSATIONS))
    handler = load_router()
    # When a caller rings
    result = invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    # Then the handler answers (no exception) with the tenant's unavailable message
    assert (result["route"], result["reason"]) == ("unavailable", "data_unavailable")
    assert result["message"] == PROFILE.unavailable_message
    # And the failure is counted
    failures = [m for m in emitted_metrics(capsys.readouterr().out) if "RouterFailures" in m]
    assert failures
    assert failures[-1]["failure_reason"] == "data_unavailable"
    assert active_calls(dynamodb) == 0


def test_throttled_dynamodb_gives_callers_the_unavailable_message(
    dynamodb: Any, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DynamoDB throttles every request (botocore retries, then gives up)
    seed_agent(dynamodb)
    handler = load_router()
    client = handler.dynamodb_client()
    stubber = Stubber(client)
    for _ in range(3):
        stubber.add_client_error("query", service_error_code="ThrottlingException", http_status_code=400)
    stubber.activate()
    monkeypatch.setattr(handler, "dynamodb_client", lambda: client)
    # When a caller rings
    result = invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    # Then they hear the unavailable message
    assert (result["route"], result["reason"]) == ("unavailable", "data_unavailable")
    assert result["message"] == PROFILE.unavailable_message


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({}, id="empty"),
        pytest.param({"Name": "ContactFlowEvent", "Details": {}}, id="no-contact-data"),
        pytest.param({"Name": "SomethingElse", "Details": {"ContactData": {}}}, id="wrong-name"),
        pytest.param(connect_contact_flow_event(dialed=None), id="no-dialed-number"),
        pytest.param(connect_contact_flow_event(dialed="5552333464"), id="dialed-number-not-e164"),
        pytest.param(connect_contact_flow_event(ContactId=""), id="empty-contact-id"),
    ],
)
def test_malformed_event_gives_callers_the_unavailable_message(
    dynamodb: Any, configure: Any, event: dict[str, Any]
) -> None:
    seed_agent(dynamodb)
    handler = load_router()
    result = invoke(handler, event)
    assert (result["route"], result["reason"]) == ("unavailable", "invalid_event")
    assert result["message"] == PROFILE.unavailable_message
    assert all(isinstance(value, str) for value in result.values())
    assert session_items(dynamodb) == []


def test_misconfigured_router_still_answers_with_a_message(
    dynamodb: Any, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ROUTING_PROFILE_ENV_VAR)
    handler = load_router()
    result = invoke(handler, connect_contact_flow_event(contact_id="contact-1"))
    assert (result["route"], result["reason"]) == ("unavailable", "misconfigured")
    assert result["message"]


def test_unknown_fields_aws_adds_to_the_event_are_ignored(dynamodb: Any, configure: Any) -> None:
    seed_agent(dynamodb)
    handler = load_router()
    event = connect_contact_flow_event(
        contact_id="contact-1",
        Tags={"aws:connect:instanceId": "c8c0e68d"},
        SegmentAttributes={"connect:Subtype": {"ValueString": "connect:Telephony"}},
    )
    event["Details"]["NewTopLevelThing"] = {"x": 1}
    assert invoke(handler, event)["route"] == "agent"


def test_chat_flow_may_pass_the_number_as_a_parameter(dynamodb: Any, configure: Any) -> None:
    seed_agent(dynamodb)
    handler = load_router()
    event = connect_contact_flow_event(
        contact_id="chat-1", dialed=None, caller=None, channel="CHAT", Parameters={"dialed_number": NUMBER}
    )
    result = invoke(handler, event)
    assert result["route"] == "agent"
    [item] = session_items(dynamodb)
    assert item["channel"]["S"] == "chat"


def test_session_store_retries_transactions_that_conflict_on_the_busy_counter(dynamodb: Any) -> None:
    # Given concurrent calls of the tenant keep the counter item busy for two attempts
    sleeps: list[float] = []
    store = DynamoDBCallSessionStore(
        table_name(CONVERSATIONS), table_name(TENANT_STATE), client=dynamodb, sleep=sleeps.append
    )
    stubber = Stubber(dynamodb)
    conflict = {"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}
    for _ in range(2):
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            http_status_code=400,
            modeled_fields=conflict,
        )
    stubber.add_response("transact_write_items", {})
    session = CallSession(
        tenant_id=TENANT_ID,
        contact_id="contact-1",
        agent_id="front-desk",
        channel="voice",
        dialed_number=NUMBER,
        route=Route.AGENT,
        reason=RouteReason.ACCEPTED,
        voice_tier="standard",
        started_at=OPEN_TIME,
        counted_against_limit=True,
    )
    # When the router opens a session
    with stubber:
        result = store.open(session, max_concurrent_calls=10)
    # Then the store retried after short pauses and the session was opened
    assert result.outcome is OpenOutcome.CREATED
    assert len(sleeps) == 2
    stubber.assert_no_pending_responses()
