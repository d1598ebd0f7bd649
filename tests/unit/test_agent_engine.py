"""The tenant agent's turn engine, end to end over scripted Converse streams and in-memory stores."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oratio.adapters.memory_agent import (
    InMemoryBudgetLedger,
    InMemoryConversationRecorder,
    InMemoryCustomerContextStore,
    InMemorySessionMemory,
    InMemoryWorkflowStateStore,
)
from oratio.adapters.scripted_model import ScriptedModel, delay, stop, text, thinking, tool_use, usage
from oratio.agent.contracts import (
    Acknowledgement,
    CustomerIdentity,
    EndCall,
    Handoff,
    InvocationRequest,
    RoleTransition,
    TextChunk,
    ToolActivity,
    ToolRequest,
    ToolResultEvent,
    TurnComplete,
    UserMessage,
)
from oratio.agent.engine import EngineSettings, TenantAgent
from oratio.agent.ports import ModelThrottledError, ModelUnavailableError, WorkflowState, WorkflowUpdate
from oratio.agent.resilience import BreakerBoard, BreakerSettings, RetryPolicy
from oratio.agent.tools.base import ToolCall, ToolContext, ToolResult
from oratio.config.catalog import load_model_catalog
from oratio.config.tenant import Channel, load_tenant_file

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
CATALOG = load_model_catalog()
NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York: the store is open
SESSION = "session-0001"
CALLER = CustomerIdentity(kind="phone", value="+15550001111")


def spec(name: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {}, "additionalProperties": True}
    return {"toolSpec": {"name": name, "description": f"{name} tool", "inputSchema": {"json": schema}}}


@dataclass
class FakeTools:
    """A ToolRunner with canned results per tool name; remembers every batch it ran."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: list[list[ToolCall]] = field(default_factory=list)

    def model_tool_specs(self) -> list[dict[str, Any]]:
        return [spec(n) for n in ("knowledge_search", "transfer_to_human", "end_call", "order_status")]

    async def run_all(self, calls: list[ToolCall], context: ToolContext) -> list[ToolResult]:
        self.batches.append(list(calls))
        return [
            ToolResult(
                tool_use_id=c.tool_use_id,
                name=c.name,
                status="ok",
                content=self.results.get(c.name, {"ok": True}),
                duration_ms=12.0,
            )
            for c in calls
        ]


class FakeWorkflow:
    """Greeter → qualifier once the agent searched the catalogue."""

    def initial_state(self) -> WorkflowState:
        return WorkflowState(role="greeter")

    def instructions(self, role: str) -> str:
        return f"Act as the {role}."

    def advance(
        self,
        state: WorkflowState,
        *,
        user_text: str | None,
        reply_text: str,
        tools_used: tuple[str, ...],
        channel: str,
        budget_remaining_usd: float,
    ) -> WorkflowUpdate:
        turns = state.turns + 1
        if state.role == "greeter" and "knowledge_search" in tools_used:
            new = WorkflowState(role="qualifier", qualification_score=0.4, turns=turns, lead={"interest": "duvets"})
            return WorkflowUpdate(state=new, transition=("greeter", "qualifier", "product_interest"))
        return WorkflowUpdate(state=state.model_copy(update={"turns": turns}))


@dataclass
class Harness:
    model: ScriptedModel
    tools: FakeTools
    memory: InMemorySessionMemory
    contexts: InMemoryCustomerContextStore
    recorder: InMemoryConversationRecorder
    budget: InMemoryBudgetLedger
    states: InMemoryWorkflowStateStore
    agent: TenantAgent
    sleeps: list[float]


def harness(
    responses: list[Any],
    *,
    settings: EngineSettings | None = None,
    tool_results: dict[str, dict[str, Any]] | None = None,
    breakers: BreakerBoard | None = None,
) -> Harness:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    model, tools = ScriptedModel(responses), FakeTools(results=tool_results or {})
    memory, contexts = InMemorySessionMemory(), InMemoryCustomerContextStore()
    recorder, budget, states = InMemoryConversationRecorder(), InMemoryBudgetLedger(), InMemoryWorkflowStateStore()
    agent = TenantAgent(
        tenant=TENANT,
        catalog=CATALOG,
        model=model,
        tools=lambda definition: tools,
        memory=memory,
        contexts=contexts,
        recorder=recorder,
        budget=budget,
        workflow=lambda definition: FakeWorkflow(),
        workflow_states=states,
        clock=lambda: NOW,
        settings=settings or EngineSettings(retry=RetryPolicy(attempts=3, base_seconds=0.1, cap_seconds=1)),
        breakers=breakers,
        sleep=fake_sleep,
        rand=lambda: 0.5,
    )
    return Harness(model, tools, memory, contexts, recorder, budget, states, agent, sleeps)


