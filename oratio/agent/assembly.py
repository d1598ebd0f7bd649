"""The tenant agent's engine from its parts: the one place that knows `TenantAgent`'s constructor.

`EngineParts` is everything behind the engine's ports; who chooses them is the caller: the tenant agent runtime
(`agentcore/tenant_agent/wiring.py`, deployed or local), the conversation replay, and AgentCreator's gate (the
candidate on the tenant's deployed model and retriever, `oratio.agent_creator.deployed_gate`). Adapter modules
are imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing this module (the voice bridge does, via the wiring) stays cheap
    from oratio.agent.kit import ToolFactory, WorkflowFactory
    from oratio.agent.ports import (
        BudgetLedger,
        ConversationRecorder,
        CustomerContextStore,
        KnowledgeRetriever,
        ModelPort,
        SessionMemory,
        TurnEngine,
        WorkflowStateStore,
    )
    from oratio.agent_definitions.source import DefinitionSource
    from oratio.config import TenantConfig


@dataclass(frozen=True)
class EngineParts:
    """Everything behind the engine's ports; `assemble_engine` hands them to the engine."""

    tenant: TenantConfig
    model: ModelPort
    tools: ToolFactory
    memory: SessionMemory
    contexts: CustomerContextStore
    recorder: ConversationRecorder
    budget: BudgetLedger
    workflow: WorkflowFactory
    workflow_states: WorkflowStateStore
    definitions: DefinitionSource


def _utc_now() -> datetime:
    return datetime.now(UTC)


def assemble_engine(parts: EngineParts, clock: Callable[[], datetime] | None = None) -> TurnEngine:
    """The engine over `parts`; `clock` replaces the system clock (the replay's, so budgets read its month)."""
    from oratio.agent.engine import TenantAgent
    from oratio.config import load_model_catalog

    return TenantAgent(
        tenant=parts.tenant,
        catalog=load_model_catalog(),
        model=parts.model,
        tools=parts.tools,
        memory=parts.memory,
        contexts=parts.contexts,
        recorder=parts.recorder,
        budget=parts.budget,
        workflow=parts.workflow,
        workflow_states=parts.workflow_states,
        definitions=parts.definitions,
        clock=clock or _utc_now,
    )


def tool_factory(retriever: KnowledgeRetriever) -> ToolFactory:
    """Each agent's tools over one knowledge retriever and one egress-guarded HTTP client (shared by every agent):
    vendor-defined tools reach only public addresses, whatever their URL resolves to."""
    from oratio.agent.tools.egress import guarded_http_client
    from oratio.agent.tools.executor import ToolExecutor

    client = guarded_http_client()
    return lambda definition: ToolExecutor.from_definition(definition, retriever=retriever, http_client=client)


def redacting(recorder: ConversationRecorder, tenant: TenantConfig, raw_text_key: str | None) -> ConversationRecorder:
    """Transcripts stored redacted; the raw lines too, sealed with the tenant's key, when the tenant opts in."""
    from oratio.privacy import Redactor
    from oratio.transcripts import RedactingRecorder, TextVault

    vault: TextVault | None = None
    if tenant.privacy.store_raw_text and raw_text_key:
        from oratio.adapters.kms_vault import KmsTextVault

        vault = KmsTextVault(raw_text_key)
    return RedactingRecorder(recorder, Redactor(tenant.privacy.identifiers), vault)
