"""Circuit breaker records in the tenant_state table (`BreakerStore`), written with compare-and-set.

Item layout (access patterns in `oratio.tables`): pk = tenant_id, sk = "breaker#<dependency>"; attributes
`dependency`, `state`, `failures`, `opened_at`, `trial_until`, `last_error`, `updated_at` (ISO 8601) and
`version` (a number every write increments). A write is conditioned on the version it read
(`attribute_not_exists(sk)` for the first one), so of two Lambdas writing at once one wins and the other
re-reads: the record is never a mix of both. All of a tenant's breakers come back in one consistent Query.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from oratio.adapters.dynamodb import CorruptItemError, _deserialize, _serialize
from oratio.adapters.dynamodb_agent import _AsyncDynamoDBAdapter
from oratio.domain.circuit_breaker import BreakerRecord

BREAKER_SK_PREFIX = "breaker#"


def breaker_sk(dependency: str) -> str:
    return f"{BREAKER_SK_PREFIX}{dependency}"


def breaker_to_item(tenant_id: str, record: BreakerRecord) -> dict[str, Any]:
    """The tenant_state item of a breaker record (None values are left out)."""
    return {
        "pk": tenant_id,
        "sk": breaker_sk(record.dependency),
        "dependency": record.dependency,
        "state": record.state.value,
        "failures": record.failures,
        "opened_at": record.opened_at.isoformat() if record.opened_at else None,
        "trial_until": record.trial_until.isoformat() if record.trial_until else None,
        "last_error": record.last_error,
        "updated_at": record.updated_at.isoformat() if record.updated_at else None,
        "version": record.version,
    }


def breaker_from_item(item: dict[str, Any]) -> BreakerRecord:
    fields = {name: item[name] for name in BreakerRecord.model_fields if name in item}
    for name in ("failures", "version"):
        if name in fields:
            fields[name] = int(fields[name])
    try:
        return BreakerRecord.model_validate(fields)
    except ValidationError as e:
        raise CorruptItemError(f"breaker item {item.get('pk')}/{item.get('sk')} is invalid") from e


class DynamoDBBreakerStore(_AsyncDynamoDBAdapter):
    """`BreakerStore` over the tenant_state table."""

    def __init__(self, tenant_state_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = tenant_state_table

    async def load_all(self, tenant_id: str) -> dict[str, BreakerRecord]:
        response = await self._acall(
            "query",
            self._table,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": tenant_id}, ":prefix": {"S": BREAKER_SK_PREFIX}},
            ConsistentRead=True,
        )
        records = [breaker_from_item(_deserialize(item)) for item in response.get("Items", [])]
        return {record.dependency: record for record in records}

    async def load(self, tenant_id: str, dependency: str) -> BreakerRecord | None:
        response = await self._acall(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": tenant_id}, "sk": {"S": breaker_sk(dependency)}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return breaker_from_item(_deserialize(item)) if item else None

    async def save(self, tenant_id: str, record: BreakerRecord, expected_version: int) -> bool:
        return await asyncio.to_thread(self._save, tenant_id, record, expected_version)

    def _save(self, tenant_id: str, record: BreakerRecord, expected_version: int) -> bool:
        request: dict[str, Any] = {"TableName": self._table, "Item": _serialize(breaker_to_item(tenant_id, record))}
        if expected_version == 0:
            request["ConditionExpression"] = "attribute_not_exists(sk)"
        else:
            request["ConditionExpression"] = "#version = :expected"
            request["ExpressionAttributeNames"] = {"#version": "version"}
            request["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        applied, _ = self._conditional("put_item", self._table, **request)
        return applied
