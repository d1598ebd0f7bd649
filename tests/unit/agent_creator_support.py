"""Shared set-up for the AgentCreator tests: a tenant, an SOP submitted, and the pipeline's dependencies with
the local creator model (optionally overridden stage by stage by a `ScriptedModel`) and the local gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oratio.adapters.memory_agent import InMemoryBudgetLedger
from oratio.agent_creator.jobs import CreatorJob, InMemoryJobStore, StageName, submit_sop
from oratio.agent_creator.pipeline import CreatorSettings, PipelineDeps
from oratio.agent_creator.scripted_model import Answer, ScriptedModel
from oratio.agent_creator.writer import InMemoryArtifacts, MemoryVersionWriter
from oratio.config import TenantConfig, load_tenant_file
from oratio_local.creator_gate import local_gate
from oratio_local.creator_model import LocalCreatorModel

REPO = Path(__file__).resolve().parents[2]
AGENT_ID = "front-desk"


def tenant(name: str = "cozy-comfort") -> TenantConfig:
    return load_tenant_file(REPO / "tenants" / f"{name}.yaml")


def sop(name: str = "cozy-comfort") -> bytes:
    return (REPO / "tenants" / "sops" / f"{name}.md").read_bytes()


@dataclass
class Harness:
    deps: PipelineDeps
    model: ScriptedModel
    store: InMemoryJobStore
    artifacts: InMemoryArtifacts
    versions: MemoryVersionWriter
    budget: InMemoryBudgetLedger
    job: CreatorJob

    def versions_written(self) -> list[int]:
        return [v.version for v in self.versions.store.list(self.job.vendor_id, self.job.agent_id)]


def harness(name: str = "cozy-comfort", script: dict[StageName, list[Answer]] | None = None,
            settings: CreatorSettings | None = None, sop_text: bytes | None = None) -> Harness:  # fmt: skip
    config = tenant(name)
    store = InMemoryJobStore()
    model = ScriptedModel(script=script or {}, fallback=LocalCreatorModel(config))
    artifacts, versions, budget = InMemoryArtifacts(), MemoryVersionWriter(), InMemoryBudgetLedger()
    deps = PipelineDeps(tenant=config, store=store, model=model, gate=local_gate(), artifacts=artifacts,
                        versions=versions, budget=budget, settings=settings or CreatorSettings())  # fmt: skip
    job = submit_sop(store, tenant_id=config.tenant_id, agent_id=AGENT_ID, body=sop_text or sop(name))
    return Harness(deps, model, store, artifacts, versions, budget, job)
