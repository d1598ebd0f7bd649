"""The platform-wide number registry on moto DynamoDB, and the call router's use of it: a number has one owner,
a claim of another tenant's number fails naming no one, and a router never answers a number its tenant does not
own -- whatever the agents table holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, RouterSettings, dynamodb_call_router
from oratio.adapters.dynamodb_numbers import DynamoDBNumberRegistry
from oratio.adapters.memory import FixedClock
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.calls import InboundCall
from oratio.domain.numbers import NumberClaim, NumberKind, NumberOwnedElsewhere
from oratio.tables import AGENTS, CONVERSATIONS, NUMBERS, TENANT_STATE
from tests.integration.conftest import table_name
from tests.integration.test_call_router_dynamodb import NUMBER, OPEN_TIME, PROFILE, TENANT_ID

OTHER = "sleepwell"
OTHER_NUMBER = "+15557654321"


def claim(number: str, tenant: str, kind: NumberKind = NumberKind.BRIDGE) -> NumberClaim:
    return NumberClaim(number=number, tenant_id=tenant, kind=kind, claimed_by="operator:tests")


@pytest.fixture
def registry(dynamodb: Any) -> DynamoDBNumberRegistry:
    return DynamoDBNumberRegistry(table_name(NUMBERS), client=dynamodb)


def test_a_claimed_number_belongs_to_its_tenant_only(registry: DynamoDBNumberRegistry) -> None:
    registry.claim(claim(NUMBER, TENANT_ID, NumberKind.CONNECT))
    assert registry.owns(TENANT_ID, NUMBER)
    assert not registry.owns(OTHER, NUMBER)
    assert registry.is_registered(NUMBER)
    assert not registry.is_registered(OTHER_NUMBER)
    assert [(c.number, c.kind) for c in registry.numbers_of(TENANT_ID)] == [(NUMBER, NumberKind.CONNECT)]
    assert registry.numbers_of(OTHER) == []


def test_claiming_ones_own_number_again_changes_nothing(registry: DynamoDBNumberRegistry) -> None:
    registry.claim(claim(NUMBER, TENANT_ID))
    registry.claim(claim(NUMBER, TENANT_ID))  # a redeploy, an operator retry
    assert len(registry.numbers_of(TENANT_ID)) == 1


def test_another_tenants_claim_fails_naming_no_one_and_changes_nothing(registry: DynamoDBNumberRegistry) -> None:
    registry.claim(claim(NUMBER, TENANT_ID, NumberKind.CONNECT))
    with pytest.raises(NumberOwnedElsewhere) as refused:
        registry.claim(claim(NUMBER, OTHER))
    assert TENANT_ID not in str(refused.value)
    assert registry.owns(TENANT_ID, NUMBER)
    assert not registry.owns(OTHER, NUMBER)
    assert registry.numbers_of(OTHER) == []  # not even the tenant-side item was written


def test_only_the_owner_can_release_a_number(registry: DynamoDBNumberRegistry) -> None:
    registry.claim(claim(NUMBER, TENANT_ID))
    assert registry.release(OTHER, NUMBER) is False
    assert registry.owns(TENANT_ID, NUMBER)
    assert registry.release(TENANT_ID, NUMBER) is True
    assert not registry.is_registered(NUMBER)
    assert registry.numbers_of(TENANT_ID) == []
    registry.claim(claim(NUMBER, OTHER))  # free again: another tenant may now take it
    assert registry.owns(OTHER, NUMBER)


# ------------------------------------------------------------------------------------------- router
def agent(vendor: str, agent_id: str, number: str) -> Agent:
    return Agent(
        vendor_id=vendor,
        agent_id=agent_id,
        name=agent_id,
        status=AgentStatus.ACTIVE,
        phone_number=number,
        created_at=OPEN_TIME - timedelta(days=30),
        updated_at=OPEN_TIME - timedelta(days=1),
    )


def route(dynamodb: Any, contact_id: str, number: str = NUMBER) -> Any:
    settings = RouterSettings(
        agents_table=table_name(AGENTS),
        conversations_table=table_name(CONVERSATIONS),
        tenant_state_table=table_name(TENANT_STATE),
        numbers_table=table_name(NUMBERS),
        routing_profile=PROFILE.model_dump_json(),  # type: ignore[arg-type]  # Json[...] takes the text
    )
    router, _ = dynamodb_call_router(settings, FixedClock(OPEN_TIME), client=dynamodb)
    return router.route(InboundCall(contact_id=contact_id, channel="voice", dialed_number=number))


def test_another_tenants_agent_on_the_same_number_never_shadows_the_owners(
    dynamodb: Any, registry: DynamoDBNumberRegistry
) -> None:
    directory = DynamoDBAgentDirectory(table_name(AGENTS), client=dynamodb)
    registry.claim(claim(NUMBER, TENANT_ID, NumberKind.CONNECT))
    directory.put_agent(agent(TENANT_ID, "front-desk", NUMBER))
    # Rows from before the registry: other tenants' agents holding the owner's number, newer than its agent.
    for i in range(6):
        directory.put_agent(agent(OTHER, f"squatter-{i}", NUMBER).model_copy(update={"updated_at": OPEN_TIME}))

    decision = route(dynamodb, "contact-1")

    assert (decision.route, decision.reason, decision.agent_id) == (Route.AGENT, RouteReason.ACCEPTED, "front-desk")
    assert directory.find_by_number(OTHER, NUMBER) is not None  # the squatters are still in the table...
    assert directory.find_by_number(TENANT_ID, NUMBER).agent_id == "front-desk"  # type: ignore[union-attr]


def test_a_number_the_tenant_does_not_own_is_an_unknown_number_whatever_the_agents_table_says(
    dynamodb: Any, registry: DynamoDBNumberRegistry
) -> None:
    registry.claim(claim(OTHER_NUMBER, OTHER))
    DynamoDBAgentDirectory(table_name(AGENTS), client=dynamodb).put_agent(agent(TENANT_ID, "hijack", OTHER_NUMBER))

    decision = route(dynamodb, "contact-2", OTHER_NUMBER)

    assert (decision.route, decision.reason, decision.agent_id) == (Route.UNAVAILABLE, RouteReason.UNKNOWN_NUMBER, None)
