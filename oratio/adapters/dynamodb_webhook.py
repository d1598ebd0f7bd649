"""The signed-webhook tokens already accepted (`TokenReplayCache`), in the tenant_state table, so that a
token replayed to another Lambda container of the webhook is refused too.

Item layout (access patterns in `oratio.tables`): pk = tenant_id, sk = "webhook-token#<jti>", `expires_at`
(the table's TTL attribute) = the last second the token could be accepted. DynamoDB deletes expired items
only eventually, so the write treats an expired item as absent instead of relying on the TTL.
"""

from __future__ import annotations

from typing import Any

from oratio.adapters.dynamodb import _DynamoDBAdapter

WEBHOOK_TOKEN_SK_PREFIX = "webhook-token#"  # noqa: S105 - a sort-key prefix, not a secret


class DynamoDBTokenReplayCache(_DynamoDBAdapter):
    """`TokenReplayCache` over the tenant_state table: one conditional write per accepted token."""

    def __init__(self, tenant_state_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = tenant_state_table

    def first_use(self, tenant_id: str, token_id: str, *, now: int, valid_until: int) -> bool:
        # UpdateItem creates the item when it is absent: the webhook needs no PutItem on the table.
        applied, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": tenant_id}, "sk": {"S": f"{WEBHOOK_TOKEN_SK_PREFIX}{token_id}"}},
            UpdateExpression="SET expires_at = :valid_until",
            ConditionExpression="attribute_not_exists(sk) OR expires_at < :now",
            ExpressionAttributeValues={":valid_until": {"N": str(valid_until)}, ":now": {"N": str(now)}},
        )
        return applied
