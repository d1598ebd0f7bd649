"""moto under concurrent writers, as the tests and local runs use it (`oratio_local.moto_serial`): concurrent
transactions all count, as they do on DynamoDB (which serializes them), instead of rolling back each other."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

WRITERS = 8
CHARGES_EACH = 15


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="usage",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _charge(client: Any, writer: int, n: int) -> None:
    """One charge as the budget ledger books it: a marker put only if absent, and an ADD into the total."""
    client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": "usage",
                    "Item": {"pk": {"S": "t"}, "sk": {"S": f"CHARGE#{writer}-{n}"}},
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            },
            {
                "Update": {
                    "TableName": "usage",
                    "Key": {"pk": {"S": "t"}, "sk": {"S": "total"}},
                    "UpdateExpression": "ADD usd :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )


def test_concurrent_transactions_all_count(table: Any) -> None:
    # Given writers on their own threads, each booking charges into the same total
    def write(writer: int) -> None:
        for n in range(CHARGES_EACH):
            _charge(table, writer, n)

    # When they all run at once
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
    # Then every charge is in the total and every marker is stored: none was rolled back by another's
    total = table.get_item(TableName="usage", Key={"pk": {"S": "t"}, "sk": {"S": "total"}})["Item"]["usd"]["N"]
    markers = table.query(
        TableName="usage",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
        ExpressionAttributeValues={":pk": {"S": "t"}, ":c": {"S": "CHARGE#"}},
    )["Count"]
    assert (int(total), markers) == (WRITERS * CHARGES_EACH, WRITERS * CHARGES_EACH)
