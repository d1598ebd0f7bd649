"""The AgentCreator runtime in the platform stack: deployed from a zip code asset, its own least-privilege role
(only the creator-jobs table, its prefix of the artifact bucket, the stage models, new definition versions and the
usage ledger), and the vendor API allowed to launch it — over the one synthesized app of the session."""

from __future__ import annotations

import json
import zipfile
from typing import Any

from aws_cdk.assertions import Match, Template

from oratio.tables import AGENT_DEFINITIONS, AUDIT, CONVERSATIONS, CREATOR_JOBS, CUSTOMER_CONTEXT
from stacks.constructs.agent_creator_runtime import RUNTIME_NAME, stage_creator_code, stage_model_ids
from tests.infra.conftest import Synthesized


def _runtime(template: Template) -> dict[str, Any]:
    runtimes = template.find_resources(
        "AWS::BedrockAgentCore::Runtime", {"Properties": {"AgentRuntimeName": RUNTIME_NAME}}
    )
    assert len(runtimes) == 1
    return next(iter(runtimes.values()))


def _role_statements(template: Template, role_ref: str) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy")
    return [
        statement
        for policy in policies.values()
        if {"Ref": role_ref} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _creator_role(template: Template) -> str:
    role_arn = _runtime(template)["Properties"]["RoleArn"]
    return str(role_arn["Fn::GetAtt"][0])


def _text(value: Any) -> str:
    return json.dumps(value)


def test_agent_creator_runs_from_a_zip_code_asset_on_python_312(platform_template: Template) -> None:
    runtime = _runtime(platform_template)["Properties"]

    code = runtime["AgentRuntimeArtifact"]["CodeConfiguration"]
    assert code["EntryPoint"] == ["main.py"]
    assert code["Runtime"] == "PYTHON_3_12"
    assert "ContainerConfiguration" not in runtime["AgentRuntimeArtifact"]
    env = runtime["EnvironmentVariables"]
    assert env["ORATIO_AGENT_CREATOR_HOST"] == "0.0.0.0"  # noqa: S104
    assert {"ORATIO_TABLE_CREATOR_JOBS", "ORATIO_ARTIFACT_BUCKET", "ORATIO_TABLE_AGENT_DEFINITIONS"} <= set(env)
    assert "ORATIO_LOCAL_MODE" not in env


def test_the_code_asset_holds_the_entry_point_the_runtime_and_the_tenant_files() -> None:
    names = set(zipfile.ZipFile(stage_creator_code().path).namelist())

    assert {"main.py", "agentcore/agent_creator/app.py", "agentcore/agent_creator/wiring.py"} <= names
    assert "oratio/agent_creator/pipeline.py" in names
    assert "tenants/cozy-comfort.yaml" in names
    assert {"oratio/agent_creator/deployed_gate.py", "oratio/agent/assembly.py"} <= names


def test_the_code_asset_carries_no_local_stand_in() -> None:
    names = zipfile.ZipFile(stage_creator_code().path).namelist()

    assert [n for n in names if n.startswith("oratio_local/")] == []
    assert [n for n in names if n.startswith("agentcore/tenant_agent/")] == []


def test_the_gate_may_call_each_bundled_tenants_models_and_query_its_knowledge_index_only(
    platform_template: Template,
) -> None:
    from oratio.config.tenant import load_tenants
    from oratio.knowledge_names import vector_bucket_name
    from stacks.constructs.agent_runtime import ROOT

    statements = _role_statements(platform_template, _creator_role(platform_template))
    by_sid = {s.get("Sid"): s for s in statements}
    tenants = load_tenants(ROOT / "tenants")
    queries = _text(by_sid["GateQueryTenantKnowledge"]["Resource"])
    assert sorted(by_sid["GateQueryTenantKnowledge"]["Action"]) == ["s3vectors:GetVectors", "s3vectors:QueryVectors"]
    for t in tenants:
        assert f"bucket/{vector_bucket_name(t.tenant_id)}/index/knowledge" in queries
    assert "*" not in queries
    assert by_sid["GateEmbedQueries"]["Action"] == "bedrock:InvokeModel"
    assert "GateTenantModels" in by_sid


def test_the_creator_role_reaches_only_its_tables_its_prefix_and_its_models(platform_template: Template) -> None:
    statements = _role_statements(platform_template, _creator_role(platform_template))
    dynamo = [s for s in statements if str(s["Action"]).count("dynamodb:")]
    touched = _text([s["Resource"] for s in dynamo])

    for spec in (CREATOR_JOBS, AGENT_DEFINITIONS):
        assert "".join(p.capitalize() for p in spec.key.split("_")) + "Table" in touched
    for never in (AUDIT, CONVERSATIONS, CUSTOMER_CONTEXT):
        assert "".join(p.capitalize() for p in never.key.split("_")) + "Table" not in touched
    actions = {a for s in dynamo for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not actions & {"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:*"}
    s3 = [s for s in statements if s.get("Sid") == "CreatorArtifacts"]
    assert len(s3) == 1
    assert "/agent-creator/*" in _text(s3[0]["Resource"])
    models = [s for s in statements if str(s.get("Sid", "")).startswith("InvokeStageModels")]
    assert models
    assert "*" not in [r for s in models for r in (s["Resource"] if isinstance(s["Resource"], list) else [])]
    assert stage_model_ids()


def test_the_vendor_api_may_invoke_the_creator_runtime_and_knows_where_it_is(platform_template: Template) -> None:
    platform_template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Sid": "LaunchAgentCreatorJobs", "Action": "bedrock-agentcore:InvokeAgentRuntime"}
                        )
                    ]
                )
            }
        },
    )
    functions = platform_template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": {"ORATIO_AGENT_CREATOR_RUNTIME_ARN": Match.any_value()}}}},
    )
    assert len(functions) == 1


def test_the_creator_jobs_table_keeps_jobs_with_pitr_and_an_agent_index(platform_template: Template) -> None:
    platform_template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "GlobalSecondaryIndexes": Match.array_with([Match.object_like({"IndexName": "by_agent"})]),
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        },
    )


def test_agent_creator_adds_no_unacknowledged_nag_finding(synthesized: Synthesized) -> None:
    findings = [f for f in synthesized.nag_violations() if "agentcreator" in f.lower().replace("-", "")]

    assert not findings, "\n".join(findings)
