"""Per-turn model routing: the strength a turn needs, the cheapest allowed model strong enough within budget, and
the reason recorded for it; and the share of a labelled set routed correctly."""

from __future__ import annotations

import pytest

from bench.routing import HOLDOUT_FILE, accuracy, load_eval
from oratio.agent.model_routing import ModelSelector, RoutingSettings, ToolHint, TurnContext
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
    (
        "greeting stays on the fastest",
        context("Hi there!"),
        "nova-micro",
        False,
        ["(simple) → strength 1", "nova-micro"],
    ),
    (
        "two questions need a capable model",
        context("How much is the king duvet, and do you deliver on Saturdays?"),
        "claude-haiku-4-5",
        False,
        ["2 questions", "strength 2"],
    ),
    (
        "a comparison needs a capable model",
        context("Which is better for a hot sleeper, the wool or the down duvet?"),
        "claude-haiku-4-5",
        False,
        ["comparison", "strength 2"],
    ),
    (
        "a policy exception goes to the strongest",
        context("It's been 40 days, I know returns are 30 days but could you make an exception?"),
        "claude-sonnet-4-5",
        False,
        ["policy exception", "strength 3"],
    ),
    (
        "deep in a long conversation goes to the strongest",
        context("So which one?", estimated_input_tokens=9_000, history_turns=22),
        "claude-sonnet-4-5",
        False,
        ["long context", "strength 3"],
    ),
    (
        "two lookups are tool-heavy",
        context("Track orders CC-100200 and CC-100201 please.", voice=False),
        "claude-haiku-4-5",
        False,
        ["2 tools", "needs tools"],
    ),
    (
        "asked to think gets thinking on the strongest",
        context("Think carefully, step by step, about which duvet suits me"),
        "claude-sonnet-4-5",
        True,
        ["asked to think", "needs thinking"],
    ),
    (
        "thinking unaffordable is dropped and the turn steps down",
        context("Think carefully step by step", turn_budget_usd=0.001),
        "nova-micro",
        False,
        ["thinking dropped", "stepped down to 1"],
    ),
    (
        "an exception the budget cannot pay steps down, never fails",
        context("I know the fee is $75 but can you waive it?", tenant_remaining_usd=0.0005),
        "nova-micro",
        False,
        ["no strength-3 model within budget, stepped down to 1"],
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
        ["no eligible model within budget", "remaining this month $0.0000"],
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


def test_a_strong_turn_stays_on_what_the_agent_allows() -> None:
    """An agent allowed only fast models answers hard turns with the best of those, not with a stronger one."""
    selector = ModelSelector(CATALOG, ("nova-micro", "nova-lite"), thinking_budget_tokens=2_048)

    decision = selector.select(context("I know returns are 30 days but can you make an exception?"))

    assert decision.strength == 3
    assert decision.model is not None
    assert decision.model.id == "nova-micro"
    assert "stepped down to 1" in decision.reason


def test_voice_prefers_a_fast_model_among_the_strong_enough() -> None:
    selector = ModelSelector(CATALOG, ("nova-pro", "claude-haiku-4-5"), thinking_budget_tokens=2_048)
    text = "Which is better for me, the king or the queen set?"

    voice = selector.select(context(text))
    chat = selector.select(context(text, voice=False))

    assert voice.model is not None
    assert voice.model.id == "claude-haiku-4-5"  # fast
    assert chat.model is not None
    assert chat.model.id == "nova-pro"  # cheaper, balanced


def test_cues_come_from_the_settings() -> None:
    settings = RoutingSettings(comparison_cues=("weigh up",))
    selector = ModelSelector(CATALOG, ALLOWED, 2_048, settings)

    signals = selector.signals(context("Please weigh up both options"))

    assert signals.comparison
    assert signals.strength == 2


def test_business_tool_keywords_come_from_its_name() -> None:
    assert ToolHint.for_tool("order_status", SETTINGS).keywords == ("order", "status")


def test_the_labelled_set_is_routed_to_the_strength_it_needs() -> None:
    items = load_eval()
    assert len(items) >= 60
    assert len({item.business for item in items}) >= 10
    assert accuracy(items, SETTINGS) >= 0.9


def test_turns_the_router_was_never_tuned_on_are_routed_well_too() -> None:
    assert accuracy(load_eval(HOLDOUT_FILE), SETTINGS) >= 0.9
