"""A conversation's cost and one-time claims in the conversations table.

- `DynamoDBCallCosts` (`CallCosts`): the call's COST item (pk = "<tenant_id>#<contact_id>", sk = "COST"), whose
  `total_usd` every metered spend of the call was added to (`DynamoDBBudgetLedger` with a session), read
  consistently; its "cost#<category>#<item>" numbers are the breakdown.
- `DynamoDBOnceClaims` (`ChargeOnce`): sk = "ONCE#<action>", put only if absent, so a redelivered contact
  event meters its minutes (or is analysed) once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from oratio.adapters.dynamodb import _deserialize, _DynamoDBAdapter
from oratio.adapters.dynamodb_agent import COST_SK, cost_lines_from_item
from oratio.domain.call_routing import DEFAULT_RETENTION_DAYS

ONCE_SK_PREFIX = "ONCE#"


class DynamoDBCallCosts(_DynamoDBAdapter):
    def __init__(self, conversations_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = conversations_table

    def _cost_item(self, tenant_id: str, contact_id: str) -> dict[str, Any]:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": f"{tenant_id}#{contact_id}"}, "sk": {"S": COST_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _deserialize(item) if item else {}

    def total_usd(self, tenant_id: str, contact_id: str) -> float:
        """Everything metered for the call so far (0 when nothing was)."""
        return float(self._cost_item(tenant_id, contact_id).get("total_usd", 0))

    def lines(self, tenant_id: str, contact_id: str) -> dict[str, float]:
        """The call's breakdown: "<category>#<item>" → USD."""
        return cost_lines_from_item(self._cost_item(tenant_id, contact_id))


class DynamoDBOnceClaims(_DynamoDBAdapter):
    def __init__(
        self, conversations_table: str, retention_days: int = DEFAULT_RETENTION_DAYS, client: Any | None = None
    ) -> None:
        super().__init__(client)
        self._table = conversations_table
        self._retention_days = retention_days

    def claim(self, tenant_id: str, contact_id: str, action: str) -> bool:
        now = datetime.now(UTC)
        applied, _ = self._conditional(
            "put_item",
            self._table,
            TableName=self._table,
            Item={
                "pk": {"S": f"{tenant_id}#{contact_id}"},
                "sk": {"S": f"{ONCE_SK_PREFIX}{action}"},
                "claimed_at": {"S": now.isoformat()},
                "expires_at": {"N": str(int((now + timedelta(days=self._retention_days)).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return applied
