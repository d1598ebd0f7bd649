"""Tenant agent figures: routing decision time, parallel-tool overhead versus the slowest tool, and the
agent's own time to first chunk and CPU per turn with model time taken out (a scripted model that answers at once,
in-memory stores), on the tenant's defaults and on an agent's live definition version (read through the
per-container definition source over an in-memory store)."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import percentile, report, report_value, time_calls
from oratio.adapters.memory_agent import (
    InMemoryBudgetLedger,
    InMemoryConversationRecorder,
    InMemoryCustomerContextStore,
    InMemorySessionMemory,
    InMemoryWorkflowStateStore,
)
from oratio.adapters.scripted_model import ScriptedModel, Step, stop, text, usage
from oratio.agent.contracts import CustomerIdentity, InvocationRequest, TextChunk, UserMessage
from oratio.agent.engine import TenantAgent
from oratio.agent.model_routing import ModelSelector, ToolHint, TurnContext
from oratio.agent.tools.base import ToolCall, ToolContext, ToolSpec
from oratio.agent.tools.executor import ToolExecutor
from oratio.agent.workflow import RoleWorkflow
from oratio.agent_definitions.memory import MemoryDefinitionStore
from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.source import CachedDefinitionSource, DefinitionSource
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config import load_model_catalog, load_tenant_file
from oratio.config.tenant import Channel
from oratio.domain.agents import AgentStatus

ROOT = Path(__file__).resolve().parents[1]
TENANT = load_tenant_file(ROOT / "tenants" / "cozy-comfort.yaml")
SLOW_TOOL_SECONDS = 0.050
PROMPTS = (
    "hi there",
    "what are your store hours today?",
    "Can you compare the bamboo and the linen duvet covers step by step and explain which is better?",
    "where is my order CC-123456 and can I return the pillow I bought?",
)


def routing_samples(iterations: int) -> list[float]:
    settings_hints = ModelSelector(load_model_catalog(), TENANT.agent.allowed_models, 2048).settings
    hints = tuple(
        ToolHint.for_tool(name, settings_hints) for name in ("knowledge_search", "transfer_to_human", "order_status")
    )
    selector = ModelSelector(load_model_catalog(), TENANT.agent.allowed_models, TENANT.agent.thinking_budget_tokens)
    contexts = [
        TurnContext(
            user_text=prompt,
            voice=i % 2 == 0,
            history_turns=i * 3,
            estimated_input_tokens=1_500 + 40 * i,
            tools=hints,
            turn_budget_usd=TENANT.agent.max_turn_cost_usd,
            tenant_remaining_usd=250.0,
        )
        for i, prompt in enumerate(PROMPTS)
    ]
    counter = iter(range(10**9))
    return time_calls(lambda: selector.select(contexts[next(counter) % len(contexts)]), iterations)


class _SleepTool:
    def __init__(self, name: str, seconds: float) -> None:
        self.spec = ToolSpec(name=name, description=name, input_schema={"type": "object"})
        self._seconds = seconds

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        await asyncio.sleep(self._seconds)
        return {"ok": True}


async def _parallel_tool_overheads(runs: int) -> list[float]:
    tools = [_SleepTool(f"tool_{i}", SLOW_TOOL_SECONDS if i == 0 else 0.0) for i in range(10)]
    executor = ToolExecutor(tools)
    context = ToolContext(tenant_id="bench", agent_id="a", session_id="s", channel="voice", customer_key=None)
    calls = [ToolCall(tool_use_id=f"t{i}", name=f"tool_{i}", arguments={}) for i in range(10)]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        results = await executor.run_all(calls, context)
        samples.append(time.perf_counter() - start - SLOW_TOOL_SECONDS)
        assert all(r.status == "ok" for r in results), results
    return samples


def _engine(model: ScriptedModel, definitions: DefinitionSource | None = None) -> TenantAgent:
    return TenantAgent(
        tenant=TENANT,
        catalog=load_model_catalog(),
        model=model,
        tools=lambda definition: ToolExecutor([]),
        memory=InMemorySessionMemory(),
        contexts=InMemoryCustomerContextStore(),
        recorder=InMemoryConversationRecorder(),
        budget=InMemoryBudgetLedger(),
        workflow=RoleWorkflow.from_definition,
        workflow_states=InMemoryWorkflowStateStore(),
        definitions=definitions,
        clock=lambda: datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
    )


AGENT_ID = "front-desk"


def _published_agent() -> DefinitionSource:
    """The agent live on version 1 of a spec with its own persona and facts, in a store read through the cache."""
    store = MemoryDefinitionStore()
    spec = AgentSpec(
        name="Front desk",
        business_type="retail",
        character_config=CharacterConfig(business_name=TENANT.business.name, persona="Sam, the front desk"),
        definition=AgentOverrides(facts={"promo": "10% off duvets this week"}),
    )
    at = datetime(2026, 11, 25, tzinfo=UTC)
    store.put(
        DefinitionVersion(
            vendor_id=TENANT.tenant_id, agent_id=AGENT_ID, version=1, spec=spec, author="a", note="n", created_at=at
        )
    )
    store.set_pointer(TENANT.tenant_id, AGENT_ID, AgentStatus.ACTIVE, 1)
    return CachedDefinitionSource(store)


async def _first_chunk_seconds(turns: int, definitions: DefinitionSource | None = None) -> tuple[list[float], float]:
    """Time to the first text chunk of each turn, and the CPU seconds per whole turn (process time)."""
    reply: list[Step] = [
        text("Sure, our comforters come in twin, queen and king. Anything else?", pieces=4),
        stop(),
        usage(900, 20),
    ]
    model = ScriptedModel([reply] * turns)
    engine = _engine(model, definitions)
    samples = []
    cpu_start = time.process_time()
    for i in range(turns):
        request = InvocationRequest(
            tenant_id=TENANT.tenant_id,
            agent_id=AGENT_ID,
            channel=Channel.VOICE,
            customer=CustomerIdentity(kind="phone", value=f"+1555000{i % 100:04d}"),
            input=UserMessage(text="do you have queen comforters?"),
        )
        start = time.perf_counter()
        first: float | None = None
        async for event in engine.handle(request, f"bench-session-{i % 50}"):
            if first is None and isinstance(event, TextChunk):
                first = time.perf_counter() - start
        assert first is not None
        samples.append(first)
    return samples, (time.process_time() - cpu_start) / turns


def run(iterations: int = 10_000) -> None:
    print("tenant agent")
    report(f"routing decision ({iterations} selections)", routing_samples(iterations), "us")
    overheads = asyncio.run(_parallel_tool_overheads(200))
    print(
        f"  {'10 parallel tools, one 50 ms: time beyond slowest':<48} median "
        f"{statistics.median(overheads) * 1e3:9.3f} ms   p99 {percentile(overheads, 99) * 1e3:9.3f} ms   n=200"
    )
    # The scripted model answers at once and the stores are in memory: what remains is the agent's own work.
    defaults, defaults_cpu = asyncio.run(_first_chunk_seconds(500))
    live, live_cpu = asyncio.run(_first_chunk_seconds(500, _published_agent()))
    report("time to first text chunk, model time excluded (500)", defaults)
    report("  same, on an agent's live definition version", live)
    report_value("CPU per whole turn, tenant defaults", defaults_cpu * 1e3, "ms")
    report_value("CPU per whole turn, live definition version", live_cpu * 1e3, "ms")
