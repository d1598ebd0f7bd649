"""TenantStack → messaging: the signed webhook behind a function URL, the FIFO queue (conversation = message group)
with its FIFO dead-letter queue, the worker on it with a least-privilege role; the chat flow published for web chats;
and, for a tenant with an SMS number, its import into Connect pointed at the chat flow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import assertions
from aws_cdk.assertions import Match, Template

from oratio.channels.idle import IDLE_EVENT_DETAIL_TYPE, IDLE_EVENT_SOURCE
from oratio.channels.settings import (
    EMAIL_FROM_ENV_VAR,
    PROFILE_ENV_VAR,
    QUEUE_URL_ENV_VAR,
    SMS_ORIGINATION_ENV_VAR,
    TENANT_ID_ENV_VAR,
)
from oratio.config import load_tenant_file
from oratio.config.tenant import CustomerSettings, SmsSettings
from oratio.tables import AGENTS, CUSTOMER_CONTEXT, IDLE_INDEX, TENANT_STATE
from stacks.app_builder import TENANTS_DIR, new_app
from stacks.constructs import messaging_channels
from stacks.names import Outputs, tenant_parameter, tenant_stack_id
from stacks.tenant_stack import TenantStack
from tests.infra.conftest import TEST_ENV

TENANT = "cozy-comfort"
CODES_FROM = "hello@cozy-comfort.example"
SMS_ARN = f"arn:aws:sms-voice:{TEST_ENV.region}:{TEST_ENV.account}:phone-number/phone-0123456789abcdef0123456789abcdef"


def _one(template: Template, resource_type: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(resource_type, {"Properties": Match.object_like(props)})
    assert len(found) == 1, f"expected one {resource_type} with {props}, found {len(found)}"
    return next(iter(found.items()))


def _function(template: Template, service: str) -> tuple[str, dict[str, Any]]:
    return _one(
        template,
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": service})}},
    )


def _statements(template: Template, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


@pytest.fixture(scope="module")
def inbound(tenant_template: Template) -> tuple[str, dict[str, Any]]:
    return _one(tenant_template, "AWS::SQS::Queue", {"FifoQueue": True, "RedrivePolicy": Match.any_value()})


def test_the_queue_is_fifo_per_conversation_encrypted_and_dead_letters_into_a_fifo_queue(
    tenant_template: Template, inbound: tuple[str, dict[str, Any]]
) -> None:
    _, queue = inbound
    props = queue["Properties"]
    assert (props["DeduplicationScope"], props["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    assert props["ContentBasedDeduplication"] is False
    assert props["SqsManagedSseEnabled"] is True
    assert props["RedrivePolicy"]["maxReceiveCount"] == messaging_channels.MAX_RECEIVE_COUNT
    dead_letters = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert tenant_template.to_json()["Resources"][dead_letters]["Properties"]["FifoQueue"] is True
    _, worker = _function(tenant_template, "channel_worker")
    assert props["VisibilityTimeout"] >= 6 * worker["Properties"]["Timeout"]


def test_the_webhook_is_a_public_function_url_that_only_queues_and_reads_this_tenants_channel_secrets(
    tenant_template: Template, inbound: tuple[str, dict[str, Any]]
) -> None:
    queue_id, _ = inbound
    webhook_id, webhook = _function(tenant_template, "channel_webhook")
    tenant_template.has_resource_properties(
        "AWS::Lambda::Url", {"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [webhook_id, "Arn"]}}
    )
    variables = webhook["Properties"]["Environment"]["Variables"]
    assert variables[TENANT_ID_ENV_VAR] == TENANT
    assert variables[QUEUE_URL_ENV_VAR] == {"Ref": queue_id}
    assert webhook["Properties"]["ReservedConcurrentExecutions"] == messaging_channels.WEBHOOK_CONCURRENCY
    statements = _statements(tenant_template, webhook)
    secrets = [s for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    assert len(secrets) == 1
    assert f"secret:oratio/{TENANT}/channels/*" in json.dumps(secrets[0]["Resource"])
    sends = [s for s in statements if "sqs:SendMessage" in _actions(s)]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": [queue_id, "Arn"]}]
    assert not [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]


def test_the_worker_consumes_the_queue_in_fifo_batches_with_partial_failures(
    tenant_template: Template, inbound: tuple[str, dict[str, Any]]
) -> None:
    queue_id, _ = inbound
    worker_id, _ = _function(tenant_template, "channel_worker")
    tenant_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionName": {"Ref": worker_id},
            "BatchSize": messaging_channels.BATCH_SIZE,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_the_worker_may_invoke_only_this_tenants_agent_and_touch_only_this_tenants_keys(
    tenant_template: Template,
) -> None:
    _, worker = _function(tenant_template, "channel_worker")
    statements = _statements(tenant_template, worker)
    (invoke,) = [s for s in statements if "bedrock-agentcore:InvokeAgentRuntime" in _actions(s)]
    assert "AgentRuntime" in json.dumps(invoke["Resource"])
    for statement in [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]:
        keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        assert all(k in (TENANT, f"{TENANT}#*") for k in keys), statement
    tables = json.dumps([s["Resource"] for s in statements])
    for spec in (AGENTS, TENANT_STATE, CUSTOMER_CONTEXT):
        assert spec.key.replace("_", "") in tables  # the table name comes from its SSM parameter
    assert any("sqs:ChangeMessageVisibility" in _actions(s) for s in statements)
    profile = json.loads(worker["Properties"]["Environment"]["Variables"][PROFILE_ENV_VAR])
    assert (profile["tenant_id"], profile["region"]) == (TENANT, "US")
    assert SMS_ORIGINATION_ENV_VAR not in worker["Properties"]["Environment"]["Variables"]  # no SMS number here


def test_the_webhook_url_and_the_chat_flow_are_published_for_the_vendor_api(tenant_template: Template) -> None:
    outputs = tenant_template.to_json()["Outputs"]
    assert Outputs.CHANNEL_WEBHOOK_URL in outputs
    for name in ("channels/webhook-url", "connect/chat-flow-arn"):
        tenant_template.has_resource_properties("AWS::SSM::Parameter", {"Name": tenant_parameter(TENANT, name)})
    chat_id, _ = _one(tenant_template, "AWS::Connect::ContactFlow", {"Name": Match.string_like_regexp("^Oratio chat")})
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": tenant_parameter(TENANT, "connect/chat-flow-arn"),
            "Value": {"Fn::GetAtt": [chat_id, "ContactFlowArn"]},
        },
    )


# ----------------------------------------------------------------------------------------- with SMS
@pytest.fixture(scope="module")
def sms_stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, Path]:
    """The tenant with an End User Messaging SMS number in its file (a TenantStack of its own)."""
    tenant = load_tenant_file(TENANTS_DIR / f"{TENANT}.yaml")
    tenant = tenant.model_copy(
        update={
            "connect": tenant.connect.model_copy(update={"sms": SmsSettings(phone_number_arn=SMS_ARN)}),
            "customers": CustomerSettings(verification_email_from=CODES_FROM),
        }
    )
    outdir = tmp_path_factory.mktemp("sms.out")
    app = new_app(str(outdir))
    stack = TenantStack(app, tenant_stack_id(TENANT), tenant=tenant, env=TEST_ENV)
    template = assertions.Template.from_stack(stack)
    app.synth()
    return template, outdir / f"{tenant_stack_id(TENANT)}.template.json"


def test_an_sms_number_is_imported_into_the_instance_and_pointed_at_the_chat_flow(
    sms_stack: tuple[Template, Path],
) -> None:
    template, _ = sms_stack
    number_id, _ = _one(template, "AWS::Connect::PhoneNumber", {"SourcePhoneNumberArn": SMS_ARN})
    chat_id, _ = _one(template, "AWS::Connect::ContactFlow", {"Name": Match.string_like_regexp("^Oratio chat")})
    creates = [json.dumps(r["Properties"]["Create"]) for r in template.find_resources("Custom::AWS").values()]
    (association,) = [c for c in creates if number_id in c]
    assert "associatePhoneNumberContactFlow" in association
    assert chat_id in association
    template.has_resource_properties("AWS::SSM::Parameter", {"Name": tenant_parameter(TENANT, "connect/sms-number")})
    assert Outputs.SMS_NUMBER in template.to_json()["Outputs"]


def test_with_an_sms_number_the_worker_may_send_identity_codes_from_it_only(sms_stack: tuple[Template, Path]) -> None:
    template, _ = sms_stack
    _, worker = _function(template, "channel_worker")
    assert worker["Properties"]["Environment"]["Variables"][SMS_ORIGINATION_ENV_VAR] == SMS_ARN
    (send,) = [s for s in _statements(template, worker) if "sms-voice:SendTextMessage" in _actions(s)]
    assert send["Resource"] == SMS_ARN


def test_with_a_verification_address_the_worker_may_email_codes_from_it_only(
    sms_stack: tuple[Template, Path], tenant_template: Template
) -> None:
    template, _ = sms_stack
    _, worker = _function(template, "channel_worker")
    assert worker["Properties"]["Environment"]["Variables"][EMAIL_FROM_ENV_VAR] == CODES_FROM
    (send,) = [s for s in _statements(template, worker) if "ses:SendEmail" in _actions(s)]
    resources = json.dumps(send["Resource"])
    assert f"identity/{CODES_FROM}" in resources
    assert "identity/cozy-comfort.example" in resources
    _, default_worker = _function(tenant_template, "channel_worker")
    assert EMAIL_FROM_ENV_VAR not in default_worker["Properties"]["Environment"]["Variables"]
    assert not [s for s in _statements(tenant_template, default_worker) if "ses:SendEmail" in _actions(s)]


def test_the_sms_template_passes_cfn_lint(sms_stack: tuple[Template, Path]) -> None:
    _, path = sms_stack
    lint = subprocess.run(  # noqa: S603 - our interpreter's cfn-lint on our own template
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert [line for line in lint.stdout.splitlines() if ":E" in line] == []


# --------------------------------------------------------------------------------- idle conversations
def test_a_schedule_sweeps_for_idle_conversations_every_minute_without_retries(tenant_template: Template) -> None:
    sweep_id, sweep = _function(tenant_template, "conversation_idle")
    assert sweep["Properties"]["Environment"]["Variables"][TENANT_ID_ENV_VAR] == TENANT
    assert sweep["Properties"]["Timeout"] < 60, "one run ends before the next starts"
    _, rule = _one(tenant_template, "AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [sweep_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0  # the next run repeats the work


def test_the_sweep_may_read_only_this_tenants_idle_index_shards_update_its_sessions_and_publish_idle_events(
    tenant_template: Template,
) -> None:
    _, sweep = _function(tenant_template, "conversation_idle")
    statements = _statements(tenant_template, sweep)
    dynamo = {
        (tuple(_actions(s)), json.dumps(s["Resource"]).count("/index/by_idle") > 0): s["Condition"][
            "ForAllValues:StringLike"
        ]["dynamodb:LeadingKeys"]
        for s in statements
        if any(a.startswith("dynamodb:") for a in _actions(s))
    }
    assert dynamo == {
        (("dynamodb:Query",), True): [f"{TENANT}#idle#*"],
        (("dynamodb:UpdateItem",), False): [f"{TENANT}#*"],
    }
    (publish,) = [s for s in statements if "events:PutEvents" in _actions(s)]
    assert _actions(publish) == ["events:PutEvents"]
    assert ":event-bus/default" in json.dumps(publish["Resource"])
    assert publish["Condition"] == {
        "StringEquals": {"events:source": IDLE_EVENT_SOURCE, "events:detail-type": IDLE_EVENT_DETAIL_TYPE}
    }


def test_the_analysis_listens_for_what_the_sweep_publishes_and_the_worker_knows_the_idle_timeout(
    tenant_template: Template,
) -> None:
    analysis_id, _ = _function(tenant_template, "post_call_analysis")
    _, rule = _one(
        tenant_template,
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"source": [IDLE_EVENT_SOURCE]})},
    )
    assert rule["Properties"]["EventPattern"] == {
        "source": [IDLE_EVENT_SOURCE],
        "detail-type": [IDLE_EVENT_DETAIL_TYPE],
        "detail": {"tenantId": [TENANT]},
    }
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [analysis_id, "Arn"]}
    assert "DeadLetterConfig" in target
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    _, worker = _function(tenant_template, "channel_worker")
    profile = json.loads(worker["Properties"]["Environment"]["Variables"][PROFILE_ENV_VAR])
    config = load_tenant_file(TENANTS_DIR / f"{TENANT}.yaml")
    assert profile["idle_minutes"] == config.operations.messaging_idle_minutes


def test_the_conversations_table_has_a_sharded_idle_index_sorted_by_deadline(platform_template: Template) -> None:
    _, table = _one(
        platform_template,
        "AWS::DynamoDB::Table",
        {"GlobalSecondaryIndexes": Match.array_with([Match.object_like({"IndexName": IDLE_INDEX})])},
    )
    (index,) = [i for i in table["Properties"]["GlobalSecondaryIndexes"] if i["IndexName"] == IDLE_INDEX]
    assert index["KeySchema"] == [
        {"AttributeName": "idle_shard", "KeyType": "HASH"},
        {"AttributeName": "idle_at", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in table["Properties"]["AttributeDefinitions"]}
    assert (types["idle_shard"], types["idle_at"]) == ("S", "N")
