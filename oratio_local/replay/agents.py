"""The replay's one touchpoint with agents: how a script's `agent:` is created, found, paused and answered.

An agent is created and changed only through the vendor API's real Lambda handler (as a vendor would), never by
writing its records directly, so whatever the vendor API stores for an agent (its status, and once agent
definitions land, its definition) is what the replayed call routes to and what the tenant agent loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from oratio.agent.assembly import assemble_engine, tool_factory
from oratio.agent.ports import Passage
from oratio.config import TenantConfig
from oratio.domain.knowledge_scope import SearchScope
from oratio.replay.script import Given
from oratio_local.vendor import LocalVendorApi, agent_request_for

LIFECYCLE_ACTION = {"paused": "pause", "stopped": "stop"}


class UnknownAgentError(LookupError):
    """A script names an agent that cannot be created for its tenant."""


def ensure_agent(
    api: LocalVendorApi,
    tenant: TenantConfig,
    name: str,
    *,
    definition: dict[str, Any] | None = None,
    bridge_number: str | None = None,
) -> str:
    """The id of the tenant's agent called `name`, provisioned if absent: voice on the tenant's Connect number, or
    with `bridge_number` on that Twilio/Vonage number (through the voice bridge); with `definition` (the vendor
    API's `definition` overrides, e.g. the agent's budget share) on top of the defaults."""
    listed = api.call("GET", "/api/v1/agents")
    for agent in listed.get("agents", listed.get("items", [])):
        if agent.get("name") == name:
            return str(agent["id"])
    body = agent_request_for(tenant) | {"name": name}
    if definition:
        body["definition"] = definition
    if bridge_number is not None:
        body["bridge_number"] = bridge_number
    provisioned = api.call(
        "POST", "/api/v1/agents/provision", {"agent_config": body}, headers={"Idempotency-Key": f"replay-{name}"}
    )
    return str(provisioned["agent_config"]["id"])


def definition_for(given: Given) -> dict[str, Any] | None:
    """The agent definition overrides a script's `given` asks for (None: the tenant's defaults)."""
    if given.agent_budget_usd is None:
        return None
    return {"models": {"monthly_budget_usd": given.agent_budget_usd}}


def set_status(api: LocalVendorApi, agent_id: str, status: str) -> None:
    """Move the agent to `status` through the vendor API's lifecycle endpoints (active needs nothing)."""
    action = LIFECYCLE_ACTION.get(status)
    if action is not None:
        api.call("POST", f"/api/v1/agents/{agent_id}/{action}")


class _FailingRetriever:
    """Knowledge search that fails, for scripts whose `given.tool_failures` names knowledge_search."""

    async def retrieve(self, query: str, top_k: int, scope: SearchScope | None = None) -> list[Passage]:
        raise RuntimeError("knowledge search is down (replay fault)")


def agent_engine(
    tenant: TenantConfig,
    tenants_dir: Path,
    tables: dict[str, str],
    *,
    tool_failures: list[str],
    clock: Callable[[], datetime] | None = None,
) -> Any:
    """The tenant agent's engine: local mode's model, retriever and session memory, the deployed DynamoDB stores
    (on moto) for what the voice path reads back (turns, lead state, spend), the agents' definitions from the
    tables the vendor API wrote, the script's tool faults, and the replay clock (the month its budget reads)."""
    from agentcore.tenant_agent import wiring
    from oratio.adapters.dynamodb_agent import (
        DynamoDBBudgetLedger,
        DynamoDBConversationRecorder,
        DynamoDBCustomerContextStore,
        DynamoDBWorkflowStateStore,
    )

    unknown = sorted(set(tool_failures) - {"knowledge_search"})
    if unknown:
        raise UnknownAgentError(f"given.tool_failures: the replay can fail only knowledge_search, not {unknown}")
    settings = wiring.RuntimeSettings(
        local_mode=True,
        tenant_id=tenant.tenant_id,
        tenants_dir=tenants_dir,
        agents_table=tables["agents"],
        agent_definitions_table=tables["agent_definitions"],
    )
    parts = wiring.local_parts(settings, tenant)  # the local wiring, with the stores the voice path shares
    stores: dict[str, Any] = {
        "recorder": DynamoDBConversationRecorder(tables["conversations"]),
        "budget": DynamoDBBudgetLedger(tables["usage"]),
        "workflow_states": DynamoDBWorkflowStateStore(tables["conversations"]),
        "contexts": DynamoDBCustomerContextStore(tables["customer_context"]),
    }
    if tool_failures:
        stores["tools"] = tool_factory(_FailingRetriever())
    return assemble_engine(dataclasses.replace(parts, **stores), clock=clock)
