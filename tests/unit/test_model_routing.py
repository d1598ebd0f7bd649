"""Per-turn model routing: which model a turn gets, and the reason recorded for it."""

from __future__ import annotations

import pytest

from oratio.agent.routing import ModelSelector, RoutingSettings, ToolHint, TurnContext
from oratio.config.catalog import load_model_catalog

CATALOG = load_model_catalog()
ALLOWED = ("nova-micro", "nova-lite", "claude-haiku-4-5", "claude-sonnet-4-5")
SETTINGS = RoutingSettings()
TOOLS = tuple(
    ToolHint.for_tool(n, SETTINGS) for n in ("knowledge_search", "transfer_to_human", "end_call", "order_status")
)


def context(text: str, **overrides: object) -> TurnContext:
    values: dict[str, object] = {
        "user_text": text,
        "voice": True,
        "estimated_input_tokens": 1_000,
        "tools": TOOLS,
        "turn_budget_usd": 0.05,
        "tenant_remaining_usd": 400.0,
    }
    values.update(overrides)
    return TurnContext.model_validate(values)


SELECTOR = ModelSelector(CATALOG, ALLOWED, thinking_budget_tokens=2_048)

CASES = [
    # (name, context, expected model, thinking on, words the reason must contain)
    ("greeting on voice", context("Hi there!"), "nova-micro", False, ["complexity 0.00 (simple)", "nova-micro"]),
    (
        "step by step asks for thinking",
        context("Can you think carefully, step by step, about which duvet suits me?"),
        "claude-haiku-4-5",
        True,
        ["asked to think", "needs thinking", "claude-haiku-4-5 est $"],
    ),
    (
        "analytical keywords plus tools",
        context("Compare the prices of your king duvets and evaluate which is better for the price, and my order"),
        "claude-haiku-4-5",
        True,
        ["analytical keywords", "tools"],
    ),
    (
        "tools needed on chat",
        context("What is the price of the pillow and the status of my order?", voice=False),
        "nova-micro",
        False,
        ["2 tools", "needs tools"],
    ),
    (
        "thinking unaffordable is dropped",
        context("Think carefully step by step", turn_budget_usd=0.001),
        "nova-micro",
        False,
        ["thinking dropped (no thinking-capable model within budget)"],
    ),
    (
        "breaker-open model excluded",
        context("Hello", excluded_models={"nova-micro": "circuit open"}),
        "nova-lite",
        False,
        ["skipped nova-micro (circuit open)", "nova-lite"],
    ),
    (
        "budget exhausted",
        context("Hello", tenant_remaining_usd=0.0),
        None,
        False,
        ["no eligible model within budget", "tenant remaining $0.0000"],
    ),
    (
        "nearly exhausted budget still buys the cheapest",
        context("Hello", tenant_remaining_usd=0.0002),
        "nova-micro",
        False,
        ["nova-micro"],
    ),
]


@pytest.mark.parametrize(("name", "ctx", "expected", "thinking", "reason_words"), CASES, ids=[c[0] for c in CASES])
def test_routing_decisions(
    name: str, ctx: TurnContext, expected: str | None, thinking: bool, reason_words: list[str]
) -> None:
    decision = SELECTOR.select(ctx)

    assert (decision.model.id if decision.model else None) == expected
    assert decision.uses_thinking is thinking
    assert decision.thinking_budget_tokens == (2_048 if thinking else 0)
    for words in reason_words:
        assert words in decision.reason


def test_voice_prefers_a_fast_model_over_a_cheaper_slow_one() -> None:
    selector = ModelSelector(CATALOG, ("nova-pro", "claude-haiku-4-5"), thinking_budget_tokens=2_048)

    voice = selector.select(context("Hello"))
    chat = selector.select(context("Hello", voice=False))

    assert voice.model is not None
    assert voice.model.latency_class in ("fastest", "fast")
    assert chat.model is not None
    assert chat.model.id == "nova-pro"


def test_only_tenant_allowed_models_are_chosen() -> None:
    selector = ModelSelector(CATALOG, ("claude-sonnet-4-5",), thinking_budget_tokens=1_024)

    decision = selector.select(context("Hi"))

    assert decision.model is not None
    assert decision.model.id == "claude-sonnet-4-5"


def test_complexity_signals_come_from_configured_keywords() -> None:
    settings = RoutingSettings(analytical_keywords=("weigh up",), default_tools_expected=1)
    selector = ModelSelector(CATALOG, ALLOWED, 2_048, settings)

    signals = selector.signals(context("Please weigh up both options"))

    assert signals.analytical_keywords == ("weigh up",)
    assert signals.tools_expected == 1
    assert signals.score == pytest.approx(settings.weights.analytical_keyword + settings.weights.tool)


def test_business_tool_keywords_come_from_its_name() -> None:
    assert ToolHint.for_tool("order_status", SETTINGS).keywords == ("order", "status")
