"""AgentCreator on Amazon Bedrock AgentCore Runtime: the runtime running `agentcore/agent_creator` from a zip code
asset (no Docker), and its own execution role, allowed exactly what a job needs:

- the creator-jobs table (put and query: jobs and stage records),
- its prefix of the artifact bucket (`agent-creator/*`: the SOP, large stage outputs, agent.py, manifest, scripts),
- Bedrock Converse (`bedrock:InvokeModel`) on the stage models AgentCreator is configured with, only,
- new definition versions: a put on the agent-definitions table and the agent's own item (the version is written
  in one transaction with the agent's `latest_version`, never published),
- the usage ledger's updates (the job's model cost is charged to the tenant),
- for the gate, per bundled tenant: its allowed agent models and its embedding model (`bedrock:InvokeModel`), and
  queries of its knowledge index (`s3vectors:QueryVectors`/`GetVectors` on that one index, by the name its
  TenantStack gives it): the candidate is tested on the model and knowledge it will run on.

The vendor API's function gets `bedrock-agentcore:InvokeAgentRuntime` on this runtime (and nothing else of it),
and the job store's reads and writes it needs to submit an SOP and show a job.

The code asset carries the tenant files (`tenants/`): the runtime reads a tenant's tools and defaults from the
same files its TenantStack is synthesized from, so a new tenant needs a platform deploy before AgentCreator
serves it. It carries no local stand-in (`oratio_local` stays out: a test fails if it comes back).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from agentcore.agent_creator import wiring
from oratio.agent_creator.jobs import StageName
from oratio.agent_creator.pipeline import CreatorSettings
from oratio.config import TenantConfig, load_model_catalog
from oratio.config.tenant import load_tenants
from oratio.creator_launch import ARTIFACT_BUCKET_ENV_VAR, CREATOR_JOBS_TABLE_ENV_VAR
from oratio.knowledge_names import VECTOR_INDEX_NAME, vector_bucket_name
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CREATOR_JOBS, TENANT_STATE, USAGE, TableSpec
from oratio.vendors.api.creator_routes import CREATOR_RUNTIME_ARN_ENV_VAR
from stacks.constructs.agent_runtime import (
    DEPS_DIR,
    ROOT,
    _as_nag_finding,
    allow_models,
    foundation_model_arn,
    runtime_execution_role,
    stage_runtime_code,
    zip_code_runtime,
)
from stacks.constructs.lambda_function import OratioFunction
from stacks.nag import acknowledge
from stacks.names import PROJECT, Outputs
from stacks.staging import StagedAsset

RUNTIME_NAME = f"{PROJECT}_agent_creator"
ASSET_DIR = ROOT / "build" / "agentcore" / "agent_creator"
# Where AgentCreator keeps everything it writes in the artifact bucket (`oratio.agent_creator.jobs.output_key`).
ARTIFACT_PREFIX = "agent-creator/"
# Item actions of the runtime's role, per table (what the job store, version writer and ledger call).
RUNTIME_TABLE_ACTIONS: dict[TableSpec, tuple[str, ...]] = {
    CREATOR_JOBS: ("PutItem", "Query"),
    AGENT_DEFINITIONS: ("GetItem", "PutItem", "Query"),
    AGENTS: ("GetItem", "PutItem"),
    USAGE: ("GetItem", "UpdateItem"),
}
# The vendor API's: create a job on submit (put), read it with its stages (query); a launch failure marks it failed.
API_TABLE_ACTIONS = ("PutItem", "Query")


def stage_creator_code() -> StagedAsset:
    """Lay out the AgentCreator runtime's code asset folder (idempotent, offline)."""
    return stage_runtime_code(
        packages=("agent_creator",),
        entry_package="agent_creator",
        deps_dir=DEPS_DIR,
        asset_dir=ASSET_DIR,
        extra_entries=((ROOT / "tenants", "tenants"),),
    )


def stage_model_ids(settings: CreatorSettings | None = None) -> tuple[str, ...]:
    """The catalog models AgentCreator's stages call (its settings' default and per-stage choices)."""
    settings = settings or CreatorSettings()
    return tuple(sorted({settings.model_for(stage) for stage in StageName} | {settings.default_model}))


