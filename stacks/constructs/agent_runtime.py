"""The tenant agent on Amazon Bedrock AgentCore Runtime: its short-term memory, the runtime running
`agentcore/tenant_agent` from a zip code asset (no Docker), an endpoint, and an execution role allowed
exactly what a turn needs.

The code asset is staged at synth into `build/agentcore/tenant_agent/`: the arm64 dependencies that
`scripts/bootstrap.sh` vendored into `build/agentcore/deps/` at the root (as `pip --target` lays them
out), the `agentcore.tenant_agent` and `oratio` packages beside them, and `main.py` (the package's
`__main__.py`) as the entry point AgentCore runs. `oratio_local` is not shipped: local stand-ins are
never used when deployed.

The runtime is the CloudFormation resource, not the `Runtime` L2: the L2 adds baseline grants to any
execution role (read on the whole CDK asset bucket with `s3:GetObject*`/`s3:List*`, workload access
tokens for any user id) that this agent does not use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, AssetHashType, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from agentcore.tenant_agent import wiring
from oratio.config import TenantConfig, load_model_catalog
from oratio.knowledge_names import vector_bucket_name
from oratio.tables import CONVERSATIONS, CUSTOMER_CONTEXT, USAGE
from stacks.bytecode import compile_tree
from stacks.constructs.data_tables import PlatformTableRefs, grant_definition_reads
from stacks.constructs.knowledge import INDEX_NAME, TenantKnowledge
from stacks.constructs.lambda_function import CORE_PACKAGE
from stacks.nag import acknowledge
from stacks.names import PROJECT, Outputs, tenant_parameter
from stacks.staging import StagedAsset, copy_entries, restage, source_digest, vendored_stamp, vendored_zip, zip_with

ROOT = Path(__file__).resolve().parents[2]
AGENTCORE_DIR = ROOT / "agentcore"
AGENT_SOURCE = AGENTCORE_DIR / "tenant_agent"
DEPS_DIR = ROOT / "build" / "agentcore" / "deps"
ASSET_DIR = ROOT / "build" / "agentcore" / "tenant_agent"
ENTRY_POINT = "main.py"
PYTHON_RUNTIME = "PYTHON_3_12"
ENDPOINT_NAME = "live"
SHORT_TERM_MEMORY_DAYS = 30  # conversation events; cross-channel context lives in DynamoDB
# Where a geographic cross-region inference profile may route a request. The caller needs the profile in
# its own region and the foundation model in every destination region. Add a prefix before a catalog
# model uses it: synth fails for an unknown one rather than guessing.
INFERENCE_PROFILE_DESTINATIONS: dict[str, tuple[str, ...]] = {
    "us": ("us-east-1", "us-east-2", "us-west-1", "us-west-2"),
}
# Model ids starting "<prefix>." name a system-defined cross-region inference profile.
INFERENCE_PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"})
MODEL_ACTIONS = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


def runtime_name(tenant_id: str) -> str:
    """AgentCore names allow letters, digits and underscores only, 48 at most (tenant ids are ≤ 40)."""
    return f"{PROJECT}_{tenant_id.replace('-', '_')}"


def stage_agent_code() -> StagedAsset:
    """Lay out the tenant agent's code asset folder (idempotent, offline)."""
    return stage_runtime_code(
        packages=("tenant_agent",), entry_package="tenant_agent", deps_dir=DEPS_DIR, asset_dir=ASSET_DIR
    )


@cache
def stage_runtime_code(
    *,
    packages: tuple[str, ...],
    entry_package: str,
    deps_dir: Path,
    asset_dir: Path,
    extra_entries: tuple[tuple[Path, str], ...] = (),
) -> StagedAsset:
    """An AgentCore code asset: a zip (`<asset_dir>.zip`) of the vendored dependencies of `deps_dir` (with the
    byte-code bootstrap compiled for them), the `agentcore.<package>` packages named and the `oratio` core
    (staged in `asset_dir` and compiled for python3.12 here), and `main.py` (the entry package's `__main__.py`)
    at the root. Offline; not staged again while the dependencies' stamp and the sources are unchanged, and
    staged once per process (it is the same for every tenant). The asset hash is that stamp and the sources'
    digest; the dependencies are zipped once per stamp and the code is added to a copy of that zip."""
    stamp = vendored_stamp(deps_dir)
    entries: list[tuple[Path, str]] = [
        (AGENTCORE_DIR / "__init__.py", "agentcore/__init__.py"),
        (AGENTCORE_DIR / "validation.py", "agentcore/validation.py"),  # shared by the entrypoints
    ]
    entries += [(AGENTCORE_DIR / name, f"agentcore/{name}") for name in packages]
    entries += [(CORE_PACKAGE, "oratio"), (AGENTCORE_DIR / entry_package / "__main__.py", ENTRY_POINT)]
    entries += list(extra_entries)
    archive = asset_dir.with_name(asset_dir.name + ".zip")

    def build(target: Path) -> None:
        copy_entries(entries, target)
        compile_tree(target / "agentcore")
        compile_tree(target / "oratio")
        zip_with(vendored_zip(deps_dir), target, archive)

    digest = source_digest(entries, stamp)
    if not archive.is_file():
        asset_dir.with_name(asset_dir.name + ".digest").unlink(missing_ok=True)
    restage(asset_dir, digest, build)
    return StagedAsset(archive, digest)


