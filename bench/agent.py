"""Tenant agent figures: routing decision time, parallel-tool overhead versus the slowest tool, and the
agent's own time to first chunk with model time taken out (a scripted model that answers at once,
in-memory stores)."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import percentile, report, time_calls
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
from oratio.agent.routing import ModelSelector, ToolHint, TurnContext
from oratio.agent.tools.base import ToolCall, ToolContext, ToolSpec
from oratio.agent.tools.executor import ToolExecutor
from oratio.agent.workflow import RoleWorkflow
from oratio.config import load_model_catalog, load_tenant_file
from oratio.config.tenant import Channel

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


def _engine(model: ScriptedModel) -> TenantAgent:
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
        clock=lambda: datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
    )


async def _first_chunk_seconds(turns: int) -> list[float]:
    reply: list[Step] = [
        text("Sure, our comforters come in twin, queen and king. Anything else?", pieces=4),
        stop(),
        usage(900, 20),
    ]
    model = ScriptedModel([reply] * turns)
    engine = _engine(model)
    samples = []
    for i in range(turns):
        request = InvocationRequest(
            tenant_id=TENANT.tenant_id,
            agent_id="front-desk",
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
    return samples


def run(iterations: int = 10_000) -> None:
    print("tenant agent")
    report(f"routing decision ({iterations} selections)", routing_samples(iterations), "us")
    overheads = asyncio.run(_parallel_tool_overheads(200))
    print(
        f"  {'10 parallel tools, one 50 ms: time beyond slowest':<48} median "
        f"{statistics.median(overheads) * 1e3:9.3f} ms   p99 {percentile(overheads, 99) * 1e3:9.3f} ms   n=200"
    )
    # The scripted model answers at once and the stores are in memory: what remains is the agent's own work.
    report("time to first text chunk, model time excluded (500)", asyncio.run(_first_chunk_seconds(500)))
