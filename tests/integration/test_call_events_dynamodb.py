"""The call-events Lambda handler end to end against moto DynamoDB: a routed call, then Connect's DISCONNECTED
contact event (delivered at least once), and what is stored afterwards."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from oratio.adapters.dynamodb import DataAccessError, DynamoDBAgentDirectory, DynamoDBCallSessionStore
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
from oratio.adapters.dynamodb_call_costs import DynamoDBCallCosts
from oratio.adapters.memory import FixedClock
from oratio.agent.ports import TurnRecord
from oratio.config.tenant import load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_events import (
    CONNECT_INSTANCE_ARN_ENV_VAR,
    PHONE_NUMBER_COUNTRY_ENV_VAR,
    PHONE_NUMBER_TYPE_ENV_VAR,
    TENANT_ID_ENV_VAR,
)
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, Route, RouteReason, RoutingProfile
from oratio.domain.calls import CallSession, CallStatus
from oratio.tables import AGENTS, CONVERSATIONS, NUMBERS, TENANT_STATE, USAGE
from tests.events import CONNECT_INSTANCE_ARN, connect_contact_event, connect_contact_flow_event, lambda_context
from tests.integration.conftest import load_handler, table_name
from tests.integration.test_call_router_dynamodb import register_number

REPO = Path(__file__).resolve().parents[2]
TENANT_ID = "cozy-comfort"
NUMBER = "+15552333464"
# Monday 6 January 2025, 10:00 in New York (open)
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
HUNG_UP = OPEN_TIME + timedelta(minutes=4, seconds=30)
PROFILE = RoutingProfile.from_tenant(load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml"))


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Both functions' environments as the CDK constructs set them; returns a setter for the call limit."""

    def _configure(max_concurrent_calls: int = PROFILE.max_concurrent_calls) -> None:
        profile = PROFILE.model_copy(update={"max_concurrent_calls": max_concurrent_calls})
        monkeypatch.setenv(AGENTS.env_var, table_name(AGENTS))
        monkeypatch.setenv(CONVERSATIONS.env_var, table_name(CONVERSATIONS))
        monkeypatch.setenv(TENANT_STATE.env_var, table_name(TENANT_STATE))
        monkeypatch.setenv(NUMBERS.env_var, table_name(NUMBERS))
        monkeypatch.setenv(ROUTING_PROFILE_ENV_VAR, profile.to_env())
        monkeypatch.setenv(TENANT_ID_ENV_VAR, TENANT_ID)
        monkeypatch.setenv(CONNECT_INSTANCE_ARN_ENV_VAR, CONNECT_INSTANCE_ARN)
        monkeypatch.setenv(USAGE.env_var, table_name(USAGE))
        monkeypatch.setenv(PHONE_NUMBER_COUNTRY_ENV_VAR, "US")
        monkeypatch.setenv(PHONE_NUMBER_TYPE_ENV_VAR, "DID")

    _configure()
    return _configure


@pytest.fixture
def agent(dynamodb: Any) -> Agent:
    """An active agent answering the tenant's number."""
    agent = Agent(
        vendor_id=TENANT_ID,
        agent_id="front-desk",
        name="Front desk",
        status=AgentStatus.ACTIVE,
        phone_number=NUMBER,
        created_at=OPEN_TIME - timedelta(days=30),
        updated_at=OPEN_TIME - timedelta(days=1),
    )
    DynamoDBAgentDirectory(table_name(AGENTS), client=dynamodb).put_agent(agent)
    register_number(dynamodb, NUMBER, TENANT_ID)
    return agent


def route(contact_id: str) -> dict[str, str]:
    router = load_handler("call_router")
    router.clock = FixedClock(OPEN_TIME)
    result: dict[str, str] = router.lambda_handler(
        connect_contact_flow_event(contact_id=contact_id), lambda_context("oratio-cozy-comfort-call-router")
    )
    return result


