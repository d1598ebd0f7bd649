"""Pending identity claims in the customer_context table, beside the profile of the identity that made them.

Item: pk = "<tenant_id>#<identity>", sk = "CLAIM"; the claim's fields, its expiry as `claim_expires_at` (ISO) and
`expires_at` (epoch seconds, the table's TTL), so an unanswered claim disappears by itself (expiry is also checked on
read: TTL deletion can lag).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from oratio.adapters.dynamodb import CorruptItemError, _deserialize, _DynamoDBAdapter, _serialize
from oratio.customers.ports import PendingClaim

CLAIM_SK = "CLAIM"


def _key(tenant_id: str, identity: str) -> dict[str, Any]:
    return {"pk": {"S": f"{tenant_id}#{identity}"}, "sk": {"S": CLAIM_SK}}


class DynamoDBClaimStore(_DynamoDBAdapter):
    def __init__(self, customer_context_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = customer_context_table

    async def get(self, tenant_id: str, identity: str) -> PendingClaim | None:
        response = await asyncio.to_thread(
            self._call,
            "get_item",
            self._table,
            TableName=self._table,
            Key=_key(tenant_id, identity),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        stored = _deserialize(item)
        fields = {k: stored[k] for k in PendingClaim.model_fields if k in stored and k != "expires_at"}
        try:
            return PendingClaim.model_validate(
                {**fields, "attempts": int(stored["attempts"]), "expires_at": stored["claim_expires_at"]}
            )
        except (KeyError, ValidationError) as e:
            raise CorruptItemError(f"claim item {stored.get('pk')} is invalid") from e

    async def put(self, tenant_id: str, claim: PendingClaim) -> None:
        item = {
            "pk": f"{tenant_id}#{claim.identity}",
            "sk": CLAIM_SK,
            **claim.model_dump(mode="json", exclude={"expires_at"}),
            "claim_expires_at": claim.expires_at.isoformat(),
            "expires_at": int(claim.expires_at.timestamp()),
        }
        await asyncio.to_thread(self._call, "put_item", self._table, TableName=self._table, Item=_serialize(item))

    async def count_attempt(self, tenant_id: str, claim: PendingClaim) -> None:
        await asyncio.to_thread(
            self._conditional,
            "update_item",
            self._table,
            TableName=self._table,
            Key=_key(tenant_id, claim.identity),
            UpdateExpression="SET attempts = attempts + :one",
            ConditionExpression="attempts = :seen AND digest = :digest",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":seen": {"N": str(claim.attempts)},
                ":digest": {"S": claim.digest},
            },
        )

    async def delete(self, tenant_id: str, identity: str) -> None:
        await asyncio.to_thread(
            self._call, "delete_item", self._table, TableName=self._table, Key=_key(tenant_id, identity)
        )
