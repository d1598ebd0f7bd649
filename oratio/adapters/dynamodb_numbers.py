"""The platform-wide number registry over DynamoDB (table `numbers`; access patterns in `oratio.tables`).

numbers   pk = "<e164>",      sk = "owner"          -> tenant_id, kind, claimed_by, claimed_at: who owns the number
          pk = "<tenant_id>", sk = "number#<e164>"  -> number, kind, claimed_by, claimed_at: the tenant's view

Both items are written and deleted in one transaction, the owner item conditioned on holding no other tenant, so a
number has at most one owner and a tenant's view never disagrees with it. The tenant stack's deploy-time claim
(`stacks/constructs/number_claims.py`) sends the same transaction as `claim_transaction` builds.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from oratio.adapters.dynamodb import (
    CorruptItemError,
    _cancellation_codes,
    _deserialize,
    _DynamoDBAdapter,
    _serialize,
    _translate,
)
from oratio.domain.numbers import NumberClaim, NumberOwnedElsewhere

OWNER_SK = "owner"
TENANT_NUMBER_SK_PREFIX = "number#"


def owner_key(number: str) -> dict[str, Any]:
    return {"pk": {"S": number}, "sk": {"S": OWNER_SK}}


def tenant_number_key(tenant_id: str, number: str) -> dict[str, Any]:
    return {"pk": {"S": tenant_id}, "sk": {"S": TENANT_NUMBER_SK_PREFIX + number}}


def _details(claim: NumberClaim) -> dict[str, Any]:
    return {
        "kind": claim.kind.value,
        "claimed_by": claim.claimed_by,
        "claimed_at": claim.claimed_at.isoformat() if claim.claimed_at else None,
    }


def claim_transaction(table: str, claim: NumberClaim) -> list[dict[str, Any]]:
    """The TransactItems that register `claim.number` to `claim.tenant_id`, unless another tenant holds it."""
    details = _details(claim)
    return [
        {
            "Put": {
                "TableName": table,
                "Item": {**owner_key(claim.number), **_serialize({"tenant_id": claim.tenant_id, **details})},
                "ConditionExpression": "attribute_not_exists(pk) OR tenant_id = :tenant",
                "ExpressionAttributeValues": {":tenant": {"S": claim.tenant_id}},
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {
                    **tenant_number_key(claim.tenant_id, claim.number),
                    **_serialize({"number": claim.number, **details}),
                },
            }
        },
    ]


def release_transaction(table: str, tenant_id: str, number: str) -> list[dict[str, Any]]:
    """The TransactItems that give `number` up, only if `tenant_id` owns it."""
    return [
        {
            "Delete": {
                "TableName": table,
                "Key": owner_key(number),
                "ConditionExpression": "tenant_id = :tenant",
                "ExpressionAttributeValues": {":tenant": {"S": tenant_id}},
            }
        },
        {"Delete": {"TableName": table, "Key": tenant_number_key(tenant_id, number)}},
    ]


class DynamoDBNumberRegistry(_DynamoDBAdapter):
    """`NumberRegistry` over the numbers table."""

    def __init__(self, numbers_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = numbers_table

    @classmethod
    def published(cls, parameter: str) -> DynamoDBNumberRegistry:
        """The registry whose table name the platform stack published in the SSM `parameter` (operator tools)."""
        import boto3

        name = boto3.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
        return cls(str(name))

    def owns(self, tenant_id: str, number: str) -> bool:
        # The tenant's own item: a read under the tenant's key, so IAM can pin a tenant's functions to it.
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key=tenant_number_key(tenant_id, number),
            ConsistentRead=True,
        )
        return "Item" in response

    def is_registered(self, number: str) -> bool:
        response = self._call(
            "get_item", self._table, TableName=self._table, Key=owner_key(number), ConsistentRead=True
        )
        return "Item" in response

    def claim(self, claim: NumberClaim) -> None:
        try:
            self._client.transact_write_items(TransactItems=claim_transaction(self._table, claim))
        except ClientError as e:
            codes = _cancellation_codes(e)
            if codes and codes[0] == "ConditionalCheckFailed":
                raise NumberOwnedElsewhere(claim.number) from e
            raise _translate(e, "transact_write_items", self._table) from e
        except BotoCoreError as e:
            raise _translate(e, "transact_write_items", self._table) from e

    def release(self, tenant_id: str, number: str) -> bool:
        try:
            self._client.transact_write_items(TransactItems=release_transaction(self._table, tenant_id, number))
        except ClientError as e:
            codes = _cancellation_codes(e)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False
            raise _translate(e, "transact_write_items", self._table) from e
        except BotoCoreError as e:
            raise _translate(e, "transact_write_items", self._table) from e
        return True

    def numbers_of(self, tenant_id: str) -> list[NumberClaim]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :tenant AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":tenant": {"S": tenant_id}, ":prefix": {"S": TENANT_NUMBER_SK_PREFIX}},
            "ConsistentRead": True,
        }
        claims: list[NumberClaim] = []
        while True:
            response = self._call("query", self._table, **request)
            for raw in response.get("Items", []):
                item = _deserialize(raw)
                try:
                    claims.append(
                        NumberClaim(
                            number=item["number"],
                            tenant_id=tenant_id,
                            kind=item["kind"],
                            claimed_by=item["claimed_by"],
                            claimed_at=item.get("claimed_at"),
                        )
                    )
                except (KeyError, ValidationError) as e:
                    raise CorruptItemError(f"number item {tenant_id}/{item.get('sk')} is invalid") from e
            if "LastEvaluatedKey" not in response:
                return sorted(claims, key=lambda c: c.number)
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}
