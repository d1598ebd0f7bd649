"""PlatformStack: tables with the designed keys, PITR and encryption; the artifact bucket; logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from oratio.tables import ALL_TABLES, TableSpec
from stacks.names import PLATFORM_STACK_ID, platform_table_name_parameter


def _table(template: Template, spec: TableSpec) -> dict:
    key_schema = [
        {"AttributeName": spec.partition_key, "KeyType": "HASH"},
        {"AttributeName": spec.sort_key, "KeyType": "RANGE"},
    ]
    tables = template.find_resources("AWS::DynamoDB::Table")
    matching = [
        t
        for t in tables.values()
        if t["Properties"]["KeySchema"] == key_schema
        and {i["IndexName"] for i in t["Properties"].get("GlobalSecondaryIndexes", [])}
        == {i.name for i in spec.indexes}
        and (t["Properties"].get("TimeToLiveSpecification", {}).get("AttributeName") == spec.ttl_attribute)
    ]
    assert matching, f"no table for {spec.key}"
    return matching[0]


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda s: s.key)
def test_every_table_has_pitr_encryption_and_is_retained(platform_template: Template, spec: TableSpec) -> None:
    table = _table(platform_template, spec)
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_phone_number_index_is_keys_only_and_status_index_sorts_by_creation(
    platform_template: Template,
) -> None:
    from oratio.tables import AGENTS

    indexes = {i["IndexName"]: i for i in _table(platform_template, AGENTS)["Properties"]["GlobalSecondaryIndexes"]}
    assert indexes["by_phone_number"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert indexes["by_phone_number"]["KeySchema"] == [{"AttributeName": "phone_number", "KeyType": "HASH"}]
    assert indexes["by_status"]["KeySchema"] == [
        {"AttributeName": "vendor_status", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ]


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda s: s.key)
def test_table_names_are_published_for_tenant_stacks(platform_template: Template, spec: TableSpec) -> None:
    platform_template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": platform_table_name_parameter(spec.key), "Type": "String"}
    )


def test_artifact_bucket_is_versioned_encrypted_private_and_tls_only(platform_template: Template) -> None:
    platform_template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()}),
        },
    )
    platform_template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_every_log_group_in_the_app_has_retention(synthesized) -> None:  # type: ignore[no-untyped-def]
    for artifact in synthesized.assembly.stacks:
        for name, resource in artifact.template["Resources"].items():
            if resource["Type"] == "AWS::Logs::LogGroup":
                assert resource["Properties"].get("RetentionInDays"), f"{artifact.stack_name}/{name}"


def test_no_function_role_may_change_or_delete_audit_entries(synthesized: Any) -> None:
    # Every policy of every stack: none grants UpdateItem, DeleteItem (or a wildcard) on the audit table
    from oratio.tables import AUDIT

    platform = synthesized.stack(PLATFORM_STACK_ID).template
    [audit_id] = [
        logical
        for logical, resource in platform["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table" and logical.startswith("DataAuditTable")
    ]
    writers = []
    for stack in synthesized.assembly.stacks:
        for resource in stack.template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if audit_id in json.dumps(statement.get("Resource")) or statement.get("Resource") == "*":
                    writers.extend(actions)
    assert writers, "the vendor API must be able to append to the audit table"
    assert not {a for a in writers if a in ("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:*", "*")}
    assert "dynamodb:PutItem" in writers
    assert AUDIT.key == "audit"
