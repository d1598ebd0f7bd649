"""TenantStack → CallSlotReconciler: a schedule runs the reconciler at the tenant's lease length, and its role may
query only this tenant's entries of the lease index, close only this tenant's sessions and update only its
counter. The other functions that free expired slots (the router, the telephony webhook) get the same narrow
index access."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from oratio.config import load_tenant_file
from stacks.constructs.call_reconciler import reconcile_every_minutes
from tests.infra.test_tenant_call_events import TENANT, _dynamodb_statements, _only
from tests.integration.voice_bridge_harness import TENANTS

TENANT_CONFIG = load_tenant_file(TENANTS / f"{TENANT}.yaml")


def _function_id(template: Template, service: str) -> str:
    functions = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": service})}}},
    )
    assert len(functions) == 1, f"expected one {service} function"
    return next(iter(functions))


@pytest.fixture(scope="module")
def function_id(tenant_template: Template) -> str:
    return _function_id(tenant_template, "call_reconciler")


def _grants(template: Template, function_id: str) -> dict[tuple[str, str], list[str]]:
    """(leading keys, table or index) → actions, for every DynamoDB statement of the function's role."""
    grants: dict[tuple[str, str], list[str]] = {}
    for statement in _dynamodb_statements(template, function_id):
        keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        resource = str(statement["Resource"])
        where = "by_lease index" if "/index/by_lease" in resource else "table"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        grants.setdefault((",".join(str(k) for k in keys), where), []).extend(sorted(actions))
    return grants


def test_a_schedule_runs_the_reconciler_once_per_lease_length(tenant_template: Template, function_id: str) -> None:
    minutes = reconcile_every_minutes(TENANT_CONFIG)
    assert minutes == TENANT_CONFIG.limits.call_slots.lease_seconds // 60
    rule_id, rule = _only(tenant_template, "AWS::Events::Rule", {"ScheduleExpression": f"rate({minutes} minutes)"})
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0  # the next run repeats the work
    tenant_template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_the_reconciler_knows_its_tenant_and_tables(tenant_template: Template, function_id: str) -> None:
    variables = tenant_template.to_json()["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    assert variables["ORATIO_TENANT_ID"] == TENANT
    assert {"ORATIO_TABLE_CONVERSATIONS", "ORATIO_TABLE_TENANT_STATE"} <= variables.keys()
    assert "ORATIO_TABLE_AGENTS" not in variables


def test_the_reconciler_may_touch_only_this_tenants_sessions_index_entries_and_counter(
    tenant_template: Template, function_id: str
) -> None:
    assert _grants(tenant_template, function_id) == {
        (TENANT, "by_lease index"): ["dynamodb:Query"],
        (f"{TENANT}#*", "table"): ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        (TENANT, "table"): ["dynamodb:UpdateItem"],
    }
    statements = _dynamodb_statements(tenant_template, function_id)
    assert all("*" not in str(s["Resource"]).replace("/index/by_lease", "") for s in statements)


@pytest.mark.parametrize("service", ["call_router", "voice_webhook"])
def test_functions_that_free_expired_slots_at_admission_query_only_this_tenants_lease_entries(
    tenant_template: Template, service: str
) -> None:
    grants = _grants(tenant_template, _function_id(tenant_template, service))
    assert grants[(TENANT, "by_lease index")] == ["dynamodb:Query"]
    assert "dynamodb:UpdateItem" in grants[(f"{TENANT}#*", "table")]


def test_the_conversations_table_has_a_keys_only_lease_index_sorted_by_expiry(platform_template: Template) -> None:
    tables = platform_template.find_resources("AWS::DynamoDB::Table")
    [conversations] = [t for t in tables.values() if "by_lease" in str(t["Properties"].get("GlobalSecondaryIndexes"))]
    properties: dict[str, Any] = conversations["Properties"]
    [index] = [i for i in properties["GlobalSecondaryIndexes"] if i["IndexName"] == "by_lease"]
    assert index["KeySchema"] == [
        {"AttributeName": "lease_tenant", "KeyType": "HASH"},
        {"AttributeName": "lease_expires_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert {"AttributeName": "lease_expires_at", "AttributeType": "N"} in properties["AttributeDefinitions"]