class TenantAgentRuntime(Construct):
    """The tenant agent's AgentCore Runtime, endpoint and memory.

    Public attributes: `memory`, `role`, `runtime`, `endpoint`, `runtime_arn`, `endpoint_arn`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        tables: PlatformTableRefs,
        knowledge: TenantKnowledge,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        tid = tenant.tenant_id
        name = runtime_name(tid)

        self.memory = agentcore.Memory(
            self,
            "Memory",
            memory_name=name,
            description=f"Short-term conversation memory of {tenant.business.name}'s agent",
            expiration_duration=Duration.days(SHORT_TERM_MEMORY_DAYS),
        )
        self.role = runtime_execution_role(self, name)
        self._allow_models(tenant)
        self._allow_knowledge(knowledge)
        self._allow_memory()
        self._allow_tables(tid, tables)
        # Raw transcripts only where the tenant opts in, sealed with a key of its own that the agent may only
        # encrypt with (reading them back is an operator's decision, through the key policy).
        self.raw_text_key: kms.Key | None = None
        if tenant.privacy.store_raw_text:
            self.raw_text_key = kms.Key(
                self,
                "RawTranscriptKey",
                description=f"Encrypts {tid}'s raw (unredacted) transcript lines",
                enable_key_rotation=True,
                removal_policy=RemovalPolicy.RETAIN,
            )
            self.raw_text_key.grant_encrypt(self.role)
        definitions = grant_definition_reads(tables, self.role, tid)

        self.runtime = zip_code_runtime(
            self,
            name=name,
            description=f"{tenant.business.name}'s AI agents (Oratio tenant {tid})",
            role=self.role,
            asset=stage_agent_code(),
            environment={**self._environment(tenant, tables, knowledge), **definitions},
            read_statement_sid="ReadTheAgentCode",
        )

        self.endpoint = agentcore.RuntimeEndpoint(
            self,
            "Endpoint",
            endpoint_name=ENDPOINT_NAME,
            agent_runtime_id=self.runtime.attr_agent_runtime_id,
            agent_runtime_version=self.runtime.attr_agent_runtime_version,
            description=f"The version of {tid}'s agent this stack deployed",
        )
        self.runtime_arn = self.runtime.attr_agent_runtime_arn
        self.endpoint_arn = self.endpoint.agent_runtime_endpoint_arn

        for parameter, value in {
            "agent/runtime-arn": self.runtime_arn,
            "agent/endpoint-arn": self.endpoint_arn,
        }.items():
            ssm.StringParameter(
                self,
                "Param" + "".join(p.capitalize() for p in re.split(r"[/-]", parameter)),
                parameter_name=tenant_parameter(tid, parameter),
                string_value=value,
            )
        # Outputs hang off the stack so their logical ids are exactly the fixed names.
        CfnOutput(stack, Outputs.AGENT_RUNTIME_ARN, value=self.runtime_arn)
        CfnOutput(stack, Outputs.AGENT_ENDPOINT_ARN, value=self.endpoint_arn)

    # ------------------------------------------------------------------------------------ environment
    def _environment(
        self, tenant: TenantConfig, tables: PlatformTableRefs, knowledge: TenantKnowledge
    ) -> dict[str, str]:
        return {
            **wiring.split_tenant_config(tenant),
            **tables.environment(CONVERSATIONS, CUSTOMER_CONTEXT, USAGE),
            wiring.ENV_MEMORY_ID: self.memory.memory_id,
            wiring.ENV_KNOWLEDGE_BASE_ID: knowledge.knowledge_base.attr_knowledge_base_id,
            wiring.ENV_VECTOR_BUCKET: vector_bucket_name(tenant.tenant_id),
            wiring.ENV_VECTOR_INDEX: INDEX_NAME,
            wiring.ENV_REGION: Stack.of(self).region,
            **({wiring.ENV_RAW_TEXT_KEY: self.raw_text_key.key_arn} if self.raw_text_key is not None else {}),
            # AgentCore Runtime connects to the agent on port 8080 of the microVM, not on loopback.
            wiring.ENV_HOST: "0.0.0.0",  # noqa: S104 - the runtime's own network namespace
        }

    # ---------------------------------------------------------------------------------------- role
    # -------------------------------------------------------------------------------------- grants
    def _allow_models(self, tenant: TenantConfig) -> None:
        """Invoke exactly the tenant's allowed catalog models (through their inference profiles) and its
        embedding model."""
        stack = Stack.of(self)
        catalog = load_model_catalog()
        allow_models(self.role, tenant.agent.allowed_models)
        embedding = catalog.embedding_model(tenant.knowledge.embedding_model)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EmbedKnowledgeQueries",
                actions=["bedrock:InvokeModel"],
                resources=[foundation_model_arn(stack, embedding.bedrock_model_id, stack.region)],
            )
        )

    def _allow_knowledge(self, knowledge: TenantKnowledge) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="QueryTheTenantVectorIndex",
                actions=["s3vectors:QueryVectors", "s3vectors:GetVectors"],
                resources=[knowledge.index.attr_index_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RetrieveFromTheTenantKnowledgeBase",
                actions=["bedrock:Retrieve"],
                resources=[knowledge.knowledge_base.attr_knowledge_base_arn],
            )
        )

    def _allow_memory(self) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SessionMemory",
                actions=["bedrock-agentcore:CreateEvent", "bedrock-agentcore:ListEvents"],
                resources=[self.memory.memory_arn],
            )
        )

    def _allow_tables(self, tenant_id: str, tables: PlatformTableRefs) -> None:
        """Item access limited to this tenant's keys (the operations the agent's DynamoDB adapters use)."""
        tables.grant_items(self.role, CONVERSATIONS, ["GetItem", "PutItem", "UpdateItem", "Query"], [f"{tenant_id}#*"])
        # Customer saves are transactions of Put/Delete items; IAM checks each item's own action.
        tables.grant_items(self.role, CUSTOMER_CONTEXT, ["Query", "PutItem", "DeleteItem"], [f"{tenant_id}#*"])
        tables.grant_items(
            self.role, USAGE, ["GetItem", "PutItem", "UpdateItem"], [tenant_id]
        )  # charges: a transaction


def allow_models(role: iam.IRole, model_ids: Sequence[str], *, sid: str = "InvokeAllowedModels") -> None:
    """Let `role` invoke exactly these catalog models: their inference profiles, and the foundation models in
    the profiles' destination regions only as those profiles' destinations."""
    stack = Stack.of(role)
    catalog = load_model_catalog()
    profiles: list[str] = []
    destinations: list[str] = []
    home_models: list[str] = []
    for model_id in model_ids:
        bedrock_id = catalog.model(model_id).bedrock_model_id
        geography, _, foundation_id = bedrock_id.partition(".")
        if geography in INFERENCE_PROFILE_PREFIXES:
            if geography not in INFERENCE_PROFILE_DESTINATIONS:
                raise ValueError(
                    f"model {model_id!r} uses inference profile {bedrock_id!r}, whose destination regions "
                    "are not in INFERENCE_PROFILE_DESTINATIONS (stacks/constructs/agent_runtime.py); add them"
                )
            profiles.append(
                stack.format_arn(
                    service="bedrock",
                    resource="inference-profile",
                    resource_name=bedrock_id,
                    arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                )
            )
            destinations += [
                foundation_model_arn(stack, foundation_id, region)
                for region in INFERENCE_PROFILE_DESTINATIONS[geography]
            ]
        else:
            home_models.append(foundation_model_arn(stack, bedrock_id, stack.region))
    if profiles or home_models:
        role.add_to_principal_policy(
            iam.PolicyStatement(sid=sid, actions=MODEL_ACTIONS, resources=profiles + home_models)
        )
    if destinations:
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid=f"{sid}ThroughTheirProfiles",
                actions=MODEL_ACTIONS,
                resources=destinations,
                # Only as the destination of these inference profiles, never directly.
                conditions={"StringEquals": {"bedrock:InferenceProfileArn": profiles}},
            )
        )


def runtime_execution_role(scope: Construct, name: str) -> iam.Role:
    """The role AgentCore assumes to run the runtime `name`: its logs, traces and metrics, nothing else."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        "ExecutionRole",
        description=f"Execution role of the {name} AgentCore runtime (least privilege, no managed policies)",
        assumed_by=iam.ServicePrincipal(
            "bedrock-agentcore.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                # The runtime's id is "<name>-<suffix>"; the ARN is unknown until it exists.
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="bedrock-agentcore",
                        resource="runtime",
                        resource_name=f"{name}-*",
                        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
                    )
                },
            },
        ),
    )
    # AgentCore writes the agent's stdout to /aws/bedrock-agentcore/runtimes/<runtime id>-<endpoint>.
    log_group = stack.format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"/aws/bedrock-agentcore/runtimes/{name}-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="RuntimeLogGroups",
            actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"],
            resources=[log_group],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="RuntimeLogStreams",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{log_group}:log-stream:*"],
        )
    )
    describe_groups = stack.format_arn(
        service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    role.add_to_policy(
        iam.PolicyStatement(sid="ListLogGroups", actions=["logs:DescribeLogGroups"], resources=[describe_groups])
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="Traces",
            actions=[
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            resources=["*"],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="RuntimeMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "bedrock-agentcore"}},
        )
    )
    for resource, reason in (
        (
            log_group,
            "AgentCore names the log group after the runtime id ('<name>-<generated suffix>'), known only "
            "after the runtime that depends on this role exists; the pattern matches this runtime's groups only.",
        ),
        (f"{log_group}:log-stream:*", "AgentCore creates log streams per session in this runtime's log groups."),
        (
            describe_groups,
            "logs:DescribeLogGroups lists groups and takes no narrower resource than log-group:* "
            "(AgentCore runtime execution-role requirement).",
        ),
    ):
        acknowledge(role, "IAM5", reason, applies_to=f"Resource::{_as_nag_finding(stack, resource)}")
    acknowledge(
        role,
        "IAM5",
        "X-Ray trace writes and sampling reads, and CloudWatch PutMetricData, support no resource-level "
        "permissions; metrics are limited to the bedrock-agentcore namespace by condition.",
        applies_to="Resource::*",
    )
    return role


def zip_code_runtime(
    scope: Construct,
    *,
    name: str,
    description: str,
    role: iam.Role,
    asset: StagedAsset,
    environment: dict[str, str],
    read_statement_sid: str = "ReadTheRuntimeCode",
) -> agentcore.CfnRuntime:
    """An AgentCore runtime (construct id "Runtime") running the staged `asset` as a zip code asset
    (construct id "Code") on python3.12, public network, HTTP protocol (which also carries `/ws`), with
    `role` allowed to read exactly that object."""
    code = s3_assets.Asset(
        scope, "Code", path=str(asset.path), asset_hash_type=AssetHashType.CUSTOM, asset_hash=asset.asset_hash
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid=read_statement_sid,
            actions=["s3:GetObject"],
            resources=[code.bucket.arn_for_objects(code.s3_object_key)],
        )
    )
    runtime = agentcore.CfnRuntime(
        scope,
        "Runtime",
        agent_runtime_name=name,
        description=description,
        role_arn=role.role_arn,
        agent_runtime_artifact=agentcore.CfnRuntime.AgentRuntimeArtifactProperty(
            code_configuration=agentcore.CfnRuntime.CodeConfigurationProperty(
                code=agentcore.CfnRuntime.CodeProperty(
                    s3=agentcore.CfnRuntime.S3LocationProperty(bucket=code.s3_bucket_name, prefix=code.s3_object_key)
                ),
                entry_point=[ENTRY_POINT],
                runtime=PYTHON_RUNTIME,
            )
        ),
        # Public: business tools are the tenant's own HTTPS APIs, and the AWS endpoints are public too.
        network_configuration=agentcore.CfnRuntime.NetworkConfigurationProperty(network_mode="PUBLIC"),
        protocol_configuration="HTTP",
        environment_variables=environment,
    )
    # AgentCore reads the code with the role when it creates the runtime: policy first.
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is not None:
        runtime.node.add_dependency(policy)
    return runtime


def foundation_model_arn(stack: Stack, model_id: str, region: str) -> str:
    # Foundation models are AWS-owned: no account in their ARN.
    return stack.format_arn(
        service="bedrock",
        region=region,
        account="",
        resource="foundation-model",
        resource_name=model_id,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def _as_nag_finding(stack: Stack, value: str) -> str:
    """`value` as cdk-nag writes it in a finding id: literal, or a join with `<AWS::Partition>`-style refs."""
    resolved = stack.resolve(value)
    if isinstance(resolved, str):
        return resolved
    delimiter, parts = resolved["Fn::Join"]
    return str(delimiter).join(_nag_part(part) for part in parts)


def _nag_part(part: Any) -> str:
    """One part of a joined value as cdk-nag writes it: literal, `<Ref>`, or `<Logical.Attribute>`."""
    if isinstance(part, str):
        return part
    if "Ref" in part:
        return f"<{part['Ref']}>"
    logical, attribute = part["Fn::GetAtt"]
    return f"<{logical}.{attribute}>"
