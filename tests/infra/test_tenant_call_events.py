"""TenantStack → CallEventProcessor: Connect's DISCONNECTED contact events reach the call-events function,
failures land in an encrypted, TLS-only dead-letter queue, and the function may touch only the tenant's items."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

TENANT = "cozy-comfort"


def _only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(resource_type, {"Properties": Match.object_like(props or {})})
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def function_id(tenant_template: Template) -> str:
    functions = tenant_template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": "call_events"})}}},
    )
    assert len(functions) == 1
    return next(iter(functions))


@pytest.fixture(scope="module")
def rule(tenant_template: Template) -> dict[str, Any]:
    _, found = _only(
        tenant_template, "AWS::Events::Rule", {"EventPattern": Match.object_like({"source": ["aws.connect"]})}
    )
    return found["Properties"]


@pytest.fixture(scope="module")
def dead_letter_queue_id(rule: dict[str, Any]) -> str:
    target = rule["Targets"][0]
    return str(target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])


def test_rule_matches_only_disconnected_contact_events_of_the_tenants_instance(
    tenant_template: Template, rule: dict[str, Any]
) -> None:
    instance_id, _ = _only(tenant_template, "AWS::Connect::Instance")
    assert rule["State"] == "ENABLED"
    assert rule["EventPattern"] == {
        "source": ["aws.connect"],
        "detail-type": ["Amazon Connect Contact Event"],
        "detail": {"instanceArn": [{"Fn::GetAtt": [instance_id, "Arn"]}], "eventType": ["DISCONNECTED"]},
    }


def test_rule_targets_the_call_events_function_with_retries_and_a_dead_letter_queue(
    tenant_template: Template, rule: dict[str, Any], function_id: str, dead_letter_queue_id: str
) -> None:
    target = next(t for t in rule["Targets"] if t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]})
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert 0 < target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 24 * 3600
    assert tenant_template.to_json()["Resources"][dead_letter_queue_id]["Type"] == "AWS::SQS::Queue"
    # And EventBridge may invoke the function for this rule only
    rule_id, _ = _only(
        tenant_template, "AWS::Events::Rule", {"EventPattern": Match.object_like({"source": ["aws.connect"]})}
    )
    tenant_template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        },
    )


def test_failed_invocations_are_retried_then_sent_to_the_same_dead_letter_queue(
    tenant_template: Template, function_id: str, dead_letter_queue_id: str
) -> None:
    _, config = _only(tenant_template, "AWS::Lambda::EventInvokeConfig", {"FunctionName": {"Ref": function_id}})
    props = config["Properties"]
    assert props["MaximumRetryAttempts"] == 2
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [dead_letter_queue_id, "Arn"]}


def test_dead_letter_queue_is_encrypted_tls_only_and_keeps_messages_two_weeks(
    tenant_template: Template, dead_letter_queue_id: str
) -> None:
    queue = tenant_template.to_json()["Resources"][dead_letter_queue_id]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    tenant_template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": dead_letter_queue_id}],
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                }
            ),
        },
    )


def test_function_knows_its_tenant_instance_and_tables(tenant_template: Template, function_id: str) -> None:
    instance_id, _ = _only(tenant_template, "AWS::Connect::Instance")
    variables = tenant_template.to_json()["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    assert variables["ORATIO_TENANT_ID"] == TENANT
    assert variables["ORATIO_CONNECT_INSTANCE_ARN"] == {"Fn::GetAtt": [instance_id, "Arn"]}
    assert {"ORATIO_TABLE_CONVERSATIONS", "ORATIO_TABLE_TENANT_STATE"} <= variables.keys()
    assert "ORATIO_TABLE_AGENTS" not in variables


def _dynamodb_statements(tenant_template: Template, function_id: str) -> list[dict[str, Any]]:
    role_id = tenant_template.to_json()["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = tenant_template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    return [s for s in statements if any(str(a).startswith("dynamodb:") for a in _as_list(s["Action"]))]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_function_may_only_read_and_update_the_tenants_own_items(tenant_template: Template, function_id: str) -> None:
    statements = _dynamodb_statements(tenant_template, function_id)
    by_leading_keys = {
        tuple(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]): sorted(_as_list(s["Action"]))
        for s in statements
    }
    # Every DynamoDB statement is conditioned on the tenant's keys, and none grants more than item access
    assert all("Condition" in s for s in statements)
    assert by_leading_keys == {
        (f"{TENANT}#*",): ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        # the usage ledger: a charge is one transaction putting its once-only marker and adding to the totals
        (TENANT,): ["dynamodb:PutItem", "dynamodb:UpdateItem"],
    }
    assert all("*" not in str(s["Resource"]) for s in statements)


def test_the_same_rule_starts_the_post_call_analysis_with_the_same_dead_letter_queue(
    tenant_template: Template, rule: dict[str, Any], function_id: str, dead_letter_queue_id: str
) -> None:
    analysis_id, analysis = _only(
        tenant_template,
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": "post_call_analysis"})}},
    )
    [target] = [t for t in rule["Targets"] if t["Arn"] == {"Fn::GetAtt": [analysis_id, "Arn"]}]
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] == dead_letter_queue_id
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    profile = analysis["Properties"]["Environment"]["Variables"]["ORATIO_ANALYSIS_PROFILE"]
    assert '"analysis_model":"nova-micro"' in profile
    # It may invoke the analysis model only (through its inference profile)
    tenant_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "InvokeTheAnalysisModel",
                                "Resource": Match.string_like_regexp(r"inference-profile/us\.amazon\.nova-micro"),
                            }
                        )
                    ]
                )
            }
        },
    )


def test_the_analysis_may_read_only_this_tenants_agents_and_definitions_for_their_lead_fields(
    tenant_template: Template,
) -> None:
    from oratio.tables import AGENT_DEFINITIONS, AGENTS

    analysis_id, analysis = _only(
        tenant_template,
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": "post_call_analysis"})}},
    )
    variables = analysis["Properties"]["Environment"]["Variables"]
    assert AGENTS.env_var in variables
    assert AGENT_DEFINITIONS.env_var in variables
    reads = {
        ",".join(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        for s in _dynamodb_statements(tenant_template, analysis_id)
        if _as_list(s["Action"]) == ["dynamodb:GetItem"]
    }
    assert reads == {TENANT, f"{TENANT}#*"}  # the agent's item (status, live version); its versions
