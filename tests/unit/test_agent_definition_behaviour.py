"""Every setting of an agent's definition changes what its customers experience: the tenant agent, over a definition
store like the vendor API's, answering turns for the agent each request names (scripted and rule-based models,
the real tool executor with a recording retriever and a mocked business endpoint)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from oratio.adapters.memory_agent import (
    InMemoryBudgetLedger,
    InMemoryConversationRecorder,
    InMemoryCustomerContextStore,
    InMemorySessionMemory,
    InMemoryWorkflowStateStore,
)
from oratio.adapters.scripted_model import ScriptedModel, stop, text, tool_use, usage
from oratio.agent.contracts import (
    CustomerIdentity,
    EndCall,
    Handoff,
    InvocationRequest,
    TextChunk,
    ToolRequest,
    ToolResultEvent,
    TurnComplete,
    UserMessage,
)
from oratio.agent.engine import TenantAgent
from oratio.agent.ports import ModelPort, Passage
from oratio.agent.tools.executor import ToolExecutor
from oratio.agent.workflow import RoleWorkflow
from oratio.agent_definitions.memory import MemoryDefinitionStore
from oratio.agent_definitions.model import AgentDefinition
from oratio.agent_definitions.source import CachedDefinitionSource, SourceSettings
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config import load_model_catalog, load_tenant_file
from oratio.config.tenant import Channel
from oratio.domain.agents import AgentStatus
from oratio.domain.knowledge_scope import SearchScope
from oratio_local.rule_model import RuleBasedModel

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York: open
CALLER = CustomerIdentity(kind="phone", value="+15550001111")


@dataclass
class RecordingRetriever:
    scopes: list[SearchScope | None] = field(default_factory=list)

    async def retrieve(self, query: str, top_k: int, scope: SearchScope | None = None) -> list[Passage]:
        self.scopes.append(scope)
        return [Passage(text="Members get 60 days.", source="members.md", agent_id=scope.agent_id if scope else None)]


@dataclass
class World:
    store: MemoryDefinitionStore
    agent: TenantAgent
    retriever: RecordingRetriever
    budget: InMemoryBudgetLedger
    recorder: InMemoryConversationRecorder
    http_calls: list[httpx.Request]
    model: ModelPort

    def publish(self, agent_id: str, definition: dict[str, Any] | None = None, **character: Any) -> None:
        versions = self.store.list(TENANT.tenant_id, agent_id)
        number = (versions[0].version + 1) if versions else 1
        spec = AgentSpec(
            name=agent_id,
            business_type="retail",
            character_config=CharacterConfig(business_name="Cozy Comfort Bedding", **character),
            definition=definition or {},
        )
        self.store.put(
            DefinitionVersion(
                vendor_id=TENANT.tenant_id,
                agent_id=agent_id,
                version=number,
                spec=spec,
                author="owner@cozycomfort.com",
                note="test",
                created_at=NOW,
            )
        )
        self.store.set_pointer(TENANT.tenant_id, agent_id, AgentStatus.ACTIVE, number)

    def ask(self, agent_id: str, words: str, channel: Channel = Channel.CHAT, session: str = "s-1") -> list[Any]:
        request = InvocationRequest(
            tenant_id=TENANT.tenant_id,
            agent_id=agent_id,
            channel=channel,
            customer=CALLER,
            input=UserMessage(text=words),
        )

        async def run() -> list[Any]:
            return [event async for event in self.agent.handle(request, session)]

        return asyncio.run(run())


def world(model: ModelPort | None = None) -> World:
    store, retriever, budget = MemoryDefinitionStore(), RecordingRetriever(), InMemoryBudgetLedger()
    recorder = InMemoryConversationRecorder()
    calls: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"slots": ["Tuesday 10:00"]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))

    def tools(definition: AgentDefinition) -> ToolExecutor:
        return ToolExecutor.from_definition(definition, retriever=retriever, http_client=client)

    model = model or RuleBasedModel()
    agent = TenantAgent(
        tenant=TENANT,
        catalog=load_model_catalog(),
        model=model,
        tools=tools,
        memory=InMemorySessionMemory(),
        contexts=InMemoryCustomerContextStore(),
        recorder=recorder,
        budget=budget,
        workflow=RoleWorkflow.from_definition,
        workflow_states=InMemoryWorkflowStateStore(),
        definitions=CachedDefinitionSource(store, SourceSettings(recheck_seconds=0)),
        clock=lambda: NOW,
    )
    return World(store, agent, retriever, budget, recorder, calls, model)


def said(events: list[Any]) -> str:
    return " ".join(e.text for e in events if isinstance(e, TextChunk))


def done(events: list[Any]) -> TurnComplete:
    return next(e for e in events if isinstance(e, TurnComplete))


# ---------------------------------------------------------------------------- who the agent is
def test_two_agents_of_one_tenant_answer_the_same_question_differently() -> None:
    w = world()
    w.publish("front", knowledge_base={"returns_policy": "30 days."})
    w.publish("members", persona="Riley, the members' advisor", definition={"facts": {"returns_policy": "90 days."}})

    assert "This is Riley" in said(w.ask("members", "Hi there!"))
    assert "This is Riley" not in said(w.ask("front", "Hi there!"))
    assert "90 days" in said(w.ask("members", "What's your return policy?"))
    assert "30 days" in said(w.ask("front", "What's your return policy?"))


def test_a_published_version_reaches_the_next_turn_and_the_answer_names_it() -> None:
    w = world()
    w.publish("front", definition={"facts": {"returns_policy": "30 days."}})
    first = w.ask("front", "What's your return policy?")
    w.publish("front", definition={"facts": {"returns_policy": "45 days."}})

    second = w.ask("front", "What's your return policy?")

    assert ("30 days" in said(first), "45 days" in said(second)) == (True, True)
    assert (done(first).definition_version, done(second).definition_version) == (1, 2)
    assert [t.definition_version for t in w.recorder.turns(TENANT.tenant_id, "s-1")] == [1, 2]


def test_a_pinned_version_answers_as_that_version_whatever_is_live() -> None:
    w = world()
    w.publish("front", definition={"facts": {"returns_policy": "30 days."}})
    w.publish("front", definition={"facts": {"returns_policy": "45 days."}})
    request = InvocationRequest(
        tenant_id=TENANT.tenant_id,
        agent_id="front",
        agent_version=1,
        channel=Channel.CHAT,
        input=UserMessage(text="What's your return policy?"),
    )

    async def run() -> list[Any]:
        return [e async for e in w.agent.handle(request, "replay-1")]

    events = asyncio.run(run())
    assert "30 days" in said(events)
    assert done(events).definition_version == 1


@pytest.mark.parametrize(
    ("definition", "in_prompt"),
    [
        ({"instructions": "Always offer the loyalty card."}, "Always offer the loyalty card."),
        ({"tone": "enthusiastic"}, "Tone: enthusiastic."),
        ({"business": {"products": ["weighted_blankets"]}}, "Products: weighted blankets."),
        (
            {"workflow": {"role_instructions": {"greeter": "Ask for the order number first."}}},
            "Ask for the order number first.",
        ),
    ],
)
def test_what_the_agent_is_goes_into_its_prompt(definition: dict[str, Any], in_prompt: str) -> None:
    model = ScriptedModel([[text("Hello."), stop(), usage(100, 5)]] * 2)
    w = world(model)
    w.publish("plain")
    w.publish("custom", definition=definition)

    w.ask("plain", "Hello", session="a")
    w.ask("custom", "Hello", session="b")

    plain, custom = ("\n".join(b.get("text", "") for b in r["system"]) for r in model.requests)
    assert in_prompt in custom
    assert in_prompt not in plain


# ------------------------------------------------------------------------------ what it may do
def test_an_agent_sees_only_its_own_tools() -> None:
    model = ScriptedModel([[text("Hello."), stop(), usage(100, 5)]])
    w = world(model)
    w.publish("narrow", definition={"tools": {"builtin": ["end_call"], "business_tools": []}})

    w.ask("narrow", "Hello")

    names = [t["toolSpec"]["name"] for t in model.requests[0]["toolConfig"]["tools"] if "toolSpec" in t]
    assert names == ["end_call"]


def test_a_vendor_defined_business_tool_runs_through_the_business_tool_path() -> None:
    booking = {
        "name": "book_fitting",
        "description": "Book a mattress fitting",
        "url": "https://api.cozycomfort.example/fittings",
        "input_schema": {"type": "object", "properties": {"day": {"type": "string"}}},
    }
    model = ScriptedModel(
        [
            [tool_use("t1", "book_fitting", {"day": "Tuesday"}), stop("tool_use"), usage(100, 5)],
            [text("Booked for Tuesday."), stop(), usage(100, 5)],
        ]
    )
    w = world(model)
    w.publish("fitter", definition={"tools": {"business_tools": [booking]}})

    events = w.ask("fitter", "Book me a fitting on Tuesday")

    (call,) = w.http_calls
    assert str(call.url) == booking["url"]
    assert json.loads(call.content) == {"day": "Tuesday"}
    assert call.headers["X-Oratio-Agent"] == "fitter"
    assert "Booked for Tuesday." in said(events)


@pytest.mark.parametrize(("include", "expected"), [(True, True), (False, False)])
def test_knowledge_search_reaches_the_agents_own_documents_and_the_tenant_wide_ones_if_it_says_so(
    include: bool, expected: bool
) -> None:
    w = world()
    w.publish("members", definition={"knowledge": {"include_tenant_documents": include}})

    w.ask("members", "How much is the bamboo pillow?")

    assert w.retriever.scopes == [SearchScope(agent_id="members", include_tenant_documents=expected)]


def test_an_agent_routes_only_among_its_own_models() -> None:
    model = ScriptedModel([[text("Hello."), stop(), usage(100, 5)]])
    w = world(model)
    w.publish("premium", definition={"models": {"allowed_models": ["claude-sonnet-4-5"]}})

    events = w.ask("premium", "Hello")

    assert done(events).model_id == "claude-sonnet-4-5"


def test_an_agent_that_spent_its_monthly_share_answers_with_the_fallback_without_calling_a_model() -> None:
    model = ScriptedModel([[text("Hello."), stop(), usage(100, 5)]])
    w = world(model)
    w.publish("thrifty", definition={"models": {"monthly_budget_usd": 1}})
    asyncio.run(w.budget.add(TENANT.tenant_id, NOW, "model", "nova-micro", 1.0, agent_id="thrifty"))

    events = w.ask("thrifty", "Hello")

    assert done(events).fallback
    assert "no eligible model within budget" in done(events).routing_reason
    assert model.requests == []
    # Another agent of the tenant, with budget left, still answers.
    w.publish("other")
    assert not done(w.ask("other", "Hello", session="s-2")).fallback


def test_spend_is_counted_against_the_agent_that_made_it() -> None:
    w = world()
    w.publish("front")
    w.ask("front", "Hello")
    assert asyncio.run(w.budget.agent_month_to_date_usd(TENANT.tenant_id, "front", NOW)) > 0
    assert asyncio.run(w.budget.agent_month_to_date_usd(TENANT.tenant_id, "other", NOW)) == 0


# ---------------------------------------------------------------------------------- guardrails
def test_a_refused_topic_gets_the_refusal_line_and_no_model_call() -> None:
    model = ScriptedModel([])
    w = world(model)
    w.publish(
        "careful", definition={"guardrails": {"refuse_topics": ["competitor"], "refusal_line": "I can't discuss that."}}
    )

    events = w.ask("careful", "What do you think of your competitors?")

    assert said(events) == "I can't discuss that."
    assert model.requests == []
    assert [e.kind for e in w.recorder.events(TENANT.tenant_id, "s-1")] == ["guardrail"]


def test_an_escalated_topic_goes_straight_to_a_person() -> None:
    w = world()
    w.publish("careful", definition={"guardrails": {"escalate_topics": ["lawyer"]}})

    events = w.ask("careful", "My lawyer will be in touch", Channel.VOICE)

    assert any(isinstance(e, Handoff) for e in events)
    assert "connect you with someone" in said(events)


# ----------------------------------------------------------------------------------- lifecycle
@pytest.mark.parametrize(
    ("status", "line", "finale"),
    [
        (AgentStatus.PAUSED, "Back in five minutes, passing you on.", Handoff),
        (AgentStatus.STOPPED, "We have closed this line, goodbye.", EndCall),
        (AgentStatus.DELETED, "We have closed this line, goodbye.", EndCall),
    ],
)
def test_a_conversation_under_way_gets_the_agents_line_on_the_turn_after_a_pause_or_stop(
    status: AgentStatus, line: str, finale: type
) -> None:
    lines = {
        "paused_line": "Back in five minutes, passing you on.",
        "closing_line": "We have closed this line, goodbye.",
    }
    w = world()
    w.publish("front", definition={"lines": lines})
    assert not done(w.ask("front", "Hello", Channel.WHATSAPP)).fallback
    w.store.set_pointer(TENANT.tenant_id, "front", status, 1)

    events = w.ask("front", "And one more question", Channel.WHATSAPP)

    assert said(events) == line
    assert any(isinstance(e, finale) for e in events)
    lifecycle = w.recorder.events(TENANT.tenant_id, "s-1", "lifecycle")
    assert [e.detail["status"] for e in lifecycle] == [status.value]


def test_an_unknown_agent_ends_the_conversation_politely() -> None:
    w = world()
    events = w.ask("nobody", "Hello")
    assert any(isinstance(e, EndCall) for e in events)


def test_a_paused_agent_refuses_relayed_tool_calls() -> None:
    w = world()
    w.publish("front")
    w.store.set_pointer(TENANT.tenant_id, "front", AgentStatus.PAUSED, 1)
    request = InvocationRequest(
        tenant_id=TENANT.tenant_id,
        agent_id="front",
        channel=Channel.VOICE,
        input=ToolRequest(tool_use_id="t1", name="knowledge_search", arguments={"query": "pillows"}),
    )

    async def run() -> list[Any]:
        return [e async for e in w.agent.handle(request, "call-1")]

    result = next(e for e in asyncio.run(run()) if isinstance(e, ToolResultEvent))
    assert result.status == "denied"
    assert w.retriever.scopes == []
