"""TenantStack → KnowledgeIngestion: uploads under uploads/ notify an encrypted, TLS-only queue with a dead-letter
queue; the ingestion function consumes it with partial batch responses and runs on a 2-minute schedule; its role
may ingest only this tenant's knowledge base and touch only this tenant's items."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.constructs.knowledge_ingestion import FUNCTION_TIMEOUT_SECONDS

TENANT = "cozy-comfort"


def _only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(resource_type, {"Properties": Match.object_like(props or {})})
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def function_id(tenant_template: Template) -> str:
    function_id, _ = _only(
        tenant_template,
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": "knowledge_ingestion"})}},
    )
    return function_id


@pytest.fixture(scope="module")
def knowledge_bucket_id(tenant_template: Template) -> str:
    # The bucket the knowledge base's data source reads.
    _, data_source = _only(tenant_template, "AWS::Bedrock::DataSource")
    bucket_arn = data_source["Properties"]["DataSourceConfiguration"]["S3Configuration"]["BucketArn"]
    bucket_id = str(bucket_arn["Fn::GetAtt"][0])
    found = tenant_template.find_resources("Custom::S3BucketNotifications")
    [notifications] = found.values()
    assert notifications["Properties"]["BucketName"] == {"Ref": bucket_id}
    return bucket_id


@pytest.fixture(scope="module")
def upload_queue(tenant_template: Template) -> tuple[str, dict[str, Any]]:
    # The standard queue with a dead-letter queue (the messaging channels' is FIFO).
    return _only(tenant_template, "AWS::SQS::Queue", {"RedrivePolicy": Match.any_value(), "FifoQueue": Match.absent()})


def test_the_knowledge_bucket_notifies_the_upload_queue_of_objects_created_under_uploads(
    tenant_template: Template, knowledge_bucket_id: str, upload_queue: tuple[str, dict[str, Any]]
) -> None:
    queue_id, _ = upload_queue
    tenant_template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {"Ref": knowledge_bucket_id},
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                        "QueueArn": {"Fn::GetAtt": [queue_id, "Arn"]},
                    }
                ]
            },
        },
    )


def test_the_upload_queue_is_encrypted_tls_only_and_dead_letters_after_repeated_failures(
    tenant_template: Template, upload_queue: tuple[str, dict[str, Any]], knowledge_bucket_id: str
) -> None:
    queue_id, queue = upload_queue
    props = queue["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    assert props["VisibilityTimeout"] >= 6 * FUNCTION_TIMEOUT_SECONDS
    dead_letter_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert props["RedrivePolicy"]["maxReceiveCount"] == 5
    tenant_template.has_resource_properties(
        "AWS::SQS::Queue",
        Match.object_like({"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}),
    )
    assert dead_letter_id in tenant_template.find_resources("AWS::SQS::Queue")
    for queue_ref in (queue_id, dead_letter_id):
        tenant_template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue_ref}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Action": "sqs:*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )
    # Only S3, and only for this bucket, may send to the queue.
    tenant_template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "s3.amazonaws.com"},
                                "Action": Match.array_with(["sqs:SendMessage"]),
                                "Condition": {
                                    "ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [knowledge_bucket_id, "Arn"]}}
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


def test_the_function_consumes_the_queue_in_batches_with_partial_batch_failures(
    tenant_template: Template, function_id: str, upload_queue: tuple[str, dict[str, Any]]
) -> None:
    queue_id, _ = upload_queue
    tenant_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionName": {"Ref": function_id},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": Match.any_value(),
            "ScalingConfig": {"MaximumConcurrency": 2},
        },
    )
    function = tenant_template.to_json()["Resources"][function_id]
    assert function["Properties"]["Timeout"] == FUNCTION_TIMEOUT_SECONDS
    assert function["Properties"]["Architectures"] == ["arm64"]


def test_a_schedule_ticks_the_function_every_two_minutes(tenant_template: Template, function_id: str) -> None:
    _, rule = _only(tenant_template, "AWS::Events::Rule", {"ScheduleExpression": "rate(2 minutes)"})
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    # A failed tick is superseded by the next one: no retries, neither by EventBridge nor by Lambda.
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    tenant_template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": function_id}, "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 120},
    )
    tenant_template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
        },
    )


def test_the_function_knows_its_tenant_knowledge_base_data_source_and_bucket(
    tenant_template: Template, function_id: str, knowledge_bucket_id: str
) -> None:
    [kb_id] = tenant_template.find_resources("AWS::Bedrock::KnowledgeBase")
    [ds_id] = tenant_template.find_resources("AWS::Bedrock::DataSource")
    function = tenant_template.find_resources("AWS::Lambda::Function")[function_id]
    env = function["Properties"]["Environment"]["Variables"]
    assert env["ORATIO_TENANT_ID"] == TENANT
    assert env["ORATIO_KNOWLEDGE_BASE_ID"] == {"Fn::GetAtt": [kb_id, "KnowledgeBaseId"]}
    assert env["ORATIO_KNOWLEDGE_DATA_SOURCE_ID"] == {"Fn::GetAtt": [ds_id, "DataSourceId"]}
    assert env["ORATIO_KNOWLEDGE_BUCKET"] == {"Ref": knowledge_bucket_id}
    assert {"ORATIO_TABLE_KNOWLEDGE_DOCUMENTS", "ORATIO_TABLE_TENANT_STATE"} <= set(env)


def _role_statements(tenant_template: Template, function_id: str) -> list[dict[str, Any]]:
    function = tenant_template.find_resources("AWS::Lambda::Function")[function_id]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = tenant_template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def test_the_role_may_ingest_only_this_tenants_knowledge_base(tenant_template: Template, function_id: str) -> None:
    [kb_id] = tenant_template.find_resources("AWS::Bedrock::KnowledgeBase")
    bedrock = [s for s in _role_statements(tenant_template, function_id) if "bedrock" in str(s["Action"])]
    assert bedrock == [
        {
            "Sid": "IngestThisTenantsKnowledgeBase",
            "Effect": "Allow",
            "Action": ["bedrock:GetIngestionJob", "bedrock:GetKnowledgeBaseDocuments", "bedrock:StartIngestionJob"],
            "Resource": {"Fn::GetAtt": [kb_id, "KnowledgeBaseArn"]},
        }
    ]


def test_the_role_touches_only_this_tenants_items(tenant_template: Template, function_id: str) -> None:
    dynamodb = [s for s in _role_statements(tenant_template, function_id) if "dynamodb" in str(s["Action"])]
    leading = {
        str(s["Resource"]): (s["Action"], s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        for s in dynamodb
    }
    assert sorted(leading.values(), key=str) == sorted(
        [
            ("dynamodb:UpdateItem", [f"{TENANT}#*"]),
            (["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [TENANT]),
        ],
        key=str,
    )
    assert all("Condition" in s for s in dynamodb)
    assert all("*" not in str(s["Resource"]) for s in dynamodb)
