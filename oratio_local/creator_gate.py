"""The AgentCreator gate's engine in local mode: the tenant agent as local runs assemble it (the rule-based model,
the lexical retriever over the tenant's knowledge files, in-memory stores), answering with the candidate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from oratio.agent.ports import TurnEngine
from oratio.agent_creator.gate import AgentGate, EngineFactory, PinnedCandidateSource
from oratio.config.tenant import TenantConfig

REPO_TENANTS = Path(__file__).resolve().parents[1] / "tenants"


def local_engine_factory(tenants_dir: Path = REPO_TENANTS) -> EngineFactory:
    def build(tenant: TenantConfig, source: PinnedCandidateSource) -> TurnEngine:
        from agentcore.tenant_agent import wiring

        settings = wiring.RuntimeSettings(local_mode=True, tenant_id=tenant.tenant_id, tenants_dir=tenants_dir)
        parts = dataclasses.replace(wiring._local_parts(settings, tenant), definitions=source)
        return wiring._assemble(parts)

    return build


def local_gate(tenants_dir: Path = REPO_TENANTS) -> AgentGate:
    return AgentGate(local_engine_factory(tenants_dir))