def deliver(handler: ModuleType, event: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-call-events"))
    return result


def disconnected(contact_id: str, **kwargs: Any) -> dict[str, Any]:
    return connect_contact_event(contact_id, "DISCONNECTED", initiated_at=OPEN_TIME, disconnected_at=HUNG_UP, **kwargs)


def session_item(client: Any, contact_id: str) -> dict[str, Any]:
    response = client.get_item(
        TableName=table_name(CONVERSATIONS),
        Key={"pk": {"S": f"{TENANT_ID}#{contact_id}"}, "sk": {"S": "SESSION"}},
        ConsistentRead=True,
    )
    item: dict[str, Any] = response["Item"]
    return item


def store(client: Any) -> DynamoDBCallSessionStore:
    return DynamoDBCallSessionStore(table_name(CONVERSATIONS), table_name(TENANT_STATE), client=client)


def emitted_metrics(output: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents Powertools printed."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_disconnect_delivered_twice_closes_the_session_and_frees_the_slot_once(
    dynamodb: Any, configure: Any, agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a routed call holding one of the tenant's slots
    assert route("contact-1")["route"] == "agent"
    assert store(dynamodb).active_calls(TENANT_ID) == 1
    handler = load_handler("call_events")
    event = disconnected("contact-1")
    # When Connect's DISCONNECTED event is delivered twice
    first = deliver(handler, event)
    second = deliver(handler, event)
    # Then the first closes the session and the second changes nothing
    assert (first, second) == ({"action": "closed"}, {"action": "already_closed"})
    assert store(dynamodb).active_calls(TENANT_ID) == 0
    item = session_item(dynamodb, "contact-1")
    assert item["status"]["S"] == "closed"
    assert item["ended_at"]["S"] == HUNG_UP.isoformat()
    assert item["duration_seconds"]["N"] == "270"
    assert item["outcome"]["S"] == "CUSTOMER_DISCONNECT"
    # And the session still reads back as a valid model
    session = store(dynamodb).get(TENANT_ID, "contact-1")
    assert session is not None
    assert (session.status, session.duration_seconds) == (CallStatus.CLOSED, 270)
    # And the close is counted once
    closed = [m for m in emitted_metrics(capsys.readouterr().out) if "CallSessionsClosed" in m]
    assert len(closed) == 1
    assert "CallSlotsReleased" in closed[0]


def test_the_closed_call_carries_its_metered_cost_with_its_minutes_booked_once(
    dynamodb: Any, configure: Any, agent: Agent
) -> None:
    # Given a routed call whose agent booked its model spend with the call
    route("contact-9")
    ledger = DynamoDBBudgetLedger(
        table_name(USAGE), conversations_table=table_name(CONVERSATIONS), client=dynamodb, clock=lambda: OPEN_TIME
    )
    for cost in (0.00042, 0.0013):
        asyncio.run(
            ledger.add(TENANT_ID, OPEN_TIME, "model", "nova-lite", cost, agent_id="front-desk", session_id="contact-9")
        )
    # When the call ends (4 min 30 s by Connect's timestamps), and the event is delivered twice
    handler = load_handler("call_events")
    deliver(handler, disconnected("contact-9"))
    deliver(handler, disconnected("contact-9"))
    # Then its minutes are booked once, as estimates: Connect voice $0.038/min and US DID telephony $0.0022/min
    lines = DynamoDBCallCosts(table_name(CONVERSATIONS), client=dynamodb).lines(TENANT_ID, "contact-9")
    assert lines == {
        "model#nova-lite": pytest.approx(0.00172),
        "connect_voice#voice_minutes_from_disconnect_estimated": pytest.approx(4.5 * 0.038),
        "telephony#US_DID_inbound_minutes_from_disconnect_estimated": pytest.approx(4.5 * 0.0022),
    }
    # And the closed session's total is the whole breakdown, also in the month's ledger for the agent
    session = store(dynamodb).get(TENANT_ID, "contact-9")
    assert session is not None
    assert session.total_cost_usd == pytest.approx(0.00172 + 4.5 * 0.0402)
    month = asyncio.run(ledger.month_to_date_usd(TENANT_ID, OPEN_TIME))
    assert month == pytest.approx(0.00172 + 4.5 * 0.0402)


def _turn(contact_id: str, sequence: int, cost: float) -> TurnRecord:
    return TurnRecord(
        tenant_id=TENANT_ID,
        session_id=contact_id,
        agent_id="front-desk",
        channel="voice",
        sequence=sequence,
        user_text="Do you have duvets?",
        reply_text="Yes.",
        model_id="nova-lite",
        routing_reason="simple",
        role="greeter",
        cost_usd=cost,
        at=OPEN_TIME,
    )


def test_freed_slot_lets_the_next_caller_reach_the_agent(dynamodb: Any, configure: Any, agent: Agent) -> None:
    # Given a tenant limited to one call, with that call in progress and a second caller turned away
    configure(max_concurrent_calls=1)
    route("contact-1")
    assert (route("contact-2")["route"], route("contact-2")["reason"]) == ("unavailable", "over_capacity")
    # When the first call ends
    deliver(load_handler("call_events"), disconnected("contact-1"))
    # Then the next caller reaches the agent
    assert route("contact-3")["route"] == "agent"


def test_one_call_ending_leaves_the_other_calls_slots_taken(dynamodb: Any, configure: Any, agent: Agent) -> None:
    for contact_id in ("contact-1", "contact-2", "contact-3"):
        route(contact_id)
    handler = load_handler("call_events")
    deliver(handler, disconnected("contact-2"))
    deliver(handler, disconnected("contact-2"))
    assert store(dynamodb).active_calls(TENANT_ID) == 2
    assert session_item(dynamodb, "contact-1")["status"]["S"] == "open"


def test_disconnect_of_a_contact_never_routed_is_a_logged_no_op(
    dynamodb: Any, configure: Any, agent: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a call in progress
    route("contact-1")
    # When a contact the router never saw (e.g. an outbound call) disconnects
    result = deliver(load_handler("call_events"), disconnected("outbound-1"))
    # Then nothing is stored or released, and the no-op is logged
    assert result == {"action": "unknown_contact"}
    assert store(dynamodb).active_calls(TENANT_ID) == 1
    assert any("no call session for this contact" in r.getMessage() for r in caplog.records)
    assert "Item" not in dynamodb.get_item(
        TableName=table_name(CONVERSATIONS), Key={"pk": {"S": f"{TENANT_ID}#outbound-1"}, "sk": {"S": "SESSION"}}
    )


def test_other_contact_event_types_leave_the_session_open(dynamodb: Any, configure: Any, agent: Agent) -> None:
    route("contact-1")
    handler = load_handler("call_events")
    for event_type in ("INITIATED", "CONNECTED_TO_SYSTEM", "QUEUED"):
        event = connect_contact_event("contact-1", event_type, initiated_at=OPEN_TIME)
        assert deliver(handler, event) == {"action": "ignored_event_type"}
    assert session_item(dynamodb, "contact-1")["status"]["S"] == "open"
    assert store(dynamodb).active_calls(TENANT_ID) == 1


def test_unavailable_table_fails_the_invocation_so_the_event_is_retried_and_counted(
    dynamodb: Any, configure: Any, agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a routed call, and then the tenant_state table gone
    route("contact-1")
    dynamodb.delete_table(TableName=table_name(TENANT_STATE))
    handler = load_handler("call_events")
    # When the disconnect arrives, Then the invocation fails (Lambda retries it, then dead-letters it)
    with pytest.raises(DataAccessError):
        deliver(handler, disconnected("contact-1"))
    # And the session is left open for the retry, and the failure is counted
    assert session_item(dynamodb, "contact-1")["status"]["S"] == "open"
    failures = [m for m in emitted_metrics(capsys.readouterr().out) if "CallEventFailures" in m]
    assert failures


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({}, id="empty"),
        pytest.param({**disconnected("c-1"), "source": "aws.s3"}, id="wrong-source"),
        pytest.param({**disconnected("c-1"), "detail": {"eventType": "DISCONNECTED"}}, id="no-contact-id"),
        pytest.param(disconnected("c-1", disconnectTimestamp="yesterday"), id="bad-timestamp"),
    ],
)
def test_unreadable_event_fails_the_invocation_without_echoing_it(
    dynamodb: Any, configure: Any, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handler = load_handler("call_events")
    with pytest.raises(handler.InvalidContactEventError) as raised:
        deliver(handler, event)
    assert raised.value.__cause__ is None
    assert "yesterday" not in str(raised.value)
    assert any("CallEventFailures" in m for m in emitted_metrics(capsys.readouterr().out))


def test_close_retries_transactions_that_conflict_on_the_busy_counter(dynamodb: Any) -> None:
    # Given an open, counted session, and concurrent calls keeping the counter busy for two attempts
    sleeps: list[float] = []
    sessions = DynamoDBCallSessionStore(
        table_name(CONVERSATIONS), table_name(TENANT_STATE), client=dynamodb, sleep=sleeps.append
    )
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
    sessions.open(session, max_concurrent_calls=5)
    stubber = Stubber(dynamodb)
    stubber.add_response("get_item", {"Item": dynamodb.get_item(**_session_key())["Item"]})
    conflict = {"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}
    for _ in range(2):
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            http_status_code=400,
            modeled_fields=conflict,
        )
    stubber.add_response("transact_write_items", {})
    # When the session is closed
    with stubber:
        closed = sessions.close(TENANT_ID, "contact-1", HUNG_UP, outcome="CUSTOMER_DISCONNECT")
    # Then the close went through on the third attempt
    assert closed.session is not None
    assert closed.session.status is CallStatus.CLOSED
    assert len(sleeps) == 2
    stubber.assert_no_pending_responses()


def _session_key() -> dict[str, Any]:
    return {
        "TableName": table_name(CONVERSATIONS),
        "Key": {"pk": {"S": f"{TENANT_ID}#contact-1"}, "sk": {"S": "SESSION"}},
        "ConsistentRead": True,
    }


def test_disconnect_closes_the_session_even_if_the_counter_already_drifted_to_zero(
    dynamodb: Any, configure: Any, agent: Agent
) -> None:
    # Given a routed call whose slot counter was reset to zero behind the platform's back
    route("contact-1")
    dynamodb.put_item(
        TableName=table_name(TENANT_STATE),
        Item={"pk": {"S": TENANT_ID}, "sk": {"S": "calls#active"}, "active": {"N": "0"}},
    )
    # When the call ends
    result = deliver(load_handler("call_events"), disconnected("contact-1"))
    # Then the session is closed and the counter does not go negative
    assert result == {"action": "closed"}
    assert session_item(dynamodb, "contact-1")["status"]["S"] == "closed"
    assert store(dynamodb).active_calls(TENANT_ID) == 0


class StaleReads:
    """A client whose SESSION reads return the item as it was when `capture` was called: what a redelivered
    event sees when it reads the session before a concurrent first delivery has closed it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._stale: dict[str, Any] | None = None

    def capture(self, contact_id: str) -> None:
        self._stale = session_item(self._inner, contact_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_item(self, **kwargs: Any) -> Any:
        if self._stale is not None and kwargs["Key"]["sk"]["S"] == "SESSION":
            return {"Item": self._stale}
        return self._inner.get_item(**kwargs)


def test_two_deliveries_racing_on_one_disconnect_count_one_close_in_the_metrics(
    dynamodb: Any, configure: Any, agent: Agent, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a routed call, and a redelivery of its DISCONNECTED event that read the session while it was open
    assert route("contact-1")["route"] == "agent"
    stale = StaleReads(dynamodb)
    stale.capture("contact-1")  # the redelivery's read, while the session is open
    handler = load_handler("call_events")
    event = disconnected("contact-1")
    assert deliver(handler, event) == {"action": "closed"}
    redelivery = load_handler("call_events")
    monkeypatch.setattr(redelivery, "dynamodb_client", lambda: stale)
    capsys.readouterr()
    # When the redelivery's close finds the session already closed
    second = deliver(redelivery, event)
    # Then it reports no close and counts none: the session was closed, and its slot freed, once
    assert second == {"action": "already_closed"}
    assert not [m for m in emitted_metrics(capsys.readouterr().out) if "CallSessionsClosed" in m]
    assert store(dynamodb).active_calls(TENANT_ID) == 0
