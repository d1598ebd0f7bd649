"""`AgentShares` over DynamoDB: an agent's own monthly budget and its month so far, in ONE BatchGetItem (the call
router's latency budget allows one extra read at dialling):

usage              pk = tenant_id, sk = "<YYYY-MM>#agent#<agent_id>"   `usd`: what the ledger added for the agent
agent_definitions  pk = "<tenant_id>#<agent_id>", sk = "V#<live>"      `spec`: only its `definition.models
                                                                        .monthly_budget_usd` is read

Both consistent reads (a share just published, or spend just booked, counts at once). Anything the batch leaves
unprocessed, or a spec that does not parse, raises: the router then routes on the tenant's budget alone.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oratio.adapters.dynamodb import CorruptItemError, DataUnavailableError, _deserialize, _DynamoDBAdapter
from oratio.adapters.memory_agent import USAGE_AGENT, usage_period
from oratio.agent_definitions.dynamodb import definition_pk, version_sk
from oratio.ports import AgentShare


class _Models(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    monthly_budget_usd: float | None = Field(default=None, gt=0)


class _Definition(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    models: _Models | None = None


class _ShareOfSpec(BaseModel):
    """The one field of a stored `AgentSpec` the router needs (the rest is the tenant agent's business)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    definition: _Definition = _Definition()


class DynamoDBAgentShares(_DynamoDBAdapter):
    def __init__(self, usage_table: str, definitions_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._usage = usage_table
        self._definitions = definitions_table

    def share(self, tenant_id: str, agent_id: str, live_version: int, at: datetime) -> AgentShare | None:
        usage_key = {"pk": {"S": tenant_id}, "sk": {"S": f"{usage_period(at)}#{USAGE_AGENT}#{agent_id}"}}
        version_key = {"pk": {"S": definition_pk(tenant_id, agent_id)}, "sk": {"S": version_sk(live_version)}}
        response = self._call(
            "batch_get_item",
            self._usage,
            RequestItems={
                self._usage: {"Keys": [usage_key], "ConsistentRead": True, "ProjectionExpression": "usd"},
                self._definitions: {"Keys": [version_key], "ConsistentRead": True, "ProjectionExpression": "spec"},
            },
        )
        if response.get("UnprocessedKeys"):
            raise DataUnavailableError(f"batch_get_item on {self._usage}: keys left unprocessed (throttled)")
        found = response.get("Responses", {})
        versions = found.get(self._definitions, [])
        if not versions:
            raise CorruptItemError(f"live version {live_version} of {tenant_id}/{agent_id} is missing")
        try:
            models = _ShareOfSpec.model_validate(json.loads(_deserialize(versions[0])["spec"])).definition.models
        except (KeyError, ValueError, ValidationError) as e:
            raise CorruptItemError(f"live version {live_version} of {tenant_id}/{agent_id} has no valid spec") from e
        if models is None or models.monthly_budget_usd is None:
            return None
        rows = found.get(self._usage, [])
        spent = float(_deserialize(rows[0]).get("usd", 0)) if rows else 0.0
        return AgentShare(monthly_budget_usd=models.monthly_budget_usd, month_to_date_usd=spent)
