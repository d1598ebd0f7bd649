"""Composition of the AgentCreator runtime: which adapters sit behind the pipeline's ports, deployed or local.

The app calls `build_runner()` on its first invocation (never at import): it reads `CreatorRuntimeSettings` from
the environment the platform stack sets (`stacks/constructs/agent_creator_runtime.py`) and returns a
`JobRunner` that assembles `PipelineDeps` per tenant: the DynamoDB + S3 job store, the artifact bucket, Bedrock
Converse, the agent-definitions version writer and the usage ledger when deployed; in-memory stores and the
local rule-based stage model when `ORATIO_LOCAL_MODE=1` (honest stand-ins, never used when deployed).

Tenant configurations come from the tenant files bundled with the code asset (`tenants/`, the same files each
TenantStack is synthesized from), so the runtime knows a tenant's tools, hosts and defaults without reading
another stack; a job for a tenant the bundle does not hold is refused with a message saying to redeploy.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oratio.agent_creator.jobs import CreatorJob, JobStore
from oratio.config import TenantConfig
from oratio.config.tenant import load_tenants
from oratio.creator_launch import ARTIFACT_BUCKET_ENV_VAR, CREATOR_JOBS_TABLE_ENV_VAR, LaunchAction, LaunchRequest
from oratio.tables import AGENT_DEFINITIONS, AGENTS, TENANT_STATE, USAGE

if TYPE_CHECKING:
    from oratio.agent_creator.pipeline import PipelineDeps

ENV_LOCAL_MODE = "ORATIO_LOCAL_MODE"
ENV_TENANTS_DIR = "ORATIO_TENANTS_DIR"
ENV_JOBS_TABLE = CREATOR_JOBS_TABLE_ENV_VAR
ENV_ARTIFACT_BUCKET = ARTIFACT_BUCKET_ENV_VAR
ENV_REGION = "ORATIO_AWS_REGION"
ENV_HOST = "ORATIO_AGENT_CREATOR_HOST"
ENV_PORT = "ORATIO_AGENT_CREATOR_PORT"
# `CreatorRuntimeSettings` field -> the environment variable it is read from (the construct writes the same).
ENVIRONMENT = {
    "local_mode": ENV_LOCAL_MODE,
    "tenants_dir": ENV_TENANTS_DIR,
    "jobs_table": ENV_JOBS_TABLE,
    "artifact_bucket": ENV_ARTIFACT_BUCKET,
    "agents_table": AGENTS.env_var,
    "agent_definitions_table": AGENT_DEFINITIONS.env_var,
    "tenant_state_table": TENANT_STATE.env_var,
    "usage_table": USAGE.env_var,
    "region": ENV_REGION,
}
DEFAULT_TENANTS_DIR = Path(__file__).resolve().parents[2] / "tenants"  # the repository's, for local runs
DEFAULT_PORT = 8080  # the port AgentCore Runtime sends HTTP-protocol traffic to
LOCAL_PORT = 8081  # locally the tenant agent has 8080
LOCAL_HOST = "127.0.0.1"


class UnknownTenantError(LookupError):
    """The job names a tenant whose file is not in the runtime's bundle."""


class CreatorRuntimeSettings(BaseModel):
    """The runtime's environment, validated on first invocation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    local_mode: bool = False
    tenants_dir: Path = DEFAULT_TENANTS_DIR
    jobs_table: str | None = Field(default=None, min_length=1)
    artifact_bucket: str | None = Field(default=None, min_length=1)
    agents_table: str | None = Field(default=None, min_length=1)
    agent_definitions_table: str | None = Field(default=None, min_length=1)
    tenant_state_table: str | None = Field(default=None, min_length=1, description="named only: never written")
    usage_table: str | None = Field(default=None, min_length=1)
    region: str | None = None

    @model_validator(mode="after")
    def _deployed_needs_its_resources(self) -> CreatorRuntimeSettings:
        if not self.local_mode:
            missing = [ENVIRONMENT[name] for name in DEPLOYED_FIELDS if getattr(self, name) is None]
            if missing:
                raise ValueError(f"deployed (ORATIO_LOCAL_MODE unset) the runtime needs {', '.join(missing)}")
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> CreatorRuntimeSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {name: env[var] for name, var in ENVIRONMENT.items() if env.get(var)}
        if "local_mode" in values:
            values["local_mode"] = values["local_mode"].strip().lower() in {"1", "true", "yes"}
        return cls.model_validate(values)


DEPLOYED_FIELDS = (
    "jobs_table",
    "artifact_bucket",
    "agents_table",
    "agent_definitions_table",
    "tenant_state_table",
    "usage_table",
)


class ServerSettings(BaseModel):
    """Where `python -m agentcore.agent_creator` listens: 127.0.0.1 unless the deployment says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = LOCAL_HOST
    port: int = Field(default=LOCAL_PORT, ge=0, le=65_535)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if environ is None else environ
        values = {name: env[var] for name, var in (("host", ENV_HOST), ("port", ENV_PORT)) if env.get(var)}
        return cls.model_validate(values)


DepsFactory = Callable[[TenantConfig], "PipelineDeps"]


