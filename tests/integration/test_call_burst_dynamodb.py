"""A burst of calls against the call router over moto DynamoDB, with DynamoDB's transaction conflicts injected:
callers are admitted while slots are free, turned away only when the tenant is full, and every contact the
router answered has a session record, even when the data layer failed."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from oratio.adapters import dynamodb as dynamodb_adapter
from oratio.adapters.dynamodb import ConflictRetry, DynamoDBAgentDirectory, DynamoDBCallSessionStore
from oratio.adapters.memory import FixedClock
from oratio.config.tenant import load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, RoutingProfile
from oratio.tables import AGENTS, CONVERSATIONS, NUMBERS, TENANT_STATE
from oratio_local.faults import ContendedClient, FailingClient, counter_conflict
from tests.events import connect_contact_flow_event
from tests.integration.conftest import load_handler, table_name
from tests.integration.test_call_router_dynamodb import register_number

REPO = Path(__file__).resolve().parents[2]
TENANT_ID = "cozy-comfort"
NUMBER = "+15552333464"
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
PROFILE = RoutingProfile.from_tenant(load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml"))
BURST = 50


@pytest.fixture
def configure(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The router's environment and an active agent; returns a setter for the tenant's call limit."""
    DynamoDBAgentDirectory(table_name(AGENTS), client=dynamodb).put_agent(
        Agent(
            vendor_id=TENANT_ID,
            agent_id="front-desk",
            name="Front desk",
            status=AgentStatus.ACTIVE,
            phone_number=NUMBER,
            created_at=OPEN_TIME - timedelta(days=30),
            updated_at=OPEN_TIME - timedelta(days=1),
        )
    )
    register_number(dynamodb, NUMBER, TENANT_ID)

    def _configure(max_concurrent_calls: int) -> None:
        profile = PROFILE.model_copy(update={"max_concurrent_calls": max_concurrent_calls})
        monkeypatch.setenv(AGENTS.env_var, table_name(AGENTS))
        monkeypatch.setenv(CONVERSATIONS.env_var, table_name(CONVERSATIONS))
        monkeypatch.setenv(TENANT_STATE.env_var, table_name(TENANT_STATE))
        monkeypatch.setenv(NUMBERS.env_var, table_name(NUMBERS))
        monkeypatch.setenv(ROUTING_PROFILE_ENV_VAR, profile.to_env())

    return _configure


def router_with(client: Any, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    handler = load_handler("call_router")
    handler.clock = FixedClock(OPEN_TIME)
    monkeypatch.setattr(handler, "dynamodb_client", lambda: client)
    return handler


def sessions(client: Any) -> dict[str, dict[str, Any]]:
    items = client.scan(TableName=table_name(CONVERSATIONS))["Items"]
    return {item["contact_id"]["S"]: item for item in items if item["sk"]["S"] == "SESSION"}


def active_calls(client: Any) -> int:
    return DynamoDBCallSessionStore(table_name(CONVERSATIONS), table_name(TENANT_STATE), client=client).active_calls(
        TENANT_ID
    )


def burst(handler: ModuleType, count: int = BURST) -> list[dict[str, str]]:
    """`count` contacts routed at once, one thread each (the decorated entry point is left out: Powertools'
    metrics are per invocation, and Lambda never runs two invocations in one process)."""
    events = [connect_contact_flow_event(contact_id=f"burst-{n:02d}") for n in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return [d.to_connect_attributes() for d in pool.map(handler.route_contact, events)]


@pytest.fixture
def wall_clock_free_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # The budget's sizing is replayed in virtual time (tests/unit/test_conflict_retry_sizing.py); on a shared
    # test machine, wall-clock must not decide whether a thread gets its turn. Nor may the count of tries: a
    # moto transaction on a loaded machine holds the counter for tens of milliseconds (DynamoDB: a few), so the
    # burst needs more rounds than the 60 sized for DynamoDB (a CI run used them all up).
    retry = functools.partial(ConflictRetry, budget_seconds=60, max_attempts=100_000)
    monkeypatch.setattr(dynamodb_adapter, "ConflictRetry", retry)


def test_a_burst_colliding_on_the_counter_is_admitted_while_slots_are_free(
    dynamodb: Any, configure: Any, monkeypatch: pytest.MonkeyPatch, wall_clock_free_budget: None
) -> None:
    # Given room for the whole burst, and DynamoDB cancelling transactions that overlap on the counter
    configure(max_concurrent_calls=BURST)
    client = ContendedClient(dynamodb)
    handler = router_with(client, monkeypatch)
    # When 50 callers ring at once
    answers = burst(handler)
    # Then the counter was contended, yet every caller reaches the agent, each counted once
    assert client.conflicts > 0
    assert [a["route"] for a in answers] == ["agent"] * BURST
    assert len(sessions(dynamodb)) == BURST
    assert active_calls(dynamodb) == BURST


def test_a_burst_over_the_limit_turns_away_only_the_callers_beyond_it(
    dynamodb: Any, configure: Any, monkeypatch: pytest.MonkeyPatch, wall_clock_free_budget: None
) -> None:
    configure(max_concurrent_calls=20)
    handler = router_with(ContendedClient(dynamodb), monkeypatch)
    answers = burst(handler)
    reasons = sorted(a["reason"] for a in answers)
    assert reasons == ["accepted"] * 20 + ["over_capacity"] * (BURST - 20)
    stored = sessions(dynamodb)
    assert len(stored) == BURST  # the turned-away callers are recorded too
    assert sum(item["counted_against_limit"]["BOOL"] for item in stored.values()) == 20
    assert active_calls(dynamodb) == 20


def test_a_counter_that_keeps_conflicting_answers_unavailable_and_still_records_the_contact(
    dynamodb: Any, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the counter conflicts on every try, past the retry budget (kept short here)
    configure(max_concurrent_calls=10)
    monkeypatch.setattr(dynamodb_adapter, "ConflictRetry", functools.partial(ConflictRetry, budget_seconds=0.2))
    handler = router_with(FailingClient(dynamodb, {"transact_write_items": (counter_conflict, None)}), monkeypatch)
    # When a caller rings
    answer = handler.route_contact(connect_contact_flow_event(contact_id="contact-1")).to_connect_attributes()
    # Then they hear the unavailable message, and the contact is recorded, holding no slot
    assert (answer["route"], answer["reason"]) == ("unavailable", "data_unavailable")
    recorded = sessions(dynamodb)["contact-1"]
    assert (recorded["reason"]["S"], recorded["counted_against_limit"]["BOOL"]) == ("data_unavailable", False)
    assert active_calls(dynamodb) == 0
    # And Connect's retry of the same contact gets the same answer, still recorded once
    again = handler.route_contact(connect_contact_flow_event(contact_id="contact-1")).to_connect_attributes()
    assert again == answer
    assert len(sessions(dynamodb)) == 1


def test_a_failing_counter_still_leaves_a_record_of_every_contact_answered(
    dynamodb: Any, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(max_concurrent_calls=10)
    failing = FailingClient(dynamodb, {"transact_write_items": ("InternalServerError", None)})
    handler = router_with(failing, monkeypatch)
    answers = [
        handler.route_contact(connect_contact_flow_event(contact_id=f"contact-{n}")).to_connect_attributes()
        for n in range(3)
    ]
    assert {a["reason"] for a in answers} == {"data_unavailable"}
    assert sorted(sessions(dynamodb)) == ["contact-0", "contact-1", "contact-2"]
    assert active_calls(dynamodb) == 0
