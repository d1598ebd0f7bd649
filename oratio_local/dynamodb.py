"""Local DynamoDB: every Oratio table created (keys, GSIs, TTL) exactly as `oratio.tables` describes
it, in whatever DynamoDB the client points at (moto in the demo and the tests)."""

from __future__ import annotations

from typing import Any

from oratio.tables import ALL_TABLES, TableSpec

LOCAL_TABLE_PREFIX = "oratio-local-"


def table_name(spec: TableSpec, prefix: str = LOCAL_TABLE_PREFIX) -> str:
    return f"{prefix}{spec.key}"


def create_tables(
    dynamodb_client: Any, specs: tuple[TableSpec, ...] = ALL_TABLES, prefix: str = LOCAL_TABLE_PREFIX
) -> dict[str, str]:
    """Create the tables; returns spec key -> table name."""
    names: dict[str, str] = {}
    for spec in specs:
        key_attributes = spec.key_attribute_types
        request: dict[str, Any] = {
            "TableName": table_name(spec, prefix),
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": spec.partition_key, "KeyType": "HASH"},
                {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": kind} for name, kind in sorted(key_attributes.items())
            ],
        }
        if spec.indexes:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index.name,
                    "KeySchema": [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
                    + ([{"AttributeName": index.sort_key, "KeyType": "RANGE"}] if index.sort_key else []),
                    "Projection": {"ProjectionType": "KEYS_ONLY" if index.keys_only else "ALL"},
                }
                for index in spec.indexes
            ]
        dynamodb_client.create_table(**request)
        if spec.ttl_attribute:
            dynamodb_client.update_time_to_live(
                TableName=table_name(spec, prefix),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        names[spec.key] = table_name(spec, prefix)
    return names


def create_idempotency_table(dynamodb_client: Any, name: str) -> str:
    """The vendor API's idempotency table (Powertools' DynamoDBPersistenceLayer: partition key `id`), as
    stacks/constructs/vendor_api.py creates it."""
    dynamodb_client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name
