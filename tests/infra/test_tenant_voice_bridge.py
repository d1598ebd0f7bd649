"""TenantStack → VoiceBridge: the bridge's AgentCore runtime (WebSocket session service from a zip code asset),
its endpoint and environment, a least-privilege role, and the telephony webhook behind a function URL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from agentcore.tenant_agent import wiring as agent_wiring
from agentcore.voice_bridge import wiring
from oratio.config import load_tenant_file
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from oratio.voice_bridge import webhooks
from stacks.app_builder import TENANTS_DIR
from stacks.constructs import agent_runtime, voice_bridge
from stacks.names import Outputs, tenant_parameter
from tests.infra.asset_checks import ZippedAsset
from tests.infra.conftest import TEST_ENV, Synthesized

TENANT = "cozy-comfort"
ACCOUNT, REGION = TEST_ENV.account, TEST_ENV.region
BRIDGE_NAME = "oratio_voice_cozy_comfort"
SONIC_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.nova-2-sonic-v1:0"


def _one(template: Template, resource_type: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(resource_type, {"Properties": props})
    assert len(found) == 1, f"expected one {resource_type} with {props}, found {len(found)}"
    return next(iter(found.items()))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _with_action(statements: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith(prefix) for a in _as_list(s["Action"]))]


@pytest.fixture(scope="module")
def bridge(tenant_template: Template) -> tuple[str, dict[str, Any]]:
    return _one(tenant_template, "AWS::BedrockAgentCore::Runtime", {"AgentRuntimeName": BRIDGE_NAME})


@pytest.fixture(scope="module")
def agent(tenant_template: Template) -> tuple[str, dict[str, Any]]:
    return _one(
        tenant_template, "AWS::BedrockAgentCore::Runtime", {"AgentRuntimeName": agent_runtime.runtime_name(TENANT)}
    )


@pytest.fixture(scope="module")
def bridge_statements(tenant_template: Template, bridge: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return _statements(tenant_template, bridge[1]["Properties"]["RoleArn"]["Fn::GetAtt"][0])


@pytest.fixture(scope="module")
def webhook(tenant_template: Template) -> tuple[str, dict[str, Any]]:
    found = {
        k: v
        for k, v in tenant_template.find_resources("AWS::Lambda::Function").items()
        if webhooks.ENV_BRIDGE_RUNTIME_ARN in v["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert len(found) == 1
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def webhook_statements(tenant_template: Template, webhook: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return _statements(tenant_template, webhook[1]["Properties"]["Role"]["Fn::GetAtt"][0])


def test_bridge_runs_its_own_zip_asset_on_python_3_12_over_http_which_carries_ws(
    tenant_template: Template,
) -> None:
    tenant_template.has_resource_properties(
        "AWS::BedrockAgentCore::Runtime",
        {
            "AgentRuntimeName": BRIDGE_NAME,
            "ProtocolConfiguration": "HTTP",
            "NetworkConfiguration": {"NetworkMode": "PUBLIC"},
            "AgentRuntimeArtifact": {
                "CodeConfiguration": {
                    "Runtime": "PYTHON_3_12",
                    "EntryPoint": ["main.py"],
                    "Code": {"S3": {"Prefix": Match.string_like_regexp(r"\.zip$")}},
                }
            },
        },
    )


def test_bridge_asset_has_the_bridge_the_agent_client_and_the_sonic_and_transcribe_sdks(
    synthesized: Synthesized, bridge: tuple[str, dict[str, Any]], agent: tuple[str, dict[str, Any]]
) -> None:
    prefix = bridge[1]["Properties"]["AgentRuntimeArtifact"]["CodeConfiguration"]["Code"]["S3"]["Prefix"]
    assert prefix != agent[1]["Properties"]["AgentRuntimeArtifact"]["CodeConfiguration"]["Code"]["S3"]["Prefix"]
    asset = ZippedAsset(synthesized.outdir, prefix)
    for path in (
        "main.py",
        "agentcore/voice_bridge/app.py",
        "agentcore/voice_bridge/wiring.py",
        "agentcore/tenant_agent/client.py",
        "oratio/voice_bridge/bridge.py",
        "aws_sdk_bedrock_runtime",
        "aws_sdk_transcribe_streaming",
        "awscrt",
    ):
        assert asset.exists(path), f"{path} missing from the bridge's code asset"
    assert "agentcore.voice_bridge.app" in asset.read_text("main.py")
    assert not asset.exists("oratio_local")
    # smithy's aiohttp transport is never used (both SDK clients run on awscrt), so it does not ship; yarl
    # does: smithy_http.aio.aiohttp, imported by both clients' config modules, imports it unconditionally.
    for unused in ("aiohttp", "aiohappyeyeballs", "aiosignal", "frozenlist"):
        assert not asset.exists(unused), f"{unused} ships in the bridge's code asset"
    assert asset.exists("yarl")
    for module in ("oratio/voice_bridge/bridge.py", "agentcore/voice_bridge/app.py", "awscrt/__init__.py"):
        asset.assert_unchecked_pyc_for_python_3_12(module)


def test_bridge_environment_is_what_its_wiring_reads(
    tenant_template: Template, bridge: tuple[str, dict[str, Any]], agent: tuple[str, dict[str, Any]]
) -> None:
    environment = bridge[1]["Properties"]["EnvironmentVariables"]
    assert environment[wiring.ENV_AGENT_RUNTIME_ARN] == {"Fn::GetAtt": [agent[0], "AgentRuntimeArn"]}
    assert environment[wiring.ENV_AGENT_QUALIFIER] == agent_runtime.ENDPOINT_NAME
    assert environment[wiring.ENV_SONIC_MODEL_ID] == "amazon.nova-2-sonic-v1:0"
    assert environment[agent_wiring.ENV_HOST] == "0.0.0.0"  # noqa: S104 - AgentCore reaches the app from outside
    assert len(environment) <= 50
    assert all(len(v) <= 2_048 for v in environment.values() if isinstance(v, str))
    # Resolved at deploy time; stand-ins let the wiring's settings validate here.
    deployed = {k: v if isinstance(v, str) else f"resolved-{k.lower()}" for k, v in environment.items()}
    deployed[wiring.ENV_AGENT_RUNTIME_ARN] = f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:runtime/oratio_x-1"
    settings = wiring.BridgeRuntimeSettings.from_environ(deployed)
    assert settings.tenant() == load_tenant_file(TENANTS_DIR / f"{TENANT}.yaml")
    assert settings.conversations_table == f"resolved-{CONVERSATIONS.env_var.lower()}"


def test_bridge_endpoint_serves_the_deployed_version_and_arns_are_published(
    tenant_template: Template, bridge: tuple[str, dict[str, Any]]
) -> None:
    runtime_id = bridge[0]
    tenant_template.has_resource_properties(
        "AWS::BedrockAgentCore::RuntimeEndpoint",
        {"Name": "live", "AgentRuntimeId": {"Fn::GetAtt": [runtime_id, "AgentRuntimeId"]}},
    )
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": tenant_parameter(TENANT, "voice-bridge/runtime-arn"),
            "Value": {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]},
        },
    )
    tenant_template.has_output(
        Outputs.VOICE_BRIDGE_RUNTIME_ARN, {"Value": {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]}}
    )
    tenant_template.has_output(Outputs.VOICE_WEBHOOK_URL, {"Value": Match.any_value()})


def test_bridge_role_is_trusted_only_by_agentcore_for_the_bridge_runtime(
    tenant_template: Template, bridge: tuple[str, dict[str, Any]]
) -> None:
    role = tenant_template.to_json()["Resources"][bridge[1]["Properties"]["RoleArn"]["Fn::GetAtt"][0]]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    assert f"runtime/{BRIDGE_NAME}-*" in json.dumps(trust["Condition"]["ArnLike"]["aws:SourceArn"])
    assert "ManagedPolicyArns" not in role["Properties"]


def test_bridge_may_stream_only_nova_sonic_and_invoke_only_this_tenants_agent(
    bridge_statements: list[dict[str, Any]], agent: tuple[str, dict[str, Any]]
) -> None:
    (sonic,) = _with_action(bridge_statements, "bedrock:")
    # The bidirectional stream is authorized as bedrock:InvokeModel (API reference of the operation).
    assert _as_list(sonic["Action"]) == ["bedrock:InvokeModel"]
    assert _as_list(sonic["Resource"]) == [SONIC_ARN]
    (invoke,) = _with_action(bridge_statements, "bedrock-agentcore:")
    assert _as_list(invoke["Action"]) == ["bedrock-agentcore:InvokeAgentRuntime"]
    resources = _as_list(invoke["Resource"])
    assert {"Fn::GetAtt": [agent[0], "AgentRuntimeArn"]} in resources
    assert len(resources) == 2  # the runtime and its "live" endpoint, nothing else
    assert "*" not in json.dumps(resources)


def test_bridge_may_use_transcribe_streaming_and_polly_and_nothing_else_of_them(
    bridge_statements: list[dict[str, Any]],
) -> None:
    speech = _with_action(bridge_statements, "transcribe:") + _with_action(bridge_statements, "polly:")
    assert sorted(a for s in speech for a in _as_list(s["Action"])) == [
        "polly:SynthesizeSpeech",
        "transcribe:StartStreamTranscription",
    ]


def test_bridge_writes_dynamodb_items_only_under_this_tenants_keys(bridge_statements: list[dict[str, Any]]) -> None:
    dynamodb = _with_action(bridge_statements, "dynamodb:")
    keys = sorted(
        (tuple(sorted(_as_list(s["Action"]))), tuple(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]))
        for s in dynamodb
    )
    # The agent's status and definition versions (read); conversations: the recorder's writes, and the call's
    # session (read, lease renewed, closed with the cost summed from its turns); the usage ledger (each charge a
    # transaction: its marker put and the ADDs) and the live-call counter: the tenant's items.
    assert keys == [
        (("dynamodb:GetItem",), (TENANT,)),  # the agent's status, after each caller turn
        (("dynamodb:GetItem",), (f"{TENANT}#*",)),  # the agent's definition versions
        (("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"), (f"{TENANT}#*",)),
        (("dynamodb:PutItem", "dynamodb:UpdateItem"), (TENANT,)),  # the usage ledger
        (("dynamodb:UpdateItem",), (TENANT,)),  # the live-call counter
    ]


def test_bridge_role_has_no_wildcard_actions(bridge_statements: list[dict[str, Any]]) -> None:
    assert not [a for s in bridge_statements for a in _as_list(s["Action"]) if "*" in a]
    star = sorted(s["Sid"] for s in bridge_statements if "*" in _as_list(s["Resource"]))
    assert star == ["PollySpeech", "RuntimeMetrics", "Traces", "TranscribeStreaming"]


def test_webhook_is_a_function_url_that_verifies_providers_itself(
    tenant_template: Template, webhook: tuple[str, dict[str, Any]]
) -> None:
    tenant_template.has_resource_properties(
        "AWS::Lambda::Url", {"AuthType": "NONE", "TargetFunctionArn": {"Fn::GetAtt": [webhook[0], "Arn"]}}
    )
    tenant_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "handler.lambda_handler",
            "Runtime": "python3.12",
            "Architectures": ["arm64"],
            "Environment": {
                "Variables": Match.object_like(
                    {
                        webhooks.ENV_BRIDGE_QUALIFIER: "live",
                        webhooks.ENV_SAY_VOICE: Match.string_like_regexp(r"^Polly\."),
                        webhooks.ENV_LANGUAGE: "en-US",
                        webhooks.ENV_TWILIO_SECRET: {"Ref": Match.string_like_regexp("TwilioAuthToken")},
                        webhooks.ENV_VONAGE_SECRET: {"Ref": Match.string_like_regexp("VonageSignatureSecret")},
                        webhooks.ENV_CONNECT_NUMBER: Match.any_value(),
                        ROUTING_PROFILE_ENV_VAR: Match.string_like_regexp('"tenant_id":"cozy-comfort"'),
                        AGENTS.env_var: Match.any_value(),
                        CONVERSATIONS.env_var: Match.any_value(),
                        TENANT_STATE.env_var: Match.any_value(),
                    }
                )
            },
        },
    )


def test_webhook_may_open_only_bridge_sessions_and_read_only_its_two_secrets(
    tenant_template: Template, webhook_statements: list[dict[str, Any]], bridge: tuple[str, dict[str, Any]]
) -> None:
    (sessions,) = _with_action(webhook_statements, "bedrock-agentcore:")
    assert _as_list(sessions["Action"]) == ["bedrock-agentcore:InvokeAgentRuntimeWithWebSocketStream"]
    assert {"Fn::GetAtt": [bridge[0], "AgentRuntimeArn"]} in _as_list(sessions["Resource"])
    secrets = _with_action(webhook_statements, "secretsmanager:")
    refs = sorted(r["Ref"] for s in secrets for r in _as_list(s["Resource"]))
    assert len(refs) == 2
    assert all(("TwilioAuthToken" in r) or ("VonageSignatureSecret" in r) for r in refs)


def test_webhook_touches_tables_only_under_this_tenants_keys_except_the_number_lookup(
    webhook_statements: list[dict[str, Any]],
) -> None:
    for statement in _with_action(webhook_statements, "dynamodb:"):
        keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        if keys == ["+*"]:
            # The provider numbers are not known at synth: the phone-number index, read-only.
            assert _as_list(statement["Action"]) == ["dynamodb:Query"]
            assert json.dumps(statement["Resource"]).endswith('"/index/by_phone_number"]]}')
        else:
            assert all(k in (TENANT, f"{TENANT}#*") for k in keys)
            assert "Scan" not in json.dumps(statement["Action"])


def test_webhook_writes_tenant_state_with_update_only_never_put_or_delete(
    webhook_statements: list[dict[str, Any]],
) -> None:
    # The replay cache's and the dial-through hand-off's conditional UpdateItems create their items ("webhook-token#
    # <jti>", "dial-through#..."); no PutItem is needed.
    assert _table_statements(webhook_statements, TENANT_STATE.key) == [
        (["dynamodb:GetItem", "dynamodb:UpdateItem"], [TENANT])
    ]


def _table_statements(statements: list[dict[str, Any]], key: str) -> list[tuple[list[str], list[str]]]:
    # The table's name comes from the platform's SSM parameter, whose logical id carries the table's key.
    return [
        (sorted(_as_list(s["Action"])), s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        for s in _with_action(statements, "dynamodb:")
        if f"tables{key.replace('_', '')}name" in json.dumps(s["Resource"]).lower()
    ]


def test_webhook_checks_the_agents_share_as_connects_router_does_reading_only_this_tenants_rows(
    tenant_template: Template, webhook: tuple[str, dict[str, Any]], webhook_statements: list[dict[str, Any]]
) -> None:
    # RouterSettings reads the definitions table from this variable: without it the share is not checked.
    environment = webhook[1]["Properties"]["Environment"]["Variables"]
    assert {AGENT_DEFINITIONS.env_var, USAGE.env_var} <= set(environment)
    # The share's two rows (the agent's month, its live definition) come in one BatchGetItem.
    assert _table_statements(webhook_statements, AGENT_DEFINITIONS.key) == [
        (["dynamodb:BatchGetItem"], [f"{TENANT}#*"])
    ]
    assert _table_statements(webhook_statements, USAGE.key) == [
        (["dynamodb:BatchGetItem", "dynamodb:GetItem"], [TENANT])
    ]


def test_provider_secrets_exist_with_generated_placeholders(tenant_template: Template) -> None:
    for name in ("twilio-auth-token", "vonage-signature-secret"):
        tenant_template.has_resource_properties(
            "AWS::SecretsManager::Secret",
            {"Name": f"oratio/{TENANT}/{name}", "GenerateSecretString": Match.object_like({"PasswordLength": 40})},
        )


def test_a_long_tenant_id_still_gets_a_unique_valid_runtime_name() -> None:
    short = voice_bridge.bridge_runtime_name("cozy-comfort")
    long_a = voice_bridge.bridge_runtime_name("a" * 39 + "b")
    long_b = voice_bridge.bridge_runtime_name("a" * 39 + "c")
    assert short == BRIDGE_NAME
    assert len(long_a) <= 48
    assert long_a != long_b


def test_the_bridges_nag_acknowledgements_are_specific(synthesized: Synthesized) -> None:
    acknowledged = {
        (a["ruleName"], c["constructPath"].split("/VoiceBridge/", 1)[1]): a["reason"]
        for a in synthesized.nag_acknowledgements()
        for c in a["violatingConstructs"]
        if "/VoiceBridge/" in c["constructPath"]
    }
    speech = acknowledged[("AwsSolutions-IAM5[Resource::*]", "CascadedSpeech/Resource")]
    assert "transcribe:StartStreamTranscription" in speech
    assert "polly:SynthesizeSpeech" in speech
    for secret in ("TwilioAuthToken", "VonageSignatureSecret"):
        assert "rotated in the provider's console" in acknowledged[("AwsSolutions-SMG4", f"{secret}/Resource")]


def test_table_specs_used_are_the_ones_the_adapters_write(bridge: tuple[str, dict[str, Any]]) -> None:
    environment = bridge[1]["Properties"]["EnvironmentVariables"]
    assert CONVERSATIONS.env_var in environment
    assert USAGE.env_var in environment
