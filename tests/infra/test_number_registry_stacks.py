"""The platform's number registry in the templates: the table in the platform stack, the tenant stack's
deploy-time claims (Connect number, tenant-file bridge numbers) with least-privilege policies, and the read-only,
tenant-scoped grants of the functions that answer calls."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from oratio.adapters.dynamodb_numbers import OWNER_SK, TENANT_NUMBER_SK_PREFIX
from oratio.config import load_tenant_file
from oratio.tables import NUMBERS
from stacks.app_builder import TENANTS_DIR, new_app
from stacks.constructs.data_tables import PlatformTableRefs
from stacks.constructs.number_claims import NumberClaims

TENANT = "cozy-comfort"
BRIDGE_NUMBERS = ("+15559870000", "+447700900123")
# How a tenant template refers to the registry: the SSM parameter holding its name.
REGISTRY_REF = "SsmParameterValueoratioplatformtablesnumbersname"


def _resources(template: Template, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(kind)
    return found


def _claims(template: Template) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in _resources(template, "Custom::AWS").values()
        if "transactWriteItems" in json.dumps(r["Properties"]["Create"])
    ]


def _statements(template: Template) -> list[dict[str, Any]]:
    return [
        s
        for policy in _resources(template, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


@pytest.fixture(scope="module")
def bridge_template() -> Template:
    """The claims of a tenant whose file lists two bridge numbers, in a stack of their own (no full synth)."""
    tenant = load_tenant_file(TENANTS_DIR / f"{TENANT}.yaml")
    tenant = tenant.model_copy(update={"voice": tenant.voice.model_copy(update={"bridge_numbers": BRIDGE_NUMBERS})})
    stack = Stack(new_app(), "Claims")
    NumberClaims(
        stack, "Numbers", tenant=tenant, tables=PlatformTableRefs(stack, "Tables"), connect_number="+15550001111"
    )
    return Template.from_stack(stack)


def test_the_platform_keeps_one_number_registry_with_point_in_time_recovery(platform_template: Template) -> None:
    platform_template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": f"/oratio/platform/tables/{NUMBERS.key}/name"}
    )
    tables = _resources(platform_template, "AWS::DynamoDB::Table")
    (registry,) = [t for k, t in tables.items() if k.startswith("DataNumbersTable")]
    assert registry["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert registry["Properties"]["DeletionProtectionEnabled"] is True
    assert registry["DeletionPolicy"] == "Retain"


def test_the_tenant_stack_claims_its_connect_number_with_a_conditional_transaction(tenant_template: Template) -> None:
    (number_id,) = _resources(tenant_template, "AWS::Connect::PhoneNumber")
    (claim,) = _claims(tenant_template)
    create = json.dumps(claim["Create"])
    assert number_id in create
    assert "attribute_not_exists(pk) OR tenant_id = :tenant" in create
    assert f'\\"{OWNER_SK}\\"' in create
    assert TENANT_NUMBER_SK_PREFIX in create
    assert f'\\":tenant\\":{{\\"S\\":\\"{TENANT}\\"}}' in create
    assert claim["Update"] == claim["Create"]
    delete = json.dumps(claim["Delete"])
    assert "transactWriteItems" in delete
    assert "tenant_id = :tenant" in delete
    assert "TransactionCanceledException" in delete  # released meanwhile by the operator: nothing to undo


def test_the_claims_policy_writes_only_this_numbers_and_this_tenants_registry_items(tenant_template: Template) -> None:
    (number_id,) = _resources(tenant_template, "AWS::Connect::PhoneNumber")
    writes = [
        s for s in _statements(tenant_template) if sorted(s["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
    ]
    assert len(writes) == 1
    keys = writes[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert keys == [{"Fn::GetAtt": [number_id, "Address"]}, TENANT]
    assert REGISTRY_REF in json.dumps(writes[0]["Resource"])


def test_each_bridge_number_of_the_tenant_file_is_claimed_for_the_tenant(bridge_template: Template) -> None:
    claims = _claims(bridge_template)
    assert len(claims) == 1 + len(BRIDGE_NUMBERS)
    creates = [json.dumps(c["Create"]) for c in claims]
    for number in BRIDGE_NUMBERS:
        (create,) = [c for c in creates if number in c]
        assert '\\"kind\\":{\\"S\\":\\"bridge\\"}' in create
    policies = [
        s for s in _statements(bridge_template) if sorted(s["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
    ]
    assert sorted(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"][0] for s in policies) == sorted(
        ("+15550001111", *BRIDGE_NUMBERS)
    )


@pytest.mark.parametrize("function", ["CallRouter", "VoiceBridgeWebhook"])
def test_call_answering_functions_may_only_read_their_own_tenants_registry_items(
    tenant_template: Template, function: str
) -> None:
    functions = _resources(tenant_template, "AWS::Lambda::Function")
    (logical_id,) = [k for k in functions if k.startswith(function) and "Role" not in k]
    env = functions[logical_id]["Properties"]["Environment"]["Variables"]
    assert NUMBERS.env_var in env
    role = functions[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in _resources(tenant_template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if REGISTRY_REF in json.dumps(s["Resource"])
    ]
    assert len(statements) == 1
    assert statements[0]["Action"] == "dynamodb:GetItem"
    assert statements[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [TENANT]}}


def test_the_vendor_api_may_only_read_the_registry(platform_template: Template) -> None:
    statements = [
        s
        for policy in _resources(platform_template, "AWS::IAM::Policy").values()
        if any("VendorApiHandlerRole" in r["Ref"] for r in policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    tables = _resources(platform_template, "AWS::DynamoDB::Table")
    (registry,) = [k for k in tables if k.startswith("DataNumbersTable")]
    on_registry = [s for s in statements if registry in json.dumps(s["Resource"])]
    assert [s["Action"] for s in on_registry] == ["dynamodb:GetItem"]
