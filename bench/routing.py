"""Model routing against the labelled evaluation set (`bench/data/routing_eval.yaml`): the confusion table of the
strength each turn needs, the share routed correctly, a held-out check of the thresholds, and what 1,000 turns
cost routed versus always the strongest or always the cheapest allowed model.

What the figures include: the router's own decision from the utterance and its context (no model runs); cost is
the catalog's list price for an estimated prompt (the item's context estimate, else a typical 1,500-token system
prompt and tools plus the utterance) and a spoken reply of `output_tokens_voice` tokens. What they exclude: real
token counts, prompt-cache discounts, and whether the chosen model would actually have answered well.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.model_routing import ModelSelector, RoutingSettings, ToolHint, TurnContext
from oratio.config import load_model_catalog

EVAL_FILE = Path(__file__).resolve().parent / "data" / "routing_eval.yaml"
# Written after the router was frozen, never used to tune it: the estimate on unseen turns.
HOLDOUT_FILE = EVAL_FILE.with_name("routing_holdout.yaml")
DEFAULT_TOOLS = ("knowledge_search", "transfer_to_human", "end_call", "order_status")
TYPICAL_PROMPT_TOKENS = 1_500
CHARS_PER_TOKEN = 4
ALLOWED = ("nova-micro", "nova-lite", "claude-haiku-4-5", "claude-sonnet-4-5")
TURN_BUDGET_USD = 0.05
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


class EvalItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    business: str
    tier: int = Field(ge=1, le=3)
    text: str
    history_turns: int = 0
    context_tokens: int | None = None
    tools: tuple[str, ...] = DEFAULT_TOOLS


def load_eval(path: Path = EVAL_FILE) -> list[EvalItem]:
    return [EvalItem.model_validate(item) for item in yaml.safe_load(path.read_text())["items"]]


def context_for(item: EvalItem, settings: RoutingSettings) -> TurnContext:
    tokens = item.context_tokens or TYPICAL_PROMPT_TOKENS + len(item.text) // CHARS_PER_TOKEN
    return TurnContext(
        user_text=item.text,
        voice=True,
        history_turns=item.history_turns,
        estimated_input_tokens=tokens,
        tools=tuple(ToolHint.for_tool(name, settings) for name in item.tools),
        turn_budget_usd=TURN_BUDGET_USD,
        tenant_remaining_usd=1_000.0,
    )


def predictions(items: list[EvalItem], settings: RoutingSettings) -> list[int]:
    selector = ModelSelector(load_model_catalog(), ALLOWED, 2_048, settings)
    return [selector.signals(context_for(item, settings)).strength for item in items]


def accuracy(items: list[EvalItem], settings: RoutingSettings) -> float:
    predicted = predictions(items, settings)
    return sum(p == item.tier for p, item in zip(predicted, items, strict=True)) / len(items)


def calibrate(items: list[EvalItem], settings: RoutingSettings) -> RoutingSettings:
    """The thresholds (weights unchanged) that route `items` best: what a held-out half is checked with."""
    best: tuple[float, float, float] | None = None
    for capable in THRESHOLD_GRID:
        for strongest in (t for t in THRESHOLD_GRID if t > capable):
            candidate = settings.model_copy(update={"capable_threshold": capable, "strongest_threshold": strongest})
            score = accuracy(items, candidate)
            # Ties: prefer the shipped thresholds' neighbourhood (closest to them), so the search stays stable.
            distance = abs(capable - settings.capable_threshold) + abs(strongest - settings.strongest_threshold)
            if best is None or (score, -distance) > (best[0], -best[1]):
                best = (score, distance, capable)
                chosen = candidate
    return chosen


def cost_per_thousand(items: list[EvalItem], settings: RoutingSettings) -> dict[str, float]:
    """USD per 1,000 turns like these: routed, always the strongest allowed, always the cheapest allowed."""
    catalog = load_model_catalog()
    selector = ModelSelector(catalog, ALLOWED, 2_048, settings)
    allowed = [catalog.model(m) for m in ALLOWED]
    strongest = max(allowed, key=lambda m: (m.strength, m.input_per_million_usd))
    cheapest = min(allowed, key=lambda m: m.input_per_million_usd + m.output_per_million_usd)
    output = settings.output_tokens_voice
    totals = {"routed": 0.0, f"always {strongest.id}": 0.0, f"always {cheapest.id}": 0.0}
    for item in items:
        context = context_for(item, settings)
        decision = selector.select(context)
        assert decision.model is not None
        tokens = context.estimated_input_tokens
        totals["routed"] += decision.model.estimate_cost_usd(tokens, output)
        totals[f"always {strongest.id}"] += strongest.estimate_cost_usd(tokens, output)
        totals[f"always {cheapest.id}"] += cheapest.estimate_cost_usd(tokens, output)
    return {name: usd * 1_000 / len(items) for name, usd in totals.items()}


def report(items: list[EvalItem], settings: RoutingSettings) -> dict[str, Any]:
    predicted = predictions(items, settings)
    confusion = Counter((item.tier, p) for item, p in zip(items, predicted, strict=True))
    even, odd = items[0::2], items[1::2]
    return {
        "n": len(items),
        "businesses": len({item.business for item in items}),
        "confusion": confusion,
        "accuracy": accuracy(items, settings),
        # Thresholds calibrated on one half, checked on the other (both ways).
        "held_out": (accuracy(odd, calibrate(even, settings)), accuracy(even, calibrate(odd, settings))),
        "cost": cost_per_thousand(items, settings),
        "misses": [(item.tier, p, item.text) for item, p in zip(items, predicted, strict=True) if p != item.tier],
    }


def _confusion(result: dict[str, Any]) -> None:
    print("    needed \\ routed    1     2     3")
    for needed in (1, 2, 3):
        row = "".join(f"{result['confusion'].get((needed, routed), 0):>6}" for routed in (1, 2, 3))
        print(f"    strength {needed}      {row}")
    for needed, routed, text in result["misses"]:
        print(f"    miss: needed {needed}, routed {routed}: {text[:90]}")


def run() -> None:
    settings = RoutingSettings()
    result = report(load_eval(), settings)
    holdout = report(load_eval(HOLDOUT_FILE), settings)
    print("model routing (labelled turns in bench/data; strength 1 simple, 2 capable, 3 strongest)")
    print(
        f"  evaluation set: {result['n']} turns, {result['businesses']} kinds of business "
        "(the cues were written with it)"
    )
    _confusion(result)
    print(f"    routed correctly: {result['accuracy']:.1%} (goal 90 %)")
    first, second = result["held_out"]
    print(f"    thresholds calibrated on one half, checked on the other: {first:.1%} and {second:.1%}")
    print(
        f"  held-out set: {holdout['n']} turns, {holdout['businesses']} kinds of business "
        "(written after, never tuned on)"
    )
    _confusion(holdout)
    print(f"    routed correctly: {holdout['accuracy']:.1%}")
    print("  cost per 1,000 turns of the evaluation set (list prices, estimated tokens, spoken replies):")
    for name, usd in result["cost"].items():
        print(f"    {name:<28} ${usd:8.3f}")
