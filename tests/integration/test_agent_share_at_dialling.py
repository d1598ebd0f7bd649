"""An agent's own budget share is enforced at dialling, through the real call router Lambda over moto: the router
reads the live definition's `models.monthly_budget_usd` and the agent's month row of the ledger in one extra
request, and a caller of an agent whose share is spent goes to a person (or hears the closed message, or the
budget message) before any spend — never a dropped call. A failed read routes on the tenant's budget alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, _serialize
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
from oratio.adapters.memory import FixedClock
from oratio.agent_definitions.dynamodb import version_to_item
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config.tenant import BudgetSettings, TenantConfig, load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR, RoutingProfile
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, NUMBERS, TENANT_STATE, USAGE
from tests.events import connect_contact_flow_event, lambda_context
from tests.integration.conftest import load_handler, table_name
from tests.integration.test_call_router_dynamodb import register_number

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NUMBER = "+15552333464"
AGENT_ID = "front-desk"
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
AFTER_HOURS = datetime(2025, 1, 6, 23, 30, tzinfo=UTC)
SHARE = 50.0
TENANT_SPEND = 120.0  # well under the tenant's 500


def _spec(share: float | None) -> AgentSpec:
    definition = {"models": {"monthly_budget_usd": share}} if share is not None else {}
    return AgentSpec.model_validate(
        {
            "name": "Front desk",
            "business_type": "retail",
            "character_config": {"business_name": "Cozy Comfort Bedding"},
            "definition": definition,
        }
    )


@pytest.fixture
def router(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The router Lambda as deployed, an active agent whose live version 2 sets `share` (or none); returns a
    function that books the agent's month, sets the budget settings and the time, and routes one contact."""
    register_number(dynamodb, NUMBER, TENANT.tenant_id)
    for spec in (AGENTS, CONVERSATIONS, TENANT_STATE, NUMBERS, USAGE, AGENT_DEFINITIONS):
        monkeypatch.setenv(spec.env_var, table_name(spec))
    ledger = DynamoDBBudgetLedger(table_name(USAGE), client=dynamodb)
    counter = iter(range(1_000))

    def route(
        agent_spent: float,
        *,
        share: float | None = SHARE,
        budget: BudgetSettings | None = None,
        at: datetime = OPEN_TIME,
    ) -> dict[str, str]:
        DynamoDBAgentDirectory(table_name(AGENTS), client=dynamodb).put_agent(
            Agent(
                vendor_id=TENANT.tenant_id,
                agent_id=AGENT_ID,
                name="Front desk",
                status=AgentStatus.ACTIVE,
                phone_number=NUMBER,
                created_at=OPEN_TIME - timedelta(days=30),
                updated_at=OPEN_TIME - timedelta(days=30),
                live_version=2,
            )
        )
        version = DefinitionVersion(
            vendor_id=TENANT.tenant_id,
            agent_id=AGENT_ID,
            version=2,
            spec=_spec(share),
            author="vendor",
            note="a share of the budget",
            created_at=OPEN_TIME - timedelta(days=1),
        )
        dynamodb.put_item(TableName=table_name(AGENT_DEFINITIONS), Item=_serialize(version_to_item(version)))
        tenant = TenantConfig.model_validate({**TENANT.model_dump(), "budget": (budget or TENANT.budget).model_dump()})
        monkeypatch.setenv(ROUTING_PROFILE_ENV_VAR, RoutingProfile.from_tenant(tenant).to_env())
        asyncio.run(ledger.add(TENANT.tenant_id, at, "model", "nova-lite", TENANT_SPEND - agent_spent))
        asyncio.run(ledger.add(TENANT.tenant_id, at, "model", "nova-lite", agent_spent, agent_id=AGENT_ID))
        handler = load_handler("call_router")
        handler.clock = FixedClock(at)
        event = connect_contact_flow_event(contact_id=f"share-{next(counter)}")
        answer: dict[str, str] = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-call-router"))
        return answer

    return route


def test_a_caller_of_an_agent_whose_share_is_spent_goes_to_the_human_queue_before_any_spend(router: Any) -> None:
    answer = router(SHARE)
    assert (answer["route"], answer["reason"], answer["budget_state"]) == ("human", "budget_exhausted", "exhausted")
    assert answer["message"] == TENANT.budget_voice_message
    assert answer["handoff_reason"] == "monthly budget reached"


def test_with_its_share_left_the_caller_reaches_the_agent(router: Any) -> None:
    answer = router(SHARE * 0.5)
    assert (answer["route"], answer["budget_state"]) == ("agent", "ok")


def test_past_the_step_down_line_of_its_share_the_agent_answers_stepped_down(router: Any) -> None:
    answer = router(SHARE * 0.9)
    assert (answer["route"], answer["budget_state"], answer["voice_tier"]) == ("agent", "step_down", "standard")


def test_outside_hours_a_spent_share_gets_the_closed_message(router: Any) -> None:
    answer = router(SHARE, at=AFTER_HOURS)
    assert (answer["route"], answer["message"]) == ("closed", TENANT.closed_message)


def test_a_tenant_that_chose_the_message_gets_it_when_the_agents_share_is_spent(router: Any) -> None:
    settings = BudgetSettings(at_budget_voice="message", exhausted_voice_message="We are at capacity this month.")
    answer = router(SHARE, budget=settings)
    assert (answer["route"], answer["reason"], answer["message"]) == (
        "unavailable",
        "budget_exhausted",
        "We are at capacity this month.",
    )


def test_a_definition_without_a_share_of_its_own_leaves_the_tenants_budget_in_charge(router: Any) -> None:
    answer = router(SHARE, share=None)
    assert (answer["route"], answer["budget_state"]) == ("agent", "ok")


def test_when_the_share_cannot_be_read_the_call_routes_on_the_tenants_budget(
    router: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(AGENT_DEFINITIONS.env_var, "no-such-table")  # e.g. a deploy that lost the grant or table
    answer = router(SHARE)
    assert (answer["route"], answer["budget_state"]) == ("agent", "ok"), "never a refused or dropped call"
    assert "agent's budget share unreadable; routing on the tenant's budget alone" in caplog.text
