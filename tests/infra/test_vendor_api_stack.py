"""The vendor API in PlatformStack (REST API, Cognito authorizer, throttling, function and its IAM) and what
each TenantStack grants it (presigned uploads into the knowledge bucket, published limits)."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import assertions
from aws_cdk.assertions import Match

from oratio.agent_creator.jobs import SOP_TEXT_MEDIA_TYPES
from oratio.tables import ALL_TABLES
from stacks.constructs.vendor_api import TABLE_ACTIONS, VendorApiLimits

LIMITS = VendorApiLimits()


def _resources(template: assertions.Template, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(kind)
    return found


def _vendor_function(template: assertions.Template) -> dict[str, Any]:
    functions = [
        r
        for r in _resources(template, "AWS::Lambda::Function").values()
        if r["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME") == "vendor_api"
    ]
    assert len(functions) == 1
    return functions[0]


def test_rest_api_is_regional_and_its_stage_is_throttled_traced_and_logged(
    platform_template: assertions.Template,
) -> None:
    platform_template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}, "Name": "oratio-vendor-api"}
    )
    platform_template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.string_like_regexp("requestId")},
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "ThrottlingRateLimit": LIMITS.stage_rate_limit,
                            "ThrottlingBurstLimit": LIMITS.stage_burst_limit,
                            "DataTraceEnabled": False,
                        }
                    )
                ]
            ),
        },
    )


def test_every_route_but_health_and_openapi_needs_a_cognito_token(platform_template: assertions.Template) -> None:
    platform_template.has_resource_properties(
        "AWS::ApiGateway::Authorizer",
        {
            "Type": "COGNITO_USER_POOLS",
            "IdentitySource": "method.request.header.Authorization",
            "ProviderARNs": [{"Fn::GetAtt": [Match.string_like_regexp("VendorApiVendors"), "Arn"]}],
        },
    )
    methods = _resources(platform_template, "AWS::ApiGateway::Method").values()
    by_auth = {(m["Properties"]["HttpMethod"], m["Properties"]["AuthorizationType"]) for m in methods}
    # health, openapi, and the signed ElizaOS webhook (tests/infra/test_elizaos_webhook_stack.py)
    assert by_auth == {("GET", "NONE"), ("POST", "NONE"), ("ANY", "COGNITO_USER_POOLS")}
    assert sum(1 for m in methods if m["Properties"]["AuthorizationType"] == "NONE") == 3


def test_vendor_user_pool_requires_mfa_and_an_immutable_vendor_id(platform_template: assertions.Template) -> None:
    platform_template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "MfaConfiguration": "ON",
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "DeletionProtection": "ACTIVE",
            "Schema": Match.array_with(
                [Match.object_like({"Name": "vendor_id", "Mutable": False, "AttributeDataType": "String"})]
            ),
        },
    )
    platform_template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"GenerateSecret": False, "ExplicitAuthFlows": Match.array_with(["ALLOW_USER_SRP_AUTH"])},
    )


def test_gateway_answers_its_own_errors_in_the_api_error_shape(platform_template: assertions.Template) -> None:
    responses = _resources(platform_template, "AWS::ApiGateway::GatewayResponse").values()
    kinds = {r["Properties"]["ResponseType"]: r["Properties"] for r in responses}
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "THROTTLED", "REQUEST_TOO_LARGE", "DEFAULT_5XX"} <= set(kinds)
    for properties in kinds.values():
        body = json.loads(properties["ResponseTemplates"]["application/json"])
        assert set(body) == {"error", "message"}


def test_vendor_api_function_gets_its_tables_and_limits_from_the_environment(
    platform_template: assertions.Template,
) -> None:
    function = _vendor_function(platform_template)
    env = function["Properties"]["Environment"]["Variables"]
    assert {spec.env_var for spec in TABLE_ACTIONS} <= set(env)
    assert env["ORATIO_RATE_LIMIT_PER_MINUTE"] == str(LIMITS.rate_limit_per_minute)
    assert env["ORATIO_MAX_BODY_BYTES"] == str(LIMITS.max_body_bytes)
    assert "ORATIO_IDEMPOTENCY_TABLE" in env
    assert function["Properties"]["Architectures"] == ["arm64"]
    assert function["Properties"]["Timeout"] < 29  # inside API Gateway's integration timeout


def test_vendor_api_role_may_only_do_what_the_api_does(platform_template: assertions.Template) -> None:
    policies = [
        p
        for p in _resources(platform_template, "AWS::IAM::Policy").values()
        if any("VendorApiHandlerRole" in r["Ref"] for r in p["Properties"]["Roles"])
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    dynamodb = {a for a in actions if a.startswith("dynamodb:")}
    expected = {f"dynamodb:{a}" for actions_ in TABLE_ACTIONS.values() for a in actions_}
    assert dynamodb - {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= expected
    assert not {"dynamodb:Scan", "dynamodb:*", "dynamodb:DeleteTable", "s3:*", "ssm:PutParameter"} & actions
    ssm = [s for s in statements if any(str(a).startswith("ssm:") for a in s["Action"])]
    assert len(ssm) == 1
    assert "parameter/oratio/tenants/*" in json.dumps(ssm[0]["Resource"])


def test_idempotency_records_expire(platform_template: assertions.Template) -> None:
    platform_template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )


def test_platform_creates_every_shared_table(platform_template: assertions.Template) -> None:
    tables = _resources(platform_template, "AWS::DynamoDB::Table").values()
    # the shared tables plus the vendor API's idempotency table
    assert len(tables) == len(ALL_TABLES) + 1


def test_tenant_lets_only_the_vendor_api_role_upload_under_uploads(tenant_template: assertions.Template) -> None:
    policies = _resources(tenant_template, "AWS::S3::BucketPolicy").values()
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    uploads = [s for s in statements if s.get("Sid") == "VendorApiPresignedUploads"]
    assert len(uploads) == 1
    statement = uploads[0]
    assert statement["Action"] == "s3:PutObject"
    assert statement["Effect"] == "Allow"
    assert "role/oratio-vendor-api-us-east-1" in json.dumps(statement["Principal"])
    assert json.dumps(statement["Resource"]).endswith('/uploads/*"]]}')


def test_tenant_publishes_its_agent_limit_for_the_vendor_api(tenant_template: assertions.Template) -> None:
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": "/oratio/tenants/cozy-comfort/limits/max-agents", "Value": "50"}
    )


def test_an_sop_sent_as_text_reaches_the_api_as_sent(platform_template: assertions.Template) -> None:
    # API Gateway passes a text body base64-encoded only for the REST API's binary media types; without them
    # bytes that are not UTF-8 would arrive mangled into valid text and pass the SOP route's check.
    platform_template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"BinaryMediaTypes": Match.array_with(list(SOP_TEXT_MEDIA_TYPES))}
    )
