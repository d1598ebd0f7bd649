"""The deployed gate's engine: the candidate in the tenant agent's own engine, on the tenant's Bedrock model and
its deployed knowledge retriever (Titan embeddings + the tenant's S3 Vectors index), so the candidate is judged
by the model it will run on. Every model call the engine makes is checked against the tenant's budget (the engine
reads the tenant's real month-to-date spend before each turn) and charged to it under `agent_creator`
(`GateChargeLedger`), with the agent's id, as the other stages' calls are.

What the gate's conversations keep is their own: session memory, customer context, transcripts and workflow state
are in memory for the gate's run, never the tenant's tables (a test caller is no customer, its turns no
conversation of the agent).
"""

from __future__ import annotations

import threading
from datetime import datetime

from oratio.agent.assembly import EngineParts, assemble_engine, tool_factory
from oratio.agent.kit import ToolFactory
from oratio.agent.ports import BudgetLedger, ModelPort, TurnEngine
from oratio.agent_creator.gate import AgentGate, EngineFactory, PinnedCandidateSource
from oratio.config import TenantConfig
from oratio.knowledge_names import VECTOR_INDEX_NAME, vector_bucket_name
from oratio.metering import CostCategory


class GateChargeLedger:
    """`BudgetLedger` for the gate's engine: reads are the tenant's own (so the engine's budget checks hold the
    tenant's budget and the agent's share), and every charge is booked under `agent_creator` for the agent —
    not as a conversation (no session breakdown: the gate's calls are no customer's)."""

    def __init__(self, ledger: BudgetLedger) -> None:
        self._ledger = ledger

    async def month_to_date_usd(self, tenant_id: str, at: datetime) -> float:
        return await self._ledger.month_to_date_usd(tenant_id, at)

    async def agent_month_to_date_usd(self, tenant_id: str, agent_id: str, at: datetime) -> float:
        return await self._ledger.agent_month_to_date_usd(tenant_id, agent_id, at)

    async def add(
        self,
        tenant_id: str,
        at: datetime,
        category: str,
        item: str,
        usd: float,
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        charge_id: str | None = None,
    ) -> None:
        await self._ledger.add(
            tenant_id, at, CostCategory.AGENT_CREATOR.value, item, usd, agent_id=agent_id, charge_id=charge_id
        )


class DeployedEngineFactory:
    """`EngineFactory` of the deployed gate. The model and each tenant's tools are made once and shared by every
    script (their clients are thread-safe and hold no conversation state); the stores are fresh per script."""

    def __init__(self, budget: BudgetLedger, *, region: str | None = None, model: ModelPort | None = None) -> None:
        self._budget = GateChargeLedger(budget)
        self._region = region
        self._model = model
        self._tools: dict[str, ToolFactory] = {}
        self._lock = threading.Lock()

    def __call__(self, tenant: TenantConfig, source: PinnedCandidateSource) -> TurnEngine:
        from oratio.adapters.memory_agent import (
            InMemoryConversationRecorder,
            InMemoryCustomerContextStore,
            InMemorySessionMemory,
            InMemoryWorkflowStateStore,
        )
        from oratio.agent.workflow import RoleWorkflow

        parts = EngineParts(
            tenant=tenant,
            model=self.model(),
            tools=self.tools(tenant),
            memory=InMemorySessionMemory(),
            contexts=InMemoryCustomerContextStore(),
            recorder=InMemoryConversationRecorder(),
            budget=self._budget,
            workflow=RoleWorkflow.from_definition,
            workflow_states=InMemoryWorkflowStateStore(),
            definitions=source,
        )
        return assemble_engine(parts)

    def model(self) -> ModelPort:
        """Bedrock Converse, as the tenant agent calls it (the model each turn uses is the candidate's choice)."""
        with self._lock:
            if self._model is None:
                from oratio.adapters.bedrock_model import BedrockConverseModel, BedrockModelSettings

                self._model = BedrockConverseModel(BedrockModelSettings(region=self._region))
            return self._model

    def tools(self, tenant: TenantConfig) -> ToolFactory:
        """The tenant's tools over its deployed knowledge: Titan embeddings into its S3 Vectors index (the
        names its TenantStack gives them), behind the same egress guard the tenant agent's tools use."""
        with self._lock:
            if tenant.tenant_id not in self._tools:
                from oratio.adapters.knowledge import EmbeddingRetriever, S3VectorsIndex, TitanEmbedder

                retriever = EmbeddingRetriever(
                    TitanEmbedder.from_settings(tenant.knowledge, region_name=self._region),
                    S3VectorsIndex(vector_bucket_name(tenant.tenant_id), VECTOR_INDEX_NAME, region_name=self._region),
                )
                self._tools[tenant.tenant_id] = tool_factory(retriever)
            return self._tools[tenant.tenant_id]


def deployed_gate(budget: BudgetLedger, *, region: str | None = None) -> AgentGate:
    factory: EngineFactory = DeployedEngineFactory(budget, region=region)
    return AgentGate(factory, charges_tenant=True)