def ask(h: Harness, words: str, channel: Channel = Channel.CHAT) -> list[Any]:
    request = InvocationRequest(
        tenant_id=TENANT.tenant_id,
        agent_id="front-desk",
        channel=channel,
        customer=CALLER,
        input=UserMessage(text=words),
    )

    async def collect() -> list[Any]:
        return [event async for event in h.agent.handle(request, SESSION)]

    events = asyncio.run(collect())
    assert isinstance(events[-1], TurnComplete), "TurnComplete must be the last event of every turn"
    assert sum(isinstance(e, TurnComplete) for e in events) == 1
    return events


def texts(events: list[Any]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextChunk)]


def test_reply_streams_as_sentence_chunks_and_is_remembered() -> None:
    h = harness([[text("Hi there! We're open until 6 p.m. today. Anything else?", pieces=7), stop(), usage(900, 20)]])

    events = ask(h, "Hello, are you open?")

    assert texts(events) == ["Hi there!", "We're open until 6 p.m. today.", "Anything else?"]
    done = events[-1]
    assert done.model_id == "nova-micro"
    assert not done.fallback
    remembered = asyncio.run(h.memory.recent_turns(SESSION, CALLER.key, 10))
    assert [(t.role, t.text) for t in remembered] == [
        ("user", "Hello, are you open?"),
        ("assistant", "Hi there! We're open until 6 p.m. today. Anything else?"),
    ]
    [record] = h.recorder.turns(TENANT.tenant_id, SESSION)
    assert record.outcome == "ok"
    assert record.user_text == "Hello, are you open?"
    customer = asyncio.run(h.contexts.get(TENANT.tenant_id, CALLER.key))
    assert customer is not None
    assert customer.recent_conversations[-1].session_id == SESSION


def test_parallel_tool_calls_round_trip_with_voice_ack_first() -> None:
    h = harness(
        [
            [
                tool_use("t1", "knowledge_search", {"query": "king duvet"}),
                tool_use("t2", "order_status", {"order_number": "CC-123456"}),
                stop("tool_use"),
                usage(1200, 60),
            ],
            [text("The king duvet is in stock, and your order ships tomorrow."), stop(), usage(1400, 30)],
        ],
        tool_results={"knowledge_search": {"passages": ["King duvet: in stock"]}, "order_status": {"status": "packed"}},
    )

    events = ask(h, "Is the king duvet in stock, and where is my order CC-123456?", Channel.VOICE)

    kinds = [type(e).__name__ for e in events]
    assert kinds[:3] == ["Acknowledgement", "ToolActivity", "ToolActivity"]
    assert events[0] == Acknowledgement(text="Let me check that for you.", reason="tools")
    assert [e.name for e in events if isinstance(e, ToolActivity)] == ["knowledge_search", "order_status"]
    assert [[c.name for c in batch] for batch in h.tools.batches] == [["knowledge_search", "order_status"]]
    assert h.tools.batches[0][1].arguments == {"order_number": "CC-123456"}
    follow_up = h.model.requests[1]["messages"]
    assert [b["toolUse"]["toolUseId"] for b in follow_up[-2]["content"]] == ["t1", "t2"]
    assert follow_up[-2]["role"] == "assistant"
    assert follow_up[-1]["role"] == "user"
    results = [b["toolResult"] for b in follow_up[-1]["content"]]
    assert [(r["toolUseId"], r["status"]) for r in results] == [("t1", "success"), ("t2", "success")]
    assert texts(events) == ["The king duvet is in stock, and your order ships tomorrow."]
    assert events[-1].input_tokens == 2600


