"""TenantStack → ConnectCenter: the cozy-comfort tenant's Connect instance, storage, hours, queue,
number, inbound flow and the call router's integration, checked on the synthesized template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.names import Outputs, tenant_parameter

TENANT = "cozy-comfort"


# The inbound flow among the contact flows (the chat flow is the other).
INBOUND_FLOW = {"Type": "CONTACT_FLOW", "Name": Match.string_like_regexp("inbound")}


def _only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> tuple[str, dict]:
    found = template.find_resources(resource_type, {"Properties": Match.object_like(props or {})})
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.items()))


def _logical_id_of_getatt(value: dict[str, Any]) -> str:
    return str(value["Fn::GetAtt"][0])


@pytest.fixture(scope="module")
def instance_id(tenant_template: Template) -> str:
    return _only(tenant_template, "AWS::Connect::Instance")[0]


@pytest.fixture(scope="module")
def router_arn(tenant_template: Template) -> dict[str, Any]:
    """The call router's ARN as the integration association references it (a GetAtt)."""
    found = tenant_template.find_resources(
        "AWS::Connect::IntegrationAssociation",
        {"Properties": Match.object_like({"IntegrationType": "LAMBDA_FUNCTION"})},
    )
    arns = [a["Properties"]["IntegrationArn"] for a in found.values()]
    (arn,) = [a for a in arns if _logical_id_of_getatt(a).startswith("CallRouter")]
    return dict(arn)


def test_instance_is_connect_managed_with_calls_and_flow_logs_enabled(tenant_template: Template) -> None:
    tenant_template.has_resource_properties(
        "AWS::Connect::Instance",
        {
            "IdentityManagementType": "CONNECT_MANAGED",
            "InstanceAlias": "cozy-comfort-bedding",
            "Attributes": Match.object_like({"InboundCalls": True, "OutboundCalls": True, "ContactflowLogs": True}),
        },
    )


@pytest.mark.parametrize(
    ("resource_type", "prefix"),
    [("CALL_RECORDINGS", "call-recordings"), ("CHAT_TRANSCRIPTS", "chat-transcripts")],
)
def test_recordings_and_transcripts_go_to_the_kms_encrypted_bucket(
    tenant_template: Template, instance_id: str, resource_type: str, prefix: str
) -> None:
    _, storage = _only(tenant_template, "AWS::Connect::InstanceStorageConfig", {"ResourceType": resource_type})
    props = storage["Properties"]
    assert props["InstanceArn"] == {"Fn::GetAtt": [instance_id, "Arn"]}
    assert props["StorageType"] == "S3"
    s3_config = props["S3Config"]
    assert s3_config["BucketPrefix"] == prefix
    assert s3_config["EncryptionConfig"]["EncryptionType"] == "KMS"
    key_id = _logical_id_of_getatt(s3_config["EncryptionConfig"]["KeyId"])
    key = tenant_template.to_json()["Resources"][key_id]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    bucket = tenant_template.to_json()["Resources"][s3_config["BucketName"]["Ref"]]
    encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_recordings_bucket_is_versioned_private_logged_and_tls_only(tenant_template: Template) -> None:
    _, storage = _only(tenant_template, "AWS::Connect::InstanceStorageConfig", {"ResourceType": "CALL_RECORDINGS"})
    bucket_id = storage["Properties"]["S3Config"]["BucketName"]["Ref"]
    bucket = tenant_template.to_json()["Resources"][bucket_id]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "DestinationBucketName" in props["LoggingConfiguration"]
    tenant_template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                }
            ),
        },
    )


def test_hours_follow_the_business_hours_in_new_york_with_sunday_closed(tenant_template: Template) -> None:
    _, hours = _only(tenant_template, "AWS::Connect::HoursOfOperation")
    props = hours["Properties"]
    assert props["Name"] == "Store hours"
    assert props["TimeZone"] == "America/New_York"
    nine_to_six = {"StartTime": {"Hours": 9, "Minutes": 0}, "EndTime": {"Hours": 18, "Minutes": 0}}
    assert props["Config"] == [
        {"Day": day, **nine_to_six} for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")
    ]


def test_customer_queue_uses_the_store_hours_and_is_capped_at_the_tenant_call_limit(
    tenant_template: Template,
) -> None:
    hours_id, _ = _only(tenant_template, "AWS::Connect::HoursOfOperation")
    tenant_template.has_resource_properties(
        "AWS::Connect::Queue",
        {
            "Name": "Customer Care",
            "HoursOfOperationArn": {"Fn::GetAtt": [hours_id, "HoursOfOperationArn"]},
            "MaxContacts": 10,
        },
    )


def test_a_us_did_number_is_claimed_for_the_instance(tenant_template: Template, instance_id: str) -> None:
    tenant_template.has_resource_properties(
        "AWS::Connect::PhoneNumber",
        {"CountryCode": "US", "Type": "DID", "TargetArn": {"Fn::GetAtt": [instance_id, "Arn"]}},
    )


