"""Built-in tools: knowledge search answers with sourced passages (or says it found nothing), transfer carries
a summary the human agent can use, end-call carries its reason; each validates as the model would call it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from oratio.agent.ports import Passage
from oratio.agent.tools.base import ToolCall, ToolContext
from oratio.agent.tools.builtin import (
    MAX_SUMMARY_CHARS,
    NO_SUMMARY,
    EndCallTool,
    KnowledgeSearchTool,
    TransferToHumanTool,
)
from oratio.agent.tools.executor import ToolExecutor
from oratio.agent.tools.invocation import ToolError


def context(summary: str = "") -> ToolContext:
    return ToolContext(
        tenant_id="cozy-comfort",
        agent_id="front-desk",
        session_id="session-1",
        channel="voice",
        customer_key=None,
        user_text="hello",
        conversation_summary=summary,
    )


class FakeRetriever:
    """Returns canned passages and records what it was asked."""

    def __init__(self, passages: list[Passage] | None = None, error: Exception | None = None) -> None:
        self.passages = passages or []
        self.error = error
        self.queries: list[tuple[str, int]] = []

    async def retrieve(self, query: str, top_k: int, scope: object = None) -> list[Passage]:
        self.queries.append((query, top_k))
        if self.error is not None:
            raise self.error
        return self.passages


def run(tool: Any, arguments: dict[str, Any], ctx: ToolContext | None = None) -> dict[str, Any]:
    result: dict[str, Any] = asyncio.run(tool.run(arguments, ctx or context()))
    return result


# ---------------------------------------------------------------------------------------- knowledge
def test_knowledge_search_returns_passages_with_text_source_and_score() -> None:
    retriever = FakeRetriever(
        [
            Passage(text="All-Season Comforter: queen $109", source="s3://docs/catalog.json", score=0.8123456),
            Passage(text="Returns within 30 days", source="s3://docs/policies.md", score=None),
        ]
    )

    result = run(KnowledgeSearchTool(retriever, top_k=3), {"query": "  queen comforter  "})

    assert retriever.queries == [("queen comforter", 3)]
    assert result == {
        "passages": [
            {"text": "All-Season Comforter: queen $109", "source": "s3://docs/catalog.json", "score": 0.8123},
            {"text": "Returns within 30 days", "source": "s3://docs/policies.md", "score": None},
        ]
    }


def test_knowledge_search_with_nothing_found_tells_the_model_not_to_guess() -> None:
    result = run(KnowledgeSearchTool(FakeRetriever([])), {"query": "gift cards"})

    assert result["passages"] == []
    assert "don't know" in result["note"]


def test_knowledge_search_clips_long_passages_and_keeps_at_most_top_k() -> None:
    passages = [Passage(text="word " * 1_000, source=f"doc{i}", score=1.0) for i in range(6)]

    result = run(KnowledgeSearchTool(FakeRetriever(passages), top_k=2, max_passage_chars=300), {"query": "word"})

    assert [p["source"] for p in result["passages"]] == ["doc0", "doc1"]
    assert all(len(p["text"]) <= 300 and p["text"].endswith("…") for p in result["passages"])


def test_knowledge_search_failure_is_a_safe_tool_error() -> None:
    retriever = FakeRetriever(error=ConnectionError("s3vectors.us-east-1.amazonaws.com refused"))

    with pytest.raises(ToolError) as raised:
        run(KnowledgeSearchTool(retriever), {"query": "pillows"})

    assert raised.value.safe_message == "the knowledge base is unavailable right now"


# ------------------------------------------------------------------------------------------ handoff
def test_transfer_uses_the_models_summary_when_it_gives_one() -> None:
    result = run(
        TransferToHumanTool(),
        {"reason": "customer wants a refund on a used duvet", "summary": "Dana, order CC-123456, duvet torn."},
        context(summary="older summary"),
    )

    assert result == {
        "handoff": {
            "reason": "customer wants a refund on a used duvet",
            "summary": "Dana, order CC-123456, duvet torn.",
        }
    }


def test_transfer_falls_back_to_the_conversation_summary_clipped_for_the_human() -> None:
    long_summary = "Caller asked about king comforters and then about shipping. " * 30

    result = run(TransferToHumanTool(), {"reason": "asked for a person"}, context(summary=long_summary))

    summary = result["handoff"]["summary"]
    assert summary.startswith("Caller asked about king comforters")
    assert len(summary) <= MAX_SUMMARY_CHARS


def test_transfer_without_any_summary_says_so() -> None:
    result = run(TransferToHumanTool(), {"reason": "asked for a person", "summary": "  "})

    assert result["handoff"]["summary"] == NO_SUMMARY


def test_end_call_carries_its_reason() -> None:
    assert run(EndCallTool(), {"reason": "customer said goodbye"}) == {"end_call": {"reason": "customer said goodbye"}}


# ------------------------------------------------------------------------------------------ schemas
@pytest.mark.parametrize(
    ("tool", "good", "bad"),
    [
        (KnowledgeSearchTool(FakeRetriever()), {"query": "duvet sizes"}, {"query": "x"}),
        (KnowledgeSearchTool(FakeRetriever()), {"query": "duvet sizes"}, {"q": "duvet sizes"}),
        (TransferToHumanTool(), {"reason": "complaint"}, {"summary": "no reason given"}),
        (TransferToHumanTool(), {"reason": "complaint", "summary": "s"}, {"reason": "complaint", "queue": "vip"}),
        (EndCallTool(), {"reason": "said goodbye"}, {}),
    ],
)
def test_schemas_accept_what_the_model_should_send_and_reject_the_rest(
    tool: Any, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    Draft202012Validator.check_schema(tool.spec.input_schema)
    validator = Draft202012Validator(tool.spec.input_schema)

    assert validator.is_valid(good)
    assert not validator.is_valid(bad)


def test_builtins_are_reading_tools_with_descriptions_that_say_when_to_use_them() -> None:
    tools: list[KnowledgeSearchTool | TransferToHumanTool | EndCallTool] = [
        KnowledgeSearchTool(FakeRetriever()),
        TransferToHumanTool(),
        EndCallTool(),
    ]

    assert [t.spec.name for t in tools] == ["knowledge_search", "transfer_to_human", "end_call"]
    assert not any(t.spec.writes for t in tools)  # a customer saying odd things must still reach a human
    assert all(len(t.spec.description) > 100 for t in tools)


def test_transfer_through_the_executor_reaches_the_turn_as_a_handoff_result() -> None:
    executor = ToolExecutor([TransferToHumanTool()])
    calls = [ToolCall("use-1", "transfer_to_human", {"reason": "complaint"})]

    [result] = asyncio.run(executor.run_all(calls, context(summary="Upset about a late order.")))

    assert result.status == "ok"
    assert result.content == {"handoff": {"reason": "complaint", "summary": "Upset about a late order."}}
