"""Converse request building: cache points only where Bedrock will cache (the model supports it and the prefix
reaches its documented minimum), thinking configuration, the agent's facts in the system prompt and well-formed
message history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oratio.agent.ports import ConversationSummary, ConversationTurn, CustomerContext
from oratio.agent.prompt import CACHE_POINT, PromptBuilder
from oratio.agent_definitions.merge import resolve, tenant_defaults
from oratio.agent_definitions.model import AgentOverrides
from oratio.config.catalog import ModelEntry, load_model_catalog
from oratio.config.tenant import Channel, load_tenant_file

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
CATALOG = load_model_catalog()
NOW = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
SMALL_TOOLS = [
    {"toolSpec": {"name": "knowledge_search", "description": "d", "inputSchema": {"json": {"type": "object"}}}}
]
BUILDER = PromptBuilder(tenant_defaults(TENANT, "agt-1"))
# An agent whose facts make its static prompt about 1,500 tokens (4 characters a token).
LONG = PromptBuilder(resolve(TENANT, "agt-2", AgentOverrides(facts={f"fact_{i:02d}": "x" * 480 for i in range(12)})))
BIG_TOOLS = [
    {"toolSpec": {"name": f"tool_{i}", "description": "d" * 900, "inputSchema": {"json": {"type": "object"}}}}
    for i in range(6)
]


def request_for(
    model: ModelEntry,
    thinking: int = 0,
    voice: bool = True,
    builder: PromptBuilder = BUILDER,
    tools: list[dict[str, Any]] = SMALL_TOOLS,
) -> dict[str, Any]:
    system = builder.system_blocks(
        builder.static_system_text(Channel.VOICE if voice else Channel.CHAT),
        builder.dynamic_system_text(role="greeter", role_instructions="Greet warmly.", customer=None, now=NOW),
        model,
        tools,
    )
    messages = builder.messages([], "Hi")
    return builder.request(
        model=model, system=system, messages=messages, tool_specs=tools, voice=voice, thinking_budget_tokens=thinking
    )


def uncached(model_id: str) -> ModelEntry:
    model = CATALOG.model(model_id)
    return model.model_copy(update={"capabilities": model.capabilities.model_copy(update={"prompt_caching": False})})


@pytest.mark.parametrize("model_id", ["nova-micro", "claude-haiku-4-5", "claude-sonnet-4-5"])
def test_a_prefix_below_the_models_minimum_gets_no_cache_point(model_id: str) -> None:
    model = CATALOG.model(model_id)
    static = BUILDER.static_system_text(Channel.VOICE)
    assert BUILDER.estimate_tokens(static) < (model.capabilities.min_cache_tokens or 0)

    request = request_for(model)

    assert CACHE_POINT not in request["system"]
    assert CACHE_POINT not in request["toolConfig"]["tools"]


def test_a_long_static_prompt_is_cached_where_it_reaches_the_minimum() -> None:
    prefix = LONG.estimate_tokens(LONG.static_system_text(Channel.VOICE))
    assert 1_024 <= prefix < 4_096

    nova = request_for(CATALOG.model("nova-micro"), builder=LONG)
    sonnet = request_for(CATALOG.model("claude-sonnet-4-5"), builder=LONG)
    haiku = request_for(CATALOG.model("claude-haiku-4-5"), builder=LONG)

    assert nova["system"][1] == CACHE_POINT  # Nova: 1,000 tokens
    assert "greeter" in nova["system"][2]["text"]  # the per-turn part comes after the cache point
    assert sonnet["system"][1] == CACHE_POINT  # Sonnet 4.5: 1,024 tokens
    assert CACHE_POINT not in haiku["system"]  # Haiku 4.5 needs 4,096


def test_tools_get_a_cache_point_only_on_models_that_take_one_and_when_they_reach_the_minimum() -> None:
    sonnet = request_for(CATALOG.model("claude-sonnet-4-5"), tools=BIG_TOOLS)
    nova = request_for(CATALOG.model("nova-micro"), tools=BIG_TOOLS)

    assert sonnet["toolConfig"]["tools"] == [*BIG_TOOLS, CACHE_POINT]
    # Anthropic reads tools before the system prompt: they count towards the system point's prefix too.
    assert CACHE_POINT in sonnet["system"]
    assert CACHE_POINT not in nova["toolConfig"]["tools"]  # Nova rejects a cache point among tools


def test_models_without_prompt_caching_get_no_cache_points() -> None:
    request = request_for(uncached("claude-sonnet-4-5"), builder=LONG, tools=BIG_TOOLS)

    assert CACHE_POINT not in request["system"]
    assert CACHE_POINT not in request["toolConfig"]["tools"]


def test_thinking_sets_anthropic_budget_and_leaves_temperature_unset() -> None:
    request = request_for(CATALOG.model("claude-haiku-4-5"), thinking=2_048)

    assert request["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2_048}}
    assert "temperature" not in request["inferenceConfig"]
    assert request["inferenceConfig"]["maxTokens"] > 2_048


def test_without_thinking_temperature_is_set_and_no_extra_fields_are_sent() -> None:
    request = request_for(CATALOG.model("claude-haiku-4-5"))

    assert "additionalModelRequestFields" not in request
    assert request["inferenceConfig"]["temperature"] == BUILDER.settings.temperature
    assert request["modelId"] == CATALOG.model("claude-haiku-4-5").bedrock_model_id


def test_thinking_is_never_sent_to_a_model_without_it() -> None:
    assert "additionalModelRequestFields" not in request_for(CATALOG.model("nova-lite"), thinking=2_048)


def test_system_prompt_carries_the_agents_business_facts_and_voice_style() -> None:
    static = BUILDER.static_system_text(Channel.VOICE)

    for fact in (
        "30-day returns",
        "Free shipping on orders over $50",
        "Monday 09:00-18:00",
        "Sunday closed",
        "+15552333464",
    ):
        assert fact in static
    assert "markdown" in static
    assert "spoken" in static
    assert "markdown" in BUILDER.static_system_text(Channel.CHAT)


def test_customer_context_and_open_status_go_into_the_per_turn_part() -> None:
    customer = CustomerContext(
        tenant_id=TENANT.tenant_id,
        customer_key="phone:+15550001111",
        display_name="Sam",
        recent_conversations=(
            ConversationSummary(
                channel="whatsapp", session_id="s0", at=NOW - timedelta(days=1), summary="Asked about duvets"
            ),
        ),
        lead={"interest": "king duvet"},
    )

    dynamic = BUILDER.dynamic_system_text(role="qualifier", role_instructions="Qualify.", customer=customer, now=NOW)

    assert "Sam" in dynamic
    assert "on whatsapp: Asked about duvets" in dynamic
    assert "king duvet" in dynamic
    assert "open now" in dynamic


def test_messages_start_with_the_user_and_alternate() -> None:
    turns = [
        ConversationTurn(role="assistant", text="Welcome!", at=NOW, channel="voice"),
        ConversationTurn(role="user", text="Hi", at=NOW, channel="voice"),
        ConversationTurn(role="user", text="Are you there?", at=NOW, channel="voice"),
        ConversationTurn(role="assistant", text="Yes.", at=NOW, channel="voice"),
    ]

    messages = BUILDER.messages(turns, "Do you sell pillows?")

    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == [{"text": "Hi"}, {"text": "Are you there?"}]
    assert messages[-1]["content"] == [{"text": "Do you sell pillows?"}]