def test_inbound_flow_content_carries_the_router_and_queue_arns_from_cloudformation(
    tenant_template: Template, router_arn: dict[str, Any]
) -> None:
    queue_id, _ = _only(tenant_template, "AWS::Connect::Queue")
    _, flow = _only(tenant_template, "AWS::Connect::ContactFlow", INBOUND_FLOW)
    assert flow["Properties"]["State"] == "ACTIVE"
    separator, parts = flow["Properties"]["Content"]["Fn::Join"]
    assert separator == ""
    assert router_arn in parts
    assert {"Fn::GetAtt": [queue_id, "QueueArn"]} in parts
    literal = "".join(p for p in parts if isinstance(p, str))
    assert "${" not in literal, "an unresolved placeholder reached the template"
    assert '"StartAction"' in literal


def test_router_is_associated_and_only_this_instance_in_this_account_may_invoke_it(
    tenant_template: Template, instance_id: str, router_arn: dict[str, Any]
) -> None:
    tenant_template.has_resource_properties(
        "AWS::Connect::IntegrationAssociation",
        {"IntegrationType": "LAMBDA_FUNCTION", "InstanceId": {"Fn::GetAtt": [instance_id, "Arn"]}},
    )
    tenant_template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": router_arn,
            "Principal": "connect.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [instance_id, "Arn"]},
            "SourceAccount": Match.any_value(),
        },
    )


def test_the_number_is_pointed_at_the_inbound_flow_with_a_scoped_custom_resource(
    tenant_template: Template,
) -> None:
    number_id, _ = _only(tenant_template, "AWS::Connect::PhoneNumber")
    flow_id, _ = _only(tenant_template, "AWS::Connect::ContactFlow", INBOUND_FLOW)
    resources = tenant_template.find_resources("Custom::AWS")
    creates = [json.dumps(r["Properties"]["Create"]) for r in resources.values()]
    association = [c for c in creates if "associatePhoneNumberContactFlow" in c]
    assert len(association) == 1
    assert number_id in association[0]
    assert flow_id in association[0]
    deletes = [json.dumps(r["Properties"].get("Delete", "")) for r in resources.values()]
    assert any("disassociatePhoneNumberContactFlow" in d for d in deletes)
    tenant_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Action": [
                                        "connect:AssociatePhoneNumberContactFlow",
                                        "connect:DisassociatePhoneNumberContactFlow",
                                    ],
                                    "Resource": Match.array_with([{"Fn::GetAtt": [number_id, "PhoneNumberArn"]}]),
                                }
                            )
                        ]
                    )
                }
            )
        },
    )


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        ("connect/instance-arn", ("AWS::Connect::Instance", "Arn")),
        ("connect/phone-number", ("AWS::Connect::PhoneNumber", "Address")),
        ("connect/queue-arn", ("AWS::Connect::Queue", "QueueArn")),
        ("connect/inbound-flow-arn", ("AWS::Connect::ContactFlow", "ContactFlowArn")),
    ],
)
def test_what_was_deployed_is_published_to_ssm(
    tenant_template: Template, name: str, attribute: tuple[str, str]
) -> None:
    inbound_only = INBOUND_FLOW if attribute[0] == "AWS::Connect::ContactFlow" else None
    logical_id, _ = _only(tenant_template, attribute[0], inbound_only)
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": tenant_parameter(TENANT, name),
            "Type": "String",
            "Value": {"Fn::GetAtt": [logical_id, attribute[1]]},
        },
    )


def test_instance_arn_and_phone_number_are_stack_outputs_with_fixed_ids(tenant_template: Template) -> None:
    outputs = tenant_template.to_json()["Outputs"]
    assert "Fn::GetAtt" in outputs[Outputs.CONNECT_INSTANCE_ARN]["Value"]
    assert outputs[Outputs.PHONE_NUMBER]["Value"]["Fn::GetAtt"][1] == "Address"


def test_the_router_may_read_the_agents_share_only_under_this_tenants_keys(
    tenant_template: Template, router_arn: dict[str, Any]
) -> None:
    from oratio.tables import AGENT_DEFINITIONS, USAGE

    router = tenant_template.to_json()["Resources"][_logical_id_of_getatt(router_arn)]
    variables = router["Properties"]["Environment"]["Variables"]
    assert AGENT_DEFINITIONS.env_var in variables, "the router knows where the agents' definitions are"
    role = router["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = tenant_template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]

    def grants(table_key: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for s in statements:
            if f"{table_key}" in json.dumps(s["Resource"]).replace("_", "") and "dynamodb:LeadingKeys" in json.dumps(
                s.get("Condition", {})
            ):
                actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
                keys = s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                found.setdefault(",".join(keys), []).extend(actions)
        return found

    assert grants(AGENT_DEFINITIONS.key.replace("_", "")) == {"cozy-comfort#*": ["dynamodb:BatchGetItem"]}
    assert sorted(grants(USAGE.key)["cozy-comfort"]) == ["dynamodb:BatchGetItem", "dynamodb:GetItem"]
