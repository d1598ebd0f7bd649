"""Budgets enforced before spend, through the real Lambda handlers against moto DynamoDB with a ledger near
the budget: the call router (new calls) and the Connect code hook's escalation check (calls in progress).

The replay-script form of these scenarios waits for the conversation replay engine (issue 16)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
from oratio.adapters.memory import FixedClock
from oratio.config.tenant import BudgetSettings, TenantConfig, load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, RoutingProfile
from oratio.tables import AGENTS, CONVERSATIONS, NUMBERS, TENANT_STATE, USAGE
from tests.events import connect_contact_flow_event, lambda_context
from tests.integration.conftest import load_handler, table_name
from tests.integration.test_call_router_dynamodb import register_number

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NUMBER = "+15552333464"
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
AFTER_HOURS = datetime(2025, 1, 6, 23, 30, tzinfo=UTC)
BUDGET = TENANT.agent.monthly_budget_usd


@pytest.fixture
def router(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The router Lambda as deployed (tables and profile in its environment), with an active agent; returns a
    function that sets the month's spend, the budget settings and the time, and routes one contact."""
    DynamoDBAgentDirectory(table_name(AGENTS), client=dynamodb).put_agent(
        Agent(
            vendor_id=TENANT.tenant_id,
            agent_id="front-desk",
            name="Front desk",
            status=AgentStatus.ACTIVE,
            phone_number=NUMBER,
            created_at=OPEN_TIME - timedelta(days=30),
            updated_at=OPEN_TIME - timedelta(days=30),
        )
    )
    register_number(dynamodb, NUMBER, TENANT.tenant_id)
    for spec in (AGENTS, CONVERSATIONS, TENANT_STATE, NUMBERS, USAGE):
        monkeypatch.setenv(spec.env_var, table_name(spec))
    ledger = DynamoDBBudgetLedger(table_name(USAGE), client=dynamodb)
    counter = iter(range(1_000))

    def route(spent: float, budget: BudgetSettings | None = None, at: datetime = OPEN_TIME) -> dict[str, str]:
        # Validated anew (not model_copy): the tenant's messages are derived from its settings once.
        tenant = TenantConfig.model_validate({**TENANT.model_dump(), "budget": (budget or TENANT.budget).model_dump()})
        monkeypatch.setenv(ROUTING_PROFILE_ENV_VAR, RoutingProfile.from_tenant(tenant).to_env())
        already = asyncio.run(ledger.month_to_date_usd(TENANT.tenant_id, at))
        if spent > already:
            asyncio.run(ledger.add(TENANT.tenant_id, at, "model", "nova-lite", spent - already))
        handler = load_handler("call_router")
        handler.clock = FixedClock(at)
        event = connect_contact_flow_event(contact_id=f"budget-{next(counter)}")
        answer: dict[str, str] = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-call-router"))
        return answer

    return route


def test_below_the_step_down_line_calls_reach_the_agent(router: Any) -> None:
    answer = router(BUDGET * 0.5)
    assert (answer["route"], answer["budget_state"]) == ("agent", "ok")


def test_past_the_step_down_line_calls_still_reach_the_agent_stepped_down(router: Any) -> None:
    answer = router(BUDGET * 0.85)
    assert (answer["route"], answer["budget_state"], answer["voice_tier"]) == ("agent", "step_down", "standard")


def test_at_the_budget_new_calls_go_to_the_human_queue_with_the_budget_message(
    router: Any, dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = router(BUDGET)
    assert (answer["route"], answer["reason"]) == ("human", "budget_exhausted")
    assert answer["message"] == TENANT.budget_voice_message
    assert answer["handoff_reason"] == "monthly budget reached"
    # The caller is queued for a person, not counted as an AI call, and the refusal is counted for the dashboard
    assert (
        DynamoDBCallSessionStore(table_name(CONVERSATIONS), table_name(TENANT_STATE), client=dynamodb).active_calls(
            TENANT.tenant_id
        )
        == 0
    )
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any("CallsRefusedByBudget" in d for d in documents)


def test_at_the_budget_outside_hours_the_closed_message_is_said(router: Any) -> None:
    answer = router(BUDGET, at=AFTER_HOURS)
    assert (answer["route"], answer["message"]) == ("closed", TENANT.closed_message)


def test_a_tenant_may_choose_a_message_instead_of_the_queue_at_the_budget(router: Any) -> None:
    settings = BudgetSettings(at_budget_voice="message", exhausted_voice_message="We are at capacity this month.")
    answer = router(BUDGET + 1, budget=settings)
    assert (answer["route"], answer["reason"], answer["message"]) == (
        "unavailable",
        "budget_exhausted",
        "We are at capacity this month.",
    )
