"""TenantStack → ConnectVoice: the cozy-comfort tenant's Lex bots (Nova Sonic speech-to-speech and cascaded),
their versions, aliases and code hook, who may invoke what, the two voice Lambdas and their grants, and the
inbound flow's wiring to all of it, checked on the synthesized template."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from oratio.connect_voice.profile import VOICE_PROFILE_ENV_VAR, VoiceProfile
from stacks.constructs.connect_voice import AGENT_CLIENT_SOURCES
from stacks.constructs.lambda_function import ASSETS_DIR
from tests.infra.conftest import Synthesized

TENANT = "cozy-comfort"
SONIC_MODEL_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-2-sonic-v1:0"


def _resources(template: Template, kind: str, props: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = template.find_resources(kind, {"Properties": Match.object_like(props or {})})
    return found


def _bot(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, bot),) = _resources(template, "AWS::Lex::Bot", {"Name": name}).items()
    return logical_id, bot["Properties"]


def _function(template: Template, service: str) -> tuple[str, dict[str, Any]]:
    found = _resources(
        template,
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"POWERTOOLS_SERVICE_NAME": service})}},
    )
    ((logical_id, function),) = found.items()
    return logical_id, function


def _statements(template: Template, role_logical_id: str) -> list[dict[str, Any]]:
    policies = _resources(template, "AWS::IAM::Policy")
    return [
        s
        for p in policies.values()
        if {"Ref": role_logical_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _role_of(function: dict[str, Any]) -> str:
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


# --------------------------------------------------------------------------------------------- bots
def test_the_speech_to_speech_bot_speaks_with_nova_sonic_in_the_tenants_voice_and_language(
    tenant_template: Template,
) -> None:
    _, bot = _bot(tenant_template, "oratio-cozy-comfort-s2s")
    (locale,) = bot["BotLocales"]
    assert locale["LocaleId"] == "en_US"
    assert locale["UnifiedSpeechSettings"] == {
        "SpeechFoundationModel": {"ModelArn": SONIC_MODEL_ARN, "VoiceId": "tiffany"}
    }
    assert "VoiceSettings" not in locale  # the Polly voice path belongs to the cascaded bot
    # Lex plays a filler while the code hook works, starting well inside the caller's 3 s of patience.
    assert locale["AudioFillerSettings"] == {
        "Enabled": True,
        "AudioType": "TYPING_QUIET_QWERTY",
        "StartDelayInMilliseconds": 1000,
    }
    assert bot["AutoBuildBotLocales"] is True
    assert bot["DataPrivacy"] == {"ChildDirected": False}


def test_the_cascaded_bot_uses_neural_speech_recognition_and_the_default_tiers_polly_voice(
    tenant_template: Template,
) -> None:
    _, bot = _bot(tenant_template, "oratio-cozy-comfort-cascaded")
    (locale,) = bot["BotLocales"]
    assert locale["VoiceSettings"] == {"VoiceId": "Joanna", "Engine": "neural"}
    assert locale["SpeechRecognitionSettings"] == {"SpeechModelPreference": "Neural"}
    assert "UnifiedSpeechSettings" not in locale
    assert "AudioFillerSettings" not in locale  # Lex offers audio filler on speech-to-speech locales only


@pytest.mark.parametrize("name", ["oratio-cozy-comfort-s2s", "oratio-cozy-comfort-cascaded"])
def test_both_bots_send_free_speech_and_requests_for_a_person_to_the_code_hook(
    tenant_template: Template, name: str
) -> None:
    _, bot = _bot(tenant_template, name)
    intents = {i["Name"]: i for i in bot["BotLocales"][0]["Intents"]}
    assert set(intents) == {"FallbackIntent", "SpeakToPerson"}
    assert intents["FallbackIntent"]["ParentIntentSignature"] == "AMAZON.FallbackIntent"
    assert all(i["FulfillmentCodeHook"] == {"Enabled": True} for i in intents.values())
    utterances = [u["Utterance"] for u in intents["SpeakToPerson"]["SampleUtterances"]]
    assert "I want to talk to a person" in utterances


@pytest.mark.parametrize("name", ["oratio-cozy-comfort-s2s", "oratio-cozy-comfort-cascaded"])
def test_each_bot_has_a_built_version_and_a_live_alias_whose_code_hook_is_voice_turn(
    tenant_template: Template, name: str
) -> None:
    bot_id, bot = _bot(tenant_template, name)
    code_hook_id, _ = _function(tenant_template, "voice_turn")
    (version_id,) = _resources(tenant_template, "AWS::Lex::BotVersion", {"BotId": {"Fn::GetAtt": [bot_id, "Id"]}})
    version = tenant_template.to_json()["Resources"][version_id]["Properties"]
    assert version["BotVersionLocaleSpecification"] == [
        {"LocaleId": "en_US", "BotVersionLocaleDetails": {"SourceBotVersion": "DRAFT"}}
    ]
    ((_, alias),) = _resources(tenant_template, "AWS::Lex::BotAlias", {"BotId": {"Fn::GetAtt": [bot_id, "Id"]}}).items()
    props = alias["Properties"]
    assert props["BotAliasName"] == "live"
    assert props["BotVersion"] == {"Fn::GetAtt": [version_id, "BotVersion"]}
    hook = {"CodeHookInterfaceVersion": "1.0", "LambdaArn": {"Fn::GetAtt": [code_hook_id, "Arn"]}}
    expected = [
        {
            "LocaleId": "en_US",
            "BotAliasLocaleSetting": {"Enabled": True, "CodeHookSpecification": {"LambdaCodeHook": hook}},
        }
    ]
    assert props["BotAliasLocaleSettings"] == expected
    # The console's test alias gets the same hook.
    assert bot["TestBotAliasSettings"]["BotAliasLocaleSettings"] == expected


def test_the_bot_role_is_lexs_own_with_speech_and_only_the_nova_sonic_model(tenant_template: Template) -> None:
    _, bot = _bot(tenant_template, "oratio-cozy-comfort-s2s")
    role_id = bot["RoleArn"]["Fn::GetAtt"][0]
    role = tenant_template.to_json()["Resources"][role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lexv2.amazonaws.com"}
    statements = {s.get("Sid"): s for s in _statements(tenant_template, role_id)}
    assert statements["NovaSonicSpeechToSpeech"]["Action"] == "bedrock:InvokeModel"
    assert statements["NovaSonicSpeechToSpeech"]["Resource"] == SONIC_MODEL_ARN
    assert statements["PollyVoices"]["Action"] == "polly:SynthesizeSpeech"


def test_only_lex_and_only_these_bots_aliases_may_invoke_the_code_hook(tenant_template: Template) -> None:
    code_hook_id, _ = _function(tenant_template, "voice_turn")
    permissions = _resources(
        tenant_template,
        "AWS::Lambda::Permission",
        {"FunctionName": {"Fn::GetAtt": [code_hook_id, "Arn"]}, "Principal": "lex.amazonaws.com"},
    )
    sources = [json.dumps(p["Properties"]["SourceArn"]) for p in permissions.values()]
    assert len(sources) == 4  # live and test alias of both bots
    assert sum("TSTALIASID" in s for s in sources) == 2
    assert all(p["Properties"]["SourceAccount"] for p in permissions.values())


def test_the_connect_instance_and_only_it_may_converse_with_the_aliases(tenant_template: Template) -> None:
    ((instance_id, _),) = _resources(tenant_template, "AWS::Connect::Instance").items()
    aliases = set(_resources(tenant_template, "AWS::Lex::BotAlias"))
    policies = _resources(tenant_template, "AWS::Lex::ResourcePolicy")
    assert {p["Properties"]["ResourceArn"]["Fn::GetAtt"][0] for p in policies.values()} == aliases
    for policy in policies.values():
        (statement,) = policy["Properties"]["Policy"]["Statement"]
        assert statement["Principal"] == {"Service": "connect.amazonaws.com"}
        assert statement["Action"] == ["lex:RecognizeText", "lex:StartConversation"]
        assert statement["Condition"]["ArnEquals"] == {"AWS:SourceArn": {"Fn::GetAtt": [instance_id, "Arn"]}}
    associations = _resources(tenant_template, "AWS::Connect::IntegrationAssociation", {"IntegrationType": "LEX_BOT"})
    assert {a["Properties"]["IntegrationArn"]["Fn::GetAtt"][0] for a in associations.values()} == aliases
    assert all(a["Properties"]["InstanceId"] == {"Fn::GetAtt": [instance_id, "Arn"]} for a in associations.values())


# ----------------------------------------------------------------------------------- the Lambdas
def test_the_code_hook_answers_within_lex_and_connect_limits_with_the_tenants_voice_profile(
    tenant_template: Template,
) -> None:
    ((instance_id, _),) = _resources(tenant_template, "AWS::Connect::Instance").items()
    code_hook_id, function = _function(tenant_template, "voice_turn")
    props = function["Properties"]
    assert props["Timeout"] <= 10
    variables = props["Environment"]["Variables"]
    profile = VoiceProfile.from_env(variables[VOICE_PROFILE_ENV_VAR])
    assert (profile.tenant_id, profile.sonic_voice_id, profile.deadline_seconds) == (TENANT, "tiffany", 2.3)
    assert "Ref" in variables["ORATIO_VOICE_WORKER_FUNCTION"]
    tenant_template.has_resource_properties(
        "AWS::Connect::IntegrationAssociation",
        {"IntegrationType": "LAMBDA_FUNCTION", "IntegrationArn": {"Fn::GetAtt": [code_hook_id, "Arn"]}},
    )
    tenant_template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "FunctionName": {"Fn::GetAtt": [code_hook_id, "Arn"]},
            "Principal": "connect.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [instance_id, "Arn"]},
        },
    )


def _item_grants(statements: list[dict[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    grants: dict[tuple[str, ...], list[str]] = {}
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if any(str(a).startswith("dynamodb:") for a in actions):
            keys = tuple(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
            # The table name is the platform's SSM parameter: .../oratio/platform/tables/<key>/name (the CDK merges
            # statements that differ only in their table, so one statement may name several).
            found = re.findall(r"oratioplatformtables([a-z]+?)name", json.dumps(s["Resource"]))
            assert found, s["Resource"]
            for table in found:
                grants[(table, *keys)] = sorted(actions)
    return grants


def test_the_code_hook_may_touch_only_this_tenants_items_and_invoke_only_its_worker(tenant_template: Template) -> None:
    _, function = _function(tenant_template, "voice_turn")
    worker_id, _ = _function(tenant_template, "voice_agent_turn")
    statements = _statements(tenant_template, _role_of(function))
    assert _item_grants(statements) == {
        ("conversations", f"{TENANT}#*"): [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ],
        ("tenantstate", TENANT): ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
        # the budget check reads the month; each charge (Lex, Polly, the Sonic estimate) is a transaction: the
        # charge's marker put and the ADDs
        ("usage", TENANT): ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        # each turn reads the routed agent's status and its definition version, only this tenant's
        ("agents", TENANT): ["dynamodb:GetItem"],
        ("agentdefinitions", f"{TENANT}#*"): ["dynamodb:GetItem"],
    }
    invoke = next(s for s in statements if s.get("Sid") == "RunAgentTurns")
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"] == {"Fn::GetAtt": [worker_id, "Arn"]}


def test_the_worker_outlives_the_agents_turn_deadline_and_may_invoke_only_the_tenant_agent(
    tenant_template: Template,
) -> None:
    _, worker = _function(tenant_template, "voice_agent_turn")
    assert worker["Properties"]["Timeout"] == 8 + 20
    variables = worker["Properties"]["Environment"]["Variables"]
    assert (variables["ORATIO_TENANT_ID"], variables["ORATIO_AGENT_QUALIFIER"]) == (TENANT, "live")
    runtime_id = next(
        logical_id
        for logical_id, runtime in _resources(tenant_template, "AWS::BedrockAgentCore::Runtime").items()
        if runtime["Properties"]["AgentRuntimeName"] == "oratio_cozy_comfort"
    )
    assert variables["ORATIO_AGENT_RUNTIME_ARN"] == {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]}
    statements = _statements(tenant_template, _role_of(worker))
    agent = next(s for s in statements if s.get("Sid") == "InvokeTheTenantAgent")
    assert agent["Action"] == "bedrock-agentcore:InvokeAgentRuntime"
    assert {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]} in agent["Resource"]
    assert _item_grants(statements) == {
        ("conversations", f"{TENANT}#*"): ["dynamodb:PutItem", "dynamodb:UpdateItem"],
        ("tenantstate", TENANT): ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
    }


def test_the_workers_bundle_carries_the_agents_typed_client_and_the_layer_its_http_dependency(
    synthesized: Synthesized,
) -> None:
    bundle = ASSETS_DIR / "voice_agent_turn"
    for source in AGENT_CLIENT_SOURCES:
        assert (bundle / source).is_file(), source
    assert (bundle / "oratio" / "connect_voice" / "worker.py").is_file()
    layer = Path(__file__).resolve().parents[2] / "build" / "layers" / "deps" / "python"
    assert (layer / "httpx").is_dir()


# ------------------------------------------------------------------------------------- the flows
def test_the_inbound_flow_enters_the_bots_and_calls_voice_turn_through_cloudformation_references(
    tenant_template: Template,
) -> None:
    ((inbound_id, inbound),) = _resources(
        tenant_template,
        "AWS::Connect::ContactFlow",
        {"Type": "CONTACT_FLOW", "Name": Match.string_like_regexp("inbound")},
    ).items()
    ((whisper_id, _),) = _resources(tenant_template, "AWS::Connect::ContactFlow", {"Type": "AGENT_WHISPER"}).items()
    parts = inbound["Properties"]["Content"]["Fn::Join"][1]
    code_hook_id, _ = _function(tenant_template, "voice_turn")
    aliases = set(_resources(tenant_template, "AWS::Lex::BotAlias"))
    assert {"Fn::GetAtt": [code_hook_id, "Arn"]} in parts
    assert {p["Fn::GetAtt"][0] for p in parts if isinstance(p, dict) and p["Fn::GetAtt"][1] == "Arn"} >= aliases
    assert {"Fn::GetAtt": [whisper_id, "ContactFlowArn"]} in parts
    # Connect validates a flow's bots when it stores the flow: the bots must be associated first.
    depends_on = tenant_template.to_json()["Resources"][inbound_id]["DependsOn"]
    lex_associations = _resources(
        tenant_template, "AWS::Connect::IntegrationAssociation", {"IntegrationType": "LEX_BOT"}
    )
    assert set(lex_associations) <= set(depends_on)