def test_thinking_is_acknowledged_first_and_never_emitted_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness(
        [[thinking("SECRET-REASONING about duvets"), text("The down duvet is warmer."), stop(), usage(900, 80)]]
    )

    events = ask(h, "Think carefully, step by step: compare the down and the wool duvet.", Channel.VOICE)

    assert events[0] == Acknowledgement(text="Let me think about that for a moment.", reason="thinking")
    request = h.model.requests[0]
    assert request["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": TENANT.agent.thinking_budget_tokens}
    }
    assert events[-1].model_id == "claude-sonnet-4-5"
    everything = " ".join(e.model_dump_json() for e in events)
    assert "SECRET" not in everything
    assert "SECRET" not in caplog.text
    assert all("SECRET" not in r.reply_text for r in h.recorder.turns(TENANT.tenant_id, SESSION))
    assert texts(events) == ["The down duvet is warmer."]


def test_thinking_blocks_go_back_to_the_model_with_tool_results() -> None:
    h = harness(
        [
            [thinking("need the catalogue", "sig-1"), tool_use("t1", "knowledge_search", {"q": "x"}), stop("tool_use")],
            [text("Here is what I found."), stop(), usage(10, 10)],
        ]
    )

    ask(h, "Think carefully and compare your duvets for me.")

    assistant = h.model.requests[1]["messages"][-2]["content"]
    assert assistant[0] == {"reasoningContent": {"reasoningText": {"text": "need the catalogue", "signature": "sig-1"}}}
    assert "toolUse" in assistant[1]


def test_transfer_tool_result_emits_handoff_after_the_last_words() -> None:
    handoff = {"handoff": {"reason": "customer asked for a person", "summary": "Wants to return a pillow."}}
    h = harness(
        [
            [tool_use("t1", "transfer_to_human", {"reason": "asked for a person"}), stop("tool_use")],
            [text("I'll connect you with a colleague now."), stop(), usage(10, 10)],
        ],
        tool_results={"transfer_to_human": handoff},
    )

    events = ask(h, "Can I speak to a real person please?", Channel.VOICE)

    kinds = [type(e).__name__ for e in events]
    assert kinds.index("Handoff") > kinds.index("TextChunk")
    assert Handoff(reason="customer asked for a person", summary="Wants to return a pillow.") in events
    assert [e.detail["reason"] for e in h.recorder.events(TENANT.tenant_id, SESSION, "handoff")] == [
        "customer asked for a person"
    ]


def test_end_call_tool_result_emits_end_call() -> None:
    h = harness(
        [
            [text("Thanks for calling, goodbye!"), tool_use("t1", "end_call", {"reason": "done"}), stop("tool_use")],
            [stop(), usage(10, 1)],
        ],
        tool_results={"end_call": {"end_call": {"reason": "customer said goodbye"}}},
    )

    events = ask(h, "That's all, bye!", Channel.VOICE)

    assert EndCall(reason="customer said goodbye") in events
    assert not any(isinstance(e, Acknowledgement) for e in events), "no filler after the agent already spoke"


def test_deadline_gives_fallback_and_persists_the_input() -> None:
    settings = EngineSettings(deadline_seconds=0.05)
    h = harness([[delay(5), text("too late"), stop()]], settings=settings)

    events = ask(h, "What are your opening hours on Sunday?", Channel.VOICE)

    assert texts(events) == [settings.fallback_text_voice]
    assert events[-1].fallback is True
    assert any(isinstance(e, Handoff) and e.reason == "assistant unavailable" for e in events)
    [record] = h.recorder.turns(TENANT.tenant_id, SESSION)
    assert record.outcome == "fallback"
    assert record.error == "DeadlineExceeded"
    assert record.user_text == "What are your opening hours on Sunday?"


def test_throttled_model_is_retried_with_backoff_then_answers() -> None:
    h = harness([ModelThrottledError("slow down"), [text("Hello!"), stop(), usage(100, 5)]])

    events = ask(h, "Hi")

    assert texts(events) == ["Hello!"]
    assert h.sleeps == [0.05]  # full jitter: 0.5 * min(cap, base * 2**0)
    assert {r["modelId"] for r in h.model.requests} == {CATALOG.model("nova-micro").bedrock_model_id}
    assert events[-1].fallback is False


