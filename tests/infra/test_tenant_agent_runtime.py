"""TenantStack → TenantAgentRuntime: the tenant agent's AgentCore Runtime from a zip code asset, its
endpoint and memory, the environment the agent reads, and an execution role scoped to this tenant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from agentcore.tenant_agent import wiring
from oratio.config import load_model_catalog, load_tenant_file
from stacks.app_builder import TENANTS_DIR
from stacks.constructs import agent_runtime
from stacks.names import Outputs, tenant_parameter
from stacks.staging import MissingBuildError
from tests.infra.asset_checks import ZippedAsset
from tests.infra.conftest import TEST_ENV, Synthesized

TENANT = "cozy-comfort"
ACCOUNT, REGION = TEST_ENV.account, TEST_ENV.region
US_PROFILE_REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2")


def _only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = template.find_resources(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def runtime(tenant_template: Template) -> tuple[str, dict[str, Any]]:
    # The tenant has two runtimes (the agent and the voice bridge): this file is about the agent's.
    found = tenant_template.find_resources(
        "AWS::BedrockAgentCore::Runtime", {"Properties": {"AgentRuntimeName": agent_runtime.runtime_name(TENANT)}}
    )
    assert len(found) == 1, f"expected the agent's runtime, found {len(found)}"
    return next(iter(found.items()))


@pytest.fixture(scope="module")
def environment(runtime: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(runtime[1]["Properties"]["EnvironmentVariables"])


@pytest.fixture(scope="module")
def statements(tenant_template: Template, runtime: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    role_id = runtime[1]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    policies = tenant_template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    assert policies, "the runtime's role has no policy"
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _with_action(statements: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith(prefix) for a in _as_list(s["Action"]))]


def test_runtime_runs_the_zipped_code_asset_on_python_3_12_over_http(
    runtime: tuple[str, dict[str, Any]],
) -> None:
    properties = runtime[1]["Properties"]
    code = properties["AgentRuntimeArtifact"]["CodeConfiguration"]
    assert code["Runtime"] == "PYTHON_3_12"
    assert code["EntryPoint"] == ["main.py"]
    assert code["Code"]["S3"]["Prefix"].endswith(".zip")
    assert properties["AgentRuntimeName"] == "oratio_cozy_comfort"
    assert properties["ProtocolConfiguration"] == "HTTP"
    assert properties["NetworkConfiguration"] == {"NetworkMode": "PUBLIC"}


def test_code_asset_holds_the_agent_the_core_package_and_arm64_dependencies_but_no_local_stand_ins(
    synthesized: Synthesized, runtime: tuple[str, dict[str, Any]]
) -> None:
    s3_key = runtime[1]["Properties"]["AgentRuntimeArtifact"]["CodeConfiguration"]["Code"]["S3"]["Prefix"]
    asset = ZippedAsset(synthesized.outdir, s3_key)
    for path in ("main.py", "agentcore/tenant_agent/app.py", "oratio/agent/contracts.py", "bedrock_agentcore"):
        assert asset.exists(path), f"{path} missing from the code asset"
    assert asset.read_text("main.py") == (agent_runtime.AGENT_SOURCE / "__main__.py").read_text()
    assert not asset.exists("oratio_local")
    # Byte-code for the runtime ships with our code and the vendored packages (AgentCore's microVMs start cold).
    for module in ("oratio/agent/contracts.py", "agentcore/tenant_agent/app.py", "pydantic/main.py"):
        asset.assert_unchecked_pyc_for_python_3_12(module)
    # arm64 wheels, not the build machine's: the compiled pydantic core is an aarch64 library.
    assert asset.glob_names("pydantic_core", ".so") == ["_pydantic_core.cpython-312-aarch64-linux-gnu.so"]


def test_endpoint_serves_the_version_this_stack_deployed(
    tenant_template: Template, runtime: tuple[str, dict[str, Any]]
) -> None:
    runtime_id = runtime[0]
    tenant_template.has_resource_properties(
        "AWS::BedrockAgentCore::RuntimeEndpoint",
        {
            "Name": agent_runtime.ENDPOINT_NAME,
            "AgentRuntimeId": {"Fn::GetAtt": [runtime_id, "AgentRuntimeId"]},
            "AgentRuntimeVersion": {"Fn::GetAtt": [runtime_id, "AgentRuntimeVersion"]},
        },
    )


def test_memory_keeps_short_term_events_for_thirty_days_without_extraction(tenant_template: Template) -> None:
    _, memory = _only(tenant_template, "AWS::BedrockAgentCore::Memory")
    assert memory["Properties"]["EventExpiryDuration"] == 30
    assert "MemoryStrategies" not in memory["Properties"]


def test_environment_names_the_agents_tables_memory_and_knowledge(
    tenant_template: Template, environment: dict[str, Any]
) -> None:
    memory_id, _ = _only(tenant_template, "AWS::BedrockAgentCore::Memory")
    kb_id, _ = _only(tenant_template, "AWS::Bedrock::KnowledgeBase")
    for table in ("CONVERSATIONS", "CUSTOMER_CONTEXT", "USAGE"):
        assert f"ORATIO_TABLE_{table}" in environment
    assert environment[wiring.ENV_MEMORY_ID] == {"Fn::GetAtt": [memory_id, "MemoryId"]}
    assert environment[wiring.ENV_KNOWLEDGE_BASE_ID] == {"Fn::GetAtt": [kb_id, "KnowledgeBaseId"]}
    assert environment[wiring.ENV_VECTOR_BUCKET] == "oratio-cozy-comfort-vectors"
    assert environment[wiring.ENV_VECTOR_INDEX] == "knowledge"
    assert environment[wiring.ENV_REGION] == REGION
    assert environment[wiring.ENV_HOST] == "0.0.0.0"  # noqa: S104 - AgentCore reaches the agent from outside loopback
    assert wiring.ENV_LOCAL_MODE not in environment
    assert len(environment) <= 50


def test_environment_carries_the_whole_tenant_config_within_cloudformation_limits(
    environment: dict[str, Any],
) -> None:
    parts = {k: v for k, v in environment.items() if k.startswith(wiring.ENV_TENANT_CONFIG_PART)}
    assert parts
    assert all(len(v) <= 2_048 for v in parts.values())
    # Table names and ids are resolved at deploy time; stand-ins let the settings validate here.
    deployed = {k: v if isinstance(v, str) else f"resolved-{k.lower()}" for k, v in environment.items()}

    settings = wiring.RuntimeSettings.from_environ(deployed)

    assert settings.tenant() == load_tenant_file(TENANTS_DIR / f"{TENANT}.yaml")
    assert not settings.local_mode


def test_role_is_assumed_only_by_agentcore_for_this_runtime(
    tenant_template: Template, runtime: tuple[str, dict[str, Any]]
) -> None:
    role_id = runtime[1]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = tenant_template.to_json()["Resources"][role_id]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    source_arn = json.dumps(trust["Condition"]["ArnLike"]["aws:SourceArn"])
    assert f":bedrock-agentcore:{REGION}:{ACCOUNT}:runtime/oratio_cozy_comfort-*" in source_arn
    assert "ManagedPolicyArns" not in role["Properties"]


def test_role_may_invoke_exactly_the_tenants_allowed_models_and_its_embedding_model(
    statements: list[dict[str, Any]],
) -> None:
    tenant = load_tenant_file(TENANTS_DIR / f"{TENANT}.yaml")
    catalog = load_model_catalog()
    bedrock_ids = [catalog.model(m).bedrock_model_id for m in tenant.agent.allowed_models]
    profiles = {f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{b}" for b in bedrock_ids}
    foundations = {
        f"arn:aws:bedrock:{region}::foundation-model/{b.removeprefix('us.')}"
        for b in bedrock_ids
        for region in US_PROFILE_REGIONS
    }
    embedding = f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"

    invoking = _with_action(statements, "bedrock:Invoke")
    by_resource = {r: s for s in invoking for r in _as_list(s["Resource"])}
    assert set(by_resource) == profiles | foundations | {embedding}
    for arn in foundations:
        # Foundation models only as the destination of the tenant's profiles, never invoked directly.
        condition = by_resource[arn]["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]
        assert set(condition) == profiles
    assert _as_list(by_resource[embedding]["Action"]) == ["bedrock:InvokeModel"]
    assert "nova-pro" not in tenant.agent.allowed_models
    assert not [r for r in by_resource if "nova-pro" in r]


def test_role_reads_only_the_tenants_vector_index_and_knowledge_base(
    tenant_template: Template, statements: list[dict[str, Any]]
) -> None:
    index_id, _ = _only(tenant_template, "AWS::S3Vectors::Index")
    kb_id, _ = _only(tenant_template, "AWS::Bedrock::KnowledgeBase")
    (vectors,) = _with_action(statements, "s3vectors:")
    assert sorted(_as_list(vectors["Action"])) == ["s3vectors:GetVectors", "s3vectors:QueryVectors"]
    assert vectors["Resource"] == {"Fn::GetAtt": [index_id, "IndexArn"]}
    (retrieve,) = _with_action(statements, "bedrock:Retrieve")
    assert retrieve["Resource"] == {"Fn::GetAtt": [kb_id, "KnowledgeBaseArn"]}


def test_role_writes_and_lists_events_of_its_own_memory_only(
    tenant_template: Template, statements: list[dict[str, Any]]
) -> None:
    memory_id, _ = _only(tenant_template, "AWS::BedrockAgentCore::Memory")
    (memory,) = _with_action(statements, "bedrock-agentcore:")
    assert sorted(_as_list(memory["Action"])) == ["bedrock-agentcore:CreateEvent", "bedrock-agentcore:ListEvents"]
    assert memory["Resource"] == {"Fn::GetAtt": [memory_id, "MemoryArn"]}


def test_every_dynamodb_statement_is_limited_to_the_tenants_keys(statements: list[dict[str, Any]]) -> None:
    dynamodb = _with_action(statements, "dynamodb:")
    assert len(dynamodb) == 5  # conversations, customer_context, usage; agents and agent_definitions (read only)
    leading_keys = sorted(tuple(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]) for s in dynamodb)
    assert leading_keys == [(f"{TENANT}",), (f"{TENANT}",), (f"{TENANT}#*",), (f"{TENANT}#*",), (f"{TENANT}#*",)]
    for statement in dynamodb:
        assert "Scan" not in json.dumps(statement["Action"])
    # The agents' status and definitions are only read, one item at a time.
    reads = [s for s in dynamodb if _as_list(s["Action"]) == ["dynamodb:GetItem"]]
    assert len(reads) >= 2


def test_role_has_no_wildcard_actions_and_star_resources_only_where_aws_allows_no_other(
    statements: list[dict[str, Any]],
) -> None:
    actions = [a for s in statements for a in _as_list(s["Action"])]
    assert not [a for a in actions if "*" in a]
    star = [s for s in statements if "*" in _as_list(s["Resource"])]
    assert sorted(s["Sid"] for s in star) == ["RuntimeMetrics", "Traces"]
    (metrics,) = [s for s in star if s["Sid"] == "RuntimeMetrics"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "bedrock-agentcore"}}


def test_role_reads_the_code_object_and_nothing_else_in_the_asset_bucket(
    runtime: tuple[str, dict[str, Any]], statements: list[dict[str, Any]]
) -> None:
    code = runtime[1]["Properties"]["AgentRuntimeArtifact"]["CodeConfiguration"]["Code"]["S3"]
    (s3,) = _with_action(statements, "s3:")
    assert _as_list(s3["Action"]) == ["s3:GetObject"]
    assert json.dumps(s3["Resource"]).endswith(f'/{code["Prefix"]}"')


def test_runtime_is_created_after_its_role_policy(
    tenant_template: Template, runtime: tuple[str, dict[str, Any]]
) -> None:
    role_id = runtime[1]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    policy_ids = tenant_template.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role_id}]}})
    assert set(policy_ids) <= set(runtime[1]["DependsOn"])


def test_runtime_and_endpoint_arns_are_published_for_callers(
    tenant_template: Template, runtime: tuple[str, dict[str, Any]]
) -> None:
    runtime_id = runtime[0]
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter",
        {
            "Name": tenant_parameter(TENANT, "agent/runtime-arn"),
            "Value": {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]},
        },
    )
    tenant_template.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": tenant_parameter(TENANT, "agent/endpoint-arn"), "Value": Match.any_value()}
    )
    tenant_template.has_output(Outputs.AGENT_RUNTIME_ARN, {"Value": {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]}})
    tenant_template.has_output(Outputs.AGENT_ENDPOINT_ARN, {"Value": Match.any_value()})


def test_synth_without_vendored_dependencies_says_to_run_make_setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(agent_runtime, "DEPS_DIR", tmp_path / "missing")

    with pytest.raises(MissingBuildError, match="make setup"):
        agent_runtime.stage_agent_code()