class JobRunner:
    """Runs one launch request to its end: the tenant's `PipelineDeps`, then `run_job` or `retry_job`."""

    def __init__(self, tenants: Mapping[str, TenantConfig], deps_for: DepsFactory) -> None:
        self._tenants = dict(tenants)
        self._deps_for = deps_for
        self._deps: dict[str, PipelineDeps] = {}
        self._lock = threading.Lock()

    def knows(self, tenant_id: str) -> bool:
        return tenant_id in self._tenants

    def deps(self, tenant_id: str) -> PipelineDeps:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise UnknownTenantError(
                f"tenant {tenant_id!r} is not in this AgentCreator runtime's bundle; redeploy the platform stack "
                "after adding its tenant file"
            )
        with self._lock:
            if tenant_id not in self._deps:
                self._deps[tenant_id] = self._deps_for(tenant)
            return self._deps[tenant_id]

    def __call__(self, request: LaunchRequest) -> CreatorJob:
        from oratio.agent_creator.jobs import retry_job, run_job

        deps = self.deps(request.tenant_id)
        if request.action is LaunchAction.RETRY:
            return retry_job(request.job_id, request.from_stage, deps=deps)
        return run_job(request.job_id, deps=deps)


def build_runner(settings: CreatorRuntimeSettings | None = None) -> JobRunner:
    """The runtime's `JobRunner`, from `settings` or the process environment."""
    settings = settings or CreatorRuntimeSettings.from_environ()
    tenants = {tenant.tenant_id: tenant for tenant in load_tenants(settings.tenants_dir)}
    if settings.local_mode:
        return JobRunner(tenants, local_deps_factory(settings))
    return JobRunner(tenants, aws_deps_factory(settings))


def local_deps_factory(settings: CreatorRuntimeSettings, store: JobStore | None = None) -> DepsFactory:
    """In-process stand-ins: the local rule-based stage model, in-memory job store, artifacts and versions, and
    the gate through the full call replay (contact flow, Lex emulation, handlers, the agent on the local model)."""
    from oratio.agent_creator.jobs import InMemoryJobStore
    from oratio.agent_creator.pipeline import PipelineDeps
    from oratio.agent_creator.writer import InMemoryArtifacts, MemoryVersionWriter
    from oratio_local.creator_gate import ReplayGate
    from oratio_local.creator_model import LocalCreatorModel

    shared = store or InMemoryJobStore()

    def build(tenant: TenantConfig) -> PipelineDeps:
        return PipelineDeps(
            tenant=tenant,
            store=shared,
            model=LocalCreatorModel(tenant),
            gate=ReplayGate(settings.tenants_dir),
            artifacts=InMemoryArtifacts(),
            versions=MemoryVersionWriter(),
        )

    return build


def aws_deps_factory(settings: CreatorRuntimeSettings) -> DepsFactory:
    """The deployed adapters: DynamoDB + S3 job store, S3 artifacts, Bedrock Converse, the definitions table's
    version writer and the usage ledger (the job's cost is charged to the tenant)."""

    from oratio.adapters.dynamodb import dynamodb_client
    from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
    from oratio.adapters.dynamodb_vendor import DynamoDBAgentRepository
    from oratio.agent_creator.adapters.bedrock_model import BedrockStageModel, BedrockStageSettings
    from oratio.agent_creator.adapters.dynamodb_jobs import DynamoDBJobStore
    from oratio.agent_creator.adapters.s3_artifacts import S3Artifacts
    from oratio.agent_creator.deployed_gate import deployed_gate
    from oratio.agent_creator.pipeline import PipelineDeps
    from oratio.vendors.creator_versions import RepositoryVersionWriter
    from oratio.vendors.service import VendorSettings

    def needed(name: str) -> str:
        value: str | None = getattr(settings, name)
        if value is None:  # the settings' validator already refused this; kept for the type checker
            raise ValueError(f"{ENVIRONMENT[name]} is not set")
        return value

    client = dynamodb_client()
    artifacts = S3Artifacts(needed("artifact_bucket"))
    store = DynamoDBJobStore(needed("jobs_table"), artifacts, client=client)
    model = BedrockStageModel(BedrockStageSettings(region_name=settings.region))
    # The vendor API's own repository: a candidate is written in the same transaction as the API's versions.
    agents = DynamoDBAgentRepository(
        needed("agents_table"),
        needed("tenant_state_table"),
        needed("agent_definitions_table"),
        deleted_retention_days=VendorSettings().deleted_retention_days,  # unused: the writer deletes nothing
        client=client,
    )
    versions = RepositoryVersionWriter(agents)
    budget = DynamoDBBudgetLedger(needed("usage_table"), client=client)
    # The gate tests the candidate on the tenant's own Bedrock model and knowledge index, each call checked
    # against and charged to the tenant's budget (`agent_creator`).
    gate = deployed_gate(budget, region=settings.region)

    def build(tenant: TenantConfig) -> PipelineDeps:
        return PipelineDeps(
            tenant=tenant, store=store, model=model, gate=gate, artifacts=artifacts, versions=versions, budget=budget
        )

    return build