def test_failing_model_falls_back_to_next_eligible_model_with_reason() -> None:
    down = ModelUnavailableError("503")
    h = harness([down, down, down, [text("Hello from the backup."), stop(), usage(100, 5)]])

    events = ask(h, "Hi")

    assert texts(events) == ["Hello from the backup."]
    assert h.model.requests[-1]["modelId"] == CATALOG.model("nova-lite").bedrock_model_id
    done = events[-1]
    assert done.model_id == "nova-lite"
    assert "nova-micro failed (ModelUnavailableError)" in done.routing_reason
    assert "skipped nova-micro" in done.routing_reason
    routing = h.recorder.events(TENANT.tenant_id, SESSION, "routing")
    assert [e.detail["model_id"] for e in routing] == ["nova-micro", "nova-lite"]


def test_open_breaker_routes_later_turns_around_the_model() -> None:
    board = BreakerBoard(BreakerSettings(failure_threshold=1, cooldown_seconds=60), clock=lambda: 0.0)
    settings = EngineSettings(retry=RetryPolicy(attempts=1))
    h = harness(
        [ModelUnavailableError("503"), [text("One."), stop()], [text("Two."), stop()]],
        settings=settings,
        breakers=board,
    )

    ask(h, "Hi")
    second = ask(h, "Hi again")

    assert second[-1].model_id == "nova-lite"
    assert "skipped nova-micro (circuit open)" in second[-1].routing_reason
    assert [e.detail["state"] for e in h.recorder.events(TENANT.tenant_id, SESSION, "breaker")] == ["open"]


def test_no_model_available_gives_fallback_with_reason() -> None:
    settings = EngineSettings(retry=RetryPolicy(attempts=1), max_model_switches=10)
    down = ModelUnavailableError("503")
    h = harness([down, down, down, down], settings=settings)

    events = ask(h, "Hi")

    assert texts(events) == [settings.fallback_text]
    assert events[-1].fallback is True
    [record] = h.recorder.turns(TENANT.tenant_id, SESSION)
    assert record.outcome == "fallback"
    assert record.error == "NoModelAvailableError"
    assert "no eligible model" in record.routing_reason


def test_cost_comes_from_usage_including_cache_tokens_and_is_booked() -> None:
    h = harness([[text("Hello!"), stop(), usage(1000, 200, cache_read=3000, cache_write=500)]])

    events = ask(h, "Hi")

    nova = CATALOG.model("nova-micro")
    expected = (1000 * 0.035 + 200 * 0.14 + 3000 * 0.00875 + 500 * 0.035) / 1_000_000
    assert nova.usage_cost_usd(1000, 200, 3000, 500) == pytest.approx(expected)
    done = events[-1]
    assert (done.cache_read_tokens, done.cache_write_tokens) == (3000, 500)
    assert done.cost_usd == pytest.approx(expected)
    assert asyncio.run(h.budget.month_to_date_usd(TENANT.tenant_id, NOW)) == pytest.approx(expected)


def test_role_transition_is_emitted_and_recorded() -> None:
    h = harness(
        [
            [tool_use("t1", "knowledge_search", {"q": "duvet"}), stop("tool_use")],
            [text("We have three duvets."), stop()],
        ]
    )

    events = ask(h, "What duvets do you sell?")

    assert RoleTransition(from_role="greeter", to_role="qualifier", trigger="product_interest") in events
    assert events[-1].role == "qualifier"
    saved = asyncio.run(h.states.get(TENANT.tenant_id, SESSION))
    assert saved is not None
    assert saved.role == "qualifier"
    assert len(h.recorder.events(TENANT.tenant_id, SESSION, "transition")) == 1


def test_relayed_tool_request_runs_only_that_tool() -> None:
    h = harness([], tool_results={"order_status": {"status": "shipped"}})
    request = InvocationRequest(
        tenant_id=TENANT.tenant_id,
        agent_id="front-desk",
        channel=Channel.VOICE,
        input=ToolRequest(tool_use_id="nova-1", name="order_status", arguments={"order_number": "CC-000001"}),
    )

    async def collect() -> list[Any]:
        return [event async for event in h.agent.handle(request, SESSION)]

    events = asyncio.run(collect())

    assert events[0] == ToolResultEvent(tool_use_id="nova-1", status="ok", content={"status": "shipped"})
    assert isinstance(events[1], TurnComplete)
    assert len(events) == 2
    assert h.model.requests == []
