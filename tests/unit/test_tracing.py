"""OpenTelemetry spans of the tenant agent and the voice bridge, read with the SDK's in-memory exporter: a turn,
each model call, each tool and the persistence, all carrying the session id (the ContactId on calls)."""

from __future__ import annotations

import asyncio
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from oratio.adapters.memory_agent import InMemoryBudgetLedger, InMemoryConversationRecorder
from oratio.adapters.scripted_model import stop, text, tool_use, usage
from oratio.config.tenant import Channel
from oratio.tracing import DISABLED_INSTRUMENTATIONS_ENV, SESSION_ID, configure_from_environment
from oratio.voice_bridge.config import BridgeSettings
from oratio.voice_bridge.frames import Start, ToolCallFrame, ToolResultFrame, Transcript
from oratio.voice_bridge.processors import CallRecorder
from tests.unit.test_agent_engine import SESSION, ask, harness

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> Iterator[None]:
    # The global provider can be set once per process; later tests keep it (spans then go here, harmlessly).
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        sdk = TracerProvider()
        sdk.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(sdk)
    return


@pytest.fixture(autouse=True)
def fresh() -> None:
    EXPORTER.clear()


def spans() -> dict[str, Any]:
    return {span.name: span for span in EXPORTER.get_finished_spans()}


def test_a_turn_has_spans_for_each_model_call_each_tool_and_persistence_under_one_turn() -> None:
    h = harness(
        [
            [tool_use("t1", "knowledge_search", {"query": "king duvet"}), stop("tool_use"), usage(1200, 60)],
            [text("The king duvet is in stock."), stop(), usage(1400, 30)],
        ],
        tool_results={"knowledge_search": {"passages": ["King duvet: in stock"]}},
    )
    ask(h, "Is the king duvet in stock?", Channel.VOICE)

    finished = EXPORTER.get_finished_spans()
    names = [s.name for s in finished]
    assert names.count("oratio.model_call") == 2
    assert {"oratio.turn", "oratio.tool knowledge_search", "oratio.persistence"} <= set(names)
    turn = spans()["oratio.turn"]
    assert turn.parent is None
    for span in finished:
        # Every span is linked to the call: the session id is the ContactId on Connect calls
        assert span.attributes is not None
        assert span.attributes[SESSION_ID] == SESSION
        if span is not turn:
            assert span.parent is not None
            assert span.parent.span_id == turn.context.span_id
    model_calls = [s for s in finished if s.name == "oratio.model_call"]
    assert model_calls[0].attributes is not None
    assert model_calls[0].attributes["gen_ai.usage.input_tokens"] == 1200
    tool = spans()["oratio.tool knowledge_search"]
    assert tool.attributes is not None
    assert tool.attributes["oratio.tool_status"] == "ok"


def test_a_failed_turn_marks_its_span_as_an_error() -> None:
    from oratio.agent.engine import EngineSettings
    from oratio.agent.ports import ModelUnavailableError
    from oratio.agent.resilience import RetryPolicy

    down = ModelUnavailableError("503")
    h = harness([down, down, down, down], settings=EngineSettings(retry=RetryPolicy(attempts=1), max_model_switches=10))
    ask(h, "Hi")
    assert spans()["oratio.turn"].status.status_code is StatusCode.ERROR


def test_the_voice_bridge_traces_the_call_its_turns_and_relayed_tools() -> None:
    settings = BridgeSettings(tenant_id="cozy-comfort", agent_id="front-desk", system_prompt="You help callers.")
    recorder = CallRecorder(settings, InMemoryConversationRecorder(), InMemoryBudgetLedger())

    async def call() -> None:
        for frame in (
            Start(call_id="CA123", stream_id="MZ1", sample_rate=8000, encoding="mulaw"),
            Transcript(role="user", text="Where is my order?", final=True),
            ToolCallFrame(tool_use_id="tu-1", name="order_status", arguments={"order_number": "CC-123456"}),
            ToolResultFrame(tool_use_id="tu-1", name="order_status", status="timeout", content={}),
            Transcript(role="assistant", text="Sorry, I can't see it right now.", final=True),
        ):
            recorder._observe(frame)
        await recorder.flush()

    asyncio.run(call())
    found = spans()
    assert {"oratio.bridge_call", "oratio.turn", "oratio.tool order_status", "oratio.persistence"} <= set(found)
    assert all(s.attributes is not None and s.attributes[SESSION_ID] == "CA123" for s in found.values())
    assert found["oratio.tool order_status"].status.status_code is StatusCode.ERROR
    assert found["oratio.turn"].parent.span_id == found["oratio.bridge_call"].context.span_id  # type: ignore[union-attr]


def test_adot_starts_only_on_a_runtime_that_sets_the_otel_environment() -> None:
    assert configure_from_environment({}) is False


def _fake_adot(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """ADOT's auto-instrumentation entry point, recording the disabled instrumentations it starts with."""
    seen: list[str | None] = []
    package, auto = types.ModuleType("opentelemetry.instrumentation"), types.ModuleType("auto_instrumentation")
    auto.initialize = lambda: seen.append(os.environ.get(DISABLED_INSTRUMENTATIONS_ENV))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation", package)
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.auto_instrumentation", auto)
    return seen


def test_adot_starts_with_only_the_instrumentations_the_runtimes_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a runtime with AgentCore's OTEL_* environment and no choice of its own
    monkeypatch.delenv(DISABLED_INSTRUMENTATIONS_ENV, raising=False)
    seen = _fake_adot(monkeypatch)
    # When ADOT starts
    assert configure_from_environment({"OTEL_PYTHON_DISTRO": "aws_distro"}) is True
    # Then libraries the runtimes never load are not instrumented; botocore, Starlette and httpx are
    (disabled,) = seen
    assert disabled is not None
    assert {"django", "kafka", "system_metrics", "sqlite3"} <= set(disabled.split(","))
    assert not {"botocore", "starlette", "httpx", "logging", "threading"} & set(disabled.split(","))


def test_a_runtime_that_names_its_own_disabled_instrumentations_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLED_INSTRUMENTATIONS_ENV, "redis")
    seen = _fake_adot(monkeypatch)
    configure_from_environment({"OTEL_PYTHON_DISTRO": "aws_distro"})
    assert seen == ["redis"]