class AgentCreatorRuntime(Construct):
    """The AgentCreator runtime and its role. Public attributes: `role`, `runtime`, `runtime_arn`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: dict[str, dynamodb.Table],
        artifact_bucket: s3.IBucket,
        tenants: tuple[TenantConfig, ...] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._tables = tables
        self._bucket = artifact_bucket
        self.role = runtime_execution_role(self, RUNTIME_NAME)
        allow_models(self.role, stage_model_ids(), sid="InvokeStageModels")
        for spec, actions in RUNTIME_TABLE_ACTIONS.items():
            self._allow_items(self.role, spec, actions)
        self._allow_artifacts(self.role, "CreatorArtifacts")
        self._allow_gate(tuple(load_tenants(ROOT / "tenants")) if tenants is None else tenants)
        self.runtime = zip_code_runtime(
            self,
            name=RUNTIME_NAME,
            description="Oratio AgentCreator: SOP to a reviewed, tested, unpublished agent definition version",
            role=self.role,
            asset=stage_creator_code(),
            environment=self._environment(),
            read_statement_sid="ReadTheCreatorCode",
        )
        self.runtime_arn = self.runtime.attr_agent_runtime_arn
        CfnOutput(stack, Outputs.AGENT_CREATOR_RUNTIME_ARN, value=self.runtime_arn)

    def _environment(self) -> dict[str, str]:
        table = self._tables
        return {
            wiring.ENV_JOBS_TABLE: table[CREATOR_JOBS.key].table_name,
            wiring.ENV_ARTIFACT_BUCKET: self._bucket.bucket_name,
            AGENTS.env_var: table[AGENTS.key].table_name,
            AGENT_DEFINITIONS.env_var: table[AGENT_DEFINITIONS.key].table_name,
            USAGE.env_var: table[USAGE.key].table_name,
            # Named for the agent repository's constructor only: the runtime writes no tenant state (no grant).
            TENANT_STATE.env_var: table[TENANT_STATE.key].table_name,
            wiring.ENV_REGION: Stack.of(self).region,
            # AgentCore Runtime connects to the app on port 8080 of the microVM, not on loopback.
            wiring.ENV_HOST: "0.0.0.0",  # noqa: S104 - the runtime's own network namespace
            wiring.ENV_PORT: str(wiring.DEFAULT_PORT),
        }

    def _allow_gate(self, tenants: tuple[TenantConfig, ...]) -> None:
        """What the gate's engine calls for the bundled tenants: their agent models, embedding models and
        knowledge indexes (nothing of a tenant the bundle does not hold)."""
        if not tenants:
            return
        stack = Stack.of(self)
        catalog = load_model_catalog()
        allow_models(self.role, sorted({m for t in tenants for m in t.agent.allowed_models}), sid="GateTenantModels")
        embeddings = sorted({catalog.embedding_model(t.knowledge.embedding_model).bedrock_model_id for t in tenants})
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="GateEmbedQueries",
                actions=["bedrock:InvokeModel"],
                resources=[foundation_model_arn(stack, model, stack.region) for model in embeddings],
            )
        )
        indexes = [
            stack.format_arn(
                service="s3vectors",
                resource="bucket",
                resource_name=f"{vector_bucket_name(t.tenant_id)}/index/{VECTOR_INDEX_NAME}",
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
            for t in tenants
        ]
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="GateQueryTenantKnowledge",
                actions=["s3vectors:QueryVectors", "s3vectors:GetVectors"],
                resources=indexes,
            )
        )

    def _allow_items(self, grantee: iam.IGrantable, spec: TableSpec, actions: tuple[str, ...]) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[f"dynamodb:{action}" for action in actions],
                resources=[self._tables[spec.key].table_arn],
            )
        )

    def _allow_artifacts(self, role: iam.IRole, sid: str) -> None:
        """Read and write AgentCreator's own prefix of the artifact bucket (never the rest of it)."""
        objects = self._bucket.arn_for_objects(f"{ARTIFACT_PREFIX}*")
        role.add_to_principal_policy(
            iam.PolicyStatement(sid=sid, actions=["s3:GetObject", "s3:PutObject"], resources=[objects])
        )
        acknowledge(
            role,
            "IAM5",
            "AgentCreator writes one key per job and output under agent-creator/<tenant>/<agent>/<job>/, named at "
            "run time; the grant is limited to that prefix of the artifact bucket.",
            applies_to=f"Resource::{_as_nag_finding(Stack.of(self), objects)}",
        )

    def allow_launch(self, api: OratioFunction) -> None:
        """Let the vendor API launch jobs on this runtime and keep the jobs it launches (and tell it where)."""
        stack = Stack.of(self)
        endpoints = stack.format_arn(
            service="bedrock-agentcore",
            resource="runtime",
            resource_name=f"{self.runtime.attr_agent_runtime_id}/runtime-endpoint/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        api.role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchAgentCreatorJobs",
                actions=["bedrock-agentcore:InvokeAgentRuntime"],
                resources=[self.runtime_arn, endpoints],
            )
        )
        self._allow_items(api.role, CREATOR_JOBS, API_TABLE_ACTIONS)
        self._allow_artifacts(api.role, "CreatorJobOutputs")
        acknowledge(
            api.role,
            "IAM5",
            "InvokeAgentRuntime with a qualifier is authorized on the runtime's endpoints "
            "(runtime/<id>/runtime-endpoint/<name>); the pattern covers this one runtime's endpoints only.",
            applies_to=f"Resource::{_as_nag_finding(stack, endpoints)}",
        )
        for name, value in {
            CREATOR_RUNTIME_ARN_ENV_VAR: self.runtime_arn,
            CREATOR_JOBS_TABLE_ENV_VAR: self._tables[CREATOR_JOBS.key].table_name,
            ARTIFACT_BUCKET_ENV_VAR: self._bucket.bucket_name,
        }.items():
            api.function.add_environment(name, value)
