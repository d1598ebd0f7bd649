"""The cost optimizer: cheapest model within the turn's and the tenant's remaining budget."""

from __future__ import annotations

from oratio.agent.model_routing import CostOptimizer
from oratio.config.catalog import load_model_catalog

CATALOG = load_model_catalog()
ALL = list(CATALOG.models)


def test_picks_the_cheapest_model_for_the_estimated_tokens() -> None:
    chosen = CostOptimizer().choose(ALL, 2_000, 300, turn_budget_usd=1.0, tenant_remaining_usd=100.0)

    assert chosen is not None
    assert chosen.id == "nova-micro"


def test_skips_models_above_the_turn_budget() -> None:
    thinking = [m for m in ALL if m.capabilities.extended_thinking]
    # Haiku: 2000 in + 2348 out ≈ $0.0137; Sonnet ≈ $0.041.
    chosen = CostOptimizer().choose(thinking, 2_000, 2_348, turn_budget_usd=0.02, tenant_remaining_usd=100.0)

    assert chosen is not None
    assert chosen.id == "claude-haiku-4-5"
    assert CostOptimizer().choose(thinking, 2_000, 2_348, turn_budget_usd=0.01, tenant_remaining_usd=100.0) is None


def test_the_tenant_remaining_budget_caps_the_turn() -> None:
    optimizer = CostOptimizer()

    assert optimizer.choose(ALL, 2_000, 300, turn_budget_usd=1.0, tenant_remaining_usd=0.0) is None
    assert optimizer.choose(ALL, 2_000, 300, turn_budget_usd=1.0, tenant_remaining_usd=-5.0) is None


def test_no_eligible_models_gives_none() -> None:
    assert CostOptimizer().choose([], 10, 10, turn_budget_usd=1.0, tenant_remaining_usd=1.0) is None


def test_cached_tokens_use_cache_prices_or_fall_back_to_the_input_price() -> None:
    haiku, micro = CATALOG.model("claude-haiku-4-5"), CATALOG.model("nova-micro")

    assert haiku.usage_cost_usd(0, 0, cache_read_tokens=1_000_000) == 0.10
    assert haiku.usage_cost_usd(0, 0, cache_write_tokens=1_000_000) == 1.25
    assert micro.usage_cost_usd(0, 0, cache_write_tokens=1_000_000) == micro.input_per_million_usd
