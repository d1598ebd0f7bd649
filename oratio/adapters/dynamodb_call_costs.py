"""A call's total cost from its TURN items in the conversations table (`CallCosts`), for closing the call record.

One Query on the call's partition (pk = "<tenant_id>#<contact_id>", sk begins with "TURN#"), projecting only
`cost_usd`, paginated. Turn costs are what the tenant agent (and the voice paths, for turns the agent never
saw) recorded per turn.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oratio.adapters.dynamodb import _DynamoDBAdapter

TURN_PREFIX = "TURN#"


class DynamoDBCallCosts(_DynamoDBAdapter):
    def __init__(self, conversations_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = conversations_table

    def total_usd(self, tenant_id: str, contact_id: str) -> float:
        total = Decimal(0)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"{tenant_id}#{contact_id}"}, ":prefix": {"S": TURN_PREFIX}},
            "ProjectionExpression": "cost_usd",
        }
        while True:
            response = self._call("query", self._table, **request)
            for item in response.get("Items", []):
                if "cost_usd" in item:
                    total += Decimal(item["cost_usd"]["N"])
            if "LastEvaluatedKey" not in response:
                return float(total)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
