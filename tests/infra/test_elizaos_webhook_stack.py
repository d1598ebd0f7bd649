"""The ElizaOS webhook in PlatformStack (a signed route without the Cognito authorizer, its function and IAM) and
what the vendor API's role may do for channels (write vendors' secrets, start web chats)."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import assertions

from stacks.constructs.elizaos_webhook import TABLE_ACTIONS


def _function_named(template: assertions.Template, service: str) -> tuple[str, dict[str, Any]]:
    functions = [
        (logical_id, r)
        for logical_id, r in template.find_resources("AWS::Lambda::Function").items()
        if r["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") == service
    ]
    assert len(functions) == 1
    return functions[0]


def _statements(template: assertions.Template, role_fragment: str) -> list[dict[str, Any]]:
    policies = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if any(role_fragment in r["Ref"] for r in p["Properties"]["Roles"])
    ]
    return [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_the_elizaos_route_is_a_post_without_cognito_into_its_own_function(
    platform_template: assertions.Template,
) -> None:
    logical_id, _ = _function_named(platform_template, "elizaos_webhook")
    methods = [
        m["Properties"]
        for m in platform_template.find_resources("AWS::ApiGateway::Method").values()
        if logical_id in json.dumps(m["Properties"].get("Integration", {}))
    ]
    assert len(methods) == 1
    assert methods[0]["HttpMethod"] == "POST"
    assert methods[0]["AuthorizationType"] == "NONE"
    resources = platform_template.find_resources("AWS::ApiGateway::Resource")
    assert {r["Properties"]["PathPart"] for r in resources.values()} >= {"webhooks", "elizaos"}


def test_the_elizaos_function_answers_inside_the_gateway_timeout(platform_template: assertions.Template) -> None:
    _, function = _function_named(platform_template, "elizaos_webhook")
    assert function["Properties"]["Timeout"] < 29
    env = function["Properties"]["Environment"]["Variables"]
    assert {spec.env_var for spec in TABLE_ACTIONS} <= set(env)
    assert env["ORATIO_TENANT_PARAMETER_PREFIX"] == "/oratio/tenants"


def test_the_elizaos_role_reads_only_vendor_webhook_secrets_and_invokes_only_oratio_runtimes(
    platform_template: assertions.Template,
) -> None:
    statements = _statements(platform_template, "ElizaWebhookHandlerRole")
    by_sid = {s.get("Sid"): s for s in statements}
    secrets = by_sid["ReadVendorsWebhookSecrets"]
    assert _actions(secrets) == ["secretsmanager:GetSecretValue"]
    assert str(secrets["Resource"]).endswith(":secret:oratio/*/elizaos/*")
    runtimes = json.dumps(by_sid["InvokeTenantAgents"]["Resource"])
    assert ":runtime/oratio_*" in runtimes
    assert "runtime-endpoint/*" in runtimes
    actions = {a for s in statements for a in _actions(s)}
    assert not {"secretsmanager:PutSecretValue", "dynamodb:Scan", "dynamodb:Query", "ssm:PutParameter"} & actions
    dynamodb = {a.removeprefix("dynamodb:") for a in actions if a.startswith("dynamodb:")}
    assert dynamodb == {a for actions_ in TABLE_ACTIONS.values() for a in actions_}


def test_the_vendor_api_writes_channel_secrets_without_deleting_them_and_starts_web_chats(
    platform_template: assertions.Template,
) -> None:
    by_sid = {s.get("Sid"): s for s in _statements(platform_template, "VendorApiHandlerRole")}
    secrets = by_sid["WriteVendorChannelSecrets"]
    assert "secretsmanager:DeleteSecret" not in _actions(secrets)
    assert set(_actions(secrets)) >= {"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue"}
    resources = json.dumps(secrets["Resource"])
    assert ":secret:oratio/*/channels/*" in resources
    assert ":secret:oratio/*/elizaos/*" in resources
    assert _actions(by_sid["StartWebChats"]) == ["connect:StartChatContact"]
