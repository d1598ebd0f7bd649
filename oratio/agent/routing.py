"""Per-turn model routing: how complex the turn looks, what it needs, and the cheapest model that fits.

`ModelSelector.select` scores a turn from what the customer wrote (explicit thinking requests, analytical
keywords, length, code), how deep the conversation is and how many tools it will probably need; turns the
score into requirements (tools, extended thinking, a fast model on voice); and lets `CostOptimizer` pick
the cheapest eligible model within the turn's and the tenant's remaining budget. Keyword lists, weights
and thresholds are data (`RoutingSettings`), not constants in the logic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.config.catalog import ModelCatalog, ModelEntry

LatencyClass = Literal["fastest", "fast", "balanced", "slow"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComplexityWeights(_Frozen):
    """How much each signal adds to the complexity score (the sum is clipped to 1)."""

    explicit_thinking: float = 0.5
    analytical_keyword: float = 0.2  # per keyword found, up to `analytical_max`
    analytical_max: float = 0.4
    long_prompt: float = 0.15
    deep_conversation: float = 0.1
    tool: float = 0.1  # per tool likely needed, up to `tools_max`
    tools_max: float = 0.3
    code: float = 0.2


class RoutingSettings(_Frozen):
    """Keyword lists, weights, thresholds and token estimates of the model selector, in one place."""

    thinking_phrases: tuple[str, ...] = (
        "think carefully",
        "think hard",
        "think it through",
        "think this through",
        "step by step",
        "step-by-step",
        "reason through",
        "take your time",
    )
    analytical_keywords: tuple[str, ...] = (
        "compare",
        "comparison",
        "analyze",
        "analyse",
        "explain why",
        "evaluate",
        "pros and cons",
        "difference between",
        "trade-off",
        "tradeoff",
        "which is better",
        "calculate",
        "recommend",
    )
    code_keywords: tuple[str, ...] = ("code", "python", "javascript", "sql", "script", "regex", "json", "api call")
    # Words that suggest a built-in tool; business tools add the words of their own names.
    tool_keywords: dict[str, tuple[str, ...]] = {
        "knowledge_search": (
            "product",
            "price",
            "cost",
            "policy",
            "return",
            "refund",
            "shipping",
            "delivery",
            "size",
            "material",
            "warranty",
            "stock",
        ),
        "transfer_to_human": ("human", "person", "representative", "agent", "manager", "someone"),
        "end_call": ("goodbye", "bye", "hang up"),
    }
    tool_name_stopwords: tuple[str, ...] = ("get", "set", "the", "for", "tool", "search", "lookup", "check")
    default_tools_expected: int = Field(default=0, ge=0, description="tools assumed needed on every turn")
    weights: ComplexityWeights = ComplexityWeights()
    long_prompt_chars: int = Field(default=400, ge=1)
    deep_conversation_turns: int = Field(default=10, ge=1)
    thinking_threshold: float = Field(default=0.6, ge=0, le=1)
    voice_latency_classes: tuple[LatencyClass, ...] = ("fastest", "fast")
    # Token estimates for the budget check (the real cost comes from the model's reported usage).
    chars_per_token: float = Field(default=4.0, gt=0)
    output_tokens_voice: int = Field(default=150, ge=1)
    output_tokens_text: int = Field(default=400, ge=1)


class ToolHint(_Frozen):
    """An enabled tool and the words that suggest the turn will need it."""

    name: str
    keywords: tuple[str, ...]

    @classmethod
    def for_tool(cls, name: str, settings: RoutingSettings) -> ToolHint:
        """Keywords of a tool: the configured ones for built-ins, else the meaningful words of its name."""
        configured = settings.tool_keywords.get(name)
        if configured is not None:
            return cls(name=name, keywords=configured)
        words = [w for w in re.split(r"[_\-\s]+", name.lower()) if len(w) > 2 and w not in settings.tool_name_stopwords]
        return cls(name=name, keywords=tuple(words) or (name.lower(),))

    @classmethod
    def from_tool_specs(cls, specs: Iterable[Mapping[str, Any]], settings: RoutingSettings) -> tuple[ToolHint, ...]:
        """Hints for Converse `toolConfig.tools` entries (cache points and other blocks are skipped)."""
        names = [str(spec["toolSpec"]["name"]) for spec in specs if "toolSpec" in spec]
        return tuple(cls.for_tool(name, settings) for name in names)


class TurnContext(_Frozen):
    """What the selector knows about the turn about to run."""

    user_text: str
    voice: bool
    history_turns: int = 0
    estimated_input_tokens: int = Field(ge=0, description="system prompt + tools + history + user text")
    tools: tuple[ToolHint, ...] = ()
    require_tools: bool = False  # e.g. the conversation already holds toolUse blocks
    turn_budget_usd: float = Field(ge=0)
    tenant_remaining_usd: float
    excluded_models: dict[str, str] = Field(default_factory=dict, description="model id → why it is skipped")


class ComplexitySignals(_Frozen):
    """What made a turn look complex, with the score they add up to."""

    score: float = Field(ge=0, le=1)
    explicit_thinking: bool = False
    analytical_keywords: tuple[str, ...] = ()
    long_prompt: bool = False
    deep_conversation: bool = False
    tools_expected: int = 0
    needs_code: bool = False

    def describe(self) -> str:
        """The signals that fired, for the routing reason."""
        parts: list[str] = []
        if self.explicit_thinking:
            parts.append("asked to think")
        if self.analytical_keywords:
            parts.append("analytical keywords")
        if self.long_prompt:
            parts.append("long prompt")
        if self.deep_conversation:
            parts.append("deep conversation")
        if self.tools_expected:
            parts.append(f"{self.tools_expected} tool{'s' if self.tools_expected != 1 else ''}")
        if self.needs_code:
            parts.append("code")
        return ", ".join(parts) or "simple"


class ModelDecision(_Frozen):
    """The model for this turn (None: nothing eligible and affordable), why, and what it should cost."""

    model: ModelEntry | None
    reason: str
    complexity: float
    thinking_budget_tokens: int = 0  # 0: extended thinking off
    estimated_cost_usd: float = 0.0
    signals: ComplexitySignals
    needs_tools: bool = False
    thinking_dropped: bool = False

    @property
    def uses_thinking(self) -> bool:
        return self.thinking_budget_tokens > 0


class CostOptimizer:
    """Picks the cheapest model that fits both the turn's budget and what the tenant has left this month."""

    def choose(
        self,
        eligible: Iterable[ModelEntry],
        estimated_input_tokens: int,
        estimated_output_tokens: int,
        turn_budget_usd: float,
        tenant_remaining_usd: float,
    ) -> ModelEntry | None:
        limit = min(turn_budget_usd, tenant_remaining_usd)
        affordable = [
            (model.estimate_cost_usd(estimated_input_tokens, estimated_output_tokens), index, model)
            for index, model in enumerate(eligible)
        ]
        within = [entry for entry in affordable if entry[0] <= limit]
        if not within:
            return None
        # Ties keep the caller's order (the catalog order), so equal prices choose predictably.
        return min(within, key=lambda entry: (entry[0], entry[1]))[2]


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None


class ModelSelector:
    """Chooses the model for each turn of one tenant's agent."""

    def __init__(
        self,
        catalog: ModelCatalog,
        allowed_models: Iterable[str],
        thinking_budget_tokens: int,
        settings: RoutingSettings | None = None,
        optimizer: CostOptimizer | None = None,
    ) -> None:
        allowed = set(allowed_models)
        # Catalog order, not the tenant's: ties in price then resolve the same way for every tenant.
        self._allowed = tuple(m for m in catalog.models if m.id in allowed)
        self._thinking_budget = thinking_budget_tokens
        self.settings = settings or RoutingSettings()
        self._optimizer = optimizer or CostOptimizer()

    def signals(self, context: TurnContext) -> ComplexitySignals:
        """Score the turn's complexity from its text, the conversation depth and the tools it may need."""
        s = self.settings
        w = s.weights
        text = context.user_text.lower()
        explicit = any(_contains(text, p) for p in s.thinking_phrases)
        analytical = tuple(k for k in s.analytical_keywords if _contains(text, k))
        long_prompt = len(context.user_text) >= s.long_prompt_chars
        deep = context.history_turns >= s.deep_conversation_turns
        mentioned = sum(1 for tool in context.tools if any(_contains(text, k) for k in tool.keywords))
        tools_expected = mentioned + s.default_tools_expected if context.tools else 0
        code = any(_contains(text, k) for k in s.code_keywords)
        score = (
            (w.explicit_thinking if explicit else 0.0)
            + min(w.analytical_max, w.analytical_keyword * len(analytical))
            + (w.long_prompt if long_prompt else 0.0)
            + (w.deep_conversation if deep else 0.0)
            + min(w.tools_max, w.tool * tools_expected)
            + (w.code if code else 0.0)
        )
        return ComplexitySignals(
            score=round(min(1.0, score), 4),
            explicit_thinking=explicit,
            analytical_keywords=analytical,
            long_prompt=long_prompt,
            deep_conversation=deep,
            tools_expected=tools_expected,
            needs_code=code,
        )

    def select(self, context: TurnContext) -> ModelDecision:
        """The model for this turn, with a reason a person can read."""
        signals = self.signals(context)
        needs_tools = context.require_tools or signals.tools_expected > 0
        wants_thinking = signals.explicit_thinking or signals.score >= self.settings.thinking_threshold
        output_tokens = self.settings.output_tokens_voice if context.voice else self.settings.output_tokens_text
        head = f"complexity {signals.score:.2f} ({signals.describe()})"
        skipped = "".join(f"; skipped {mid} ({why})" for mid, why in sorted(context.excluded_models.items()))

        if wants_thinking:
            model = self._choose(context, needs_tools, True, output_tokens + self._thinking_budget)
            if model is not None:
                cost = model.estimate_cost_usd(context.estimated_input_tokens, output_tokens + self._thinking_budget)
                return ModelDecision(
                    model=model,
                    reason=f"{head} → needs thinking; cheapest eligible: {model.id} est ${cost:.4f}{skipped}",
                    complexity=signals.score,
                    thinking_budget_tokens=self._thinking_budget,
                    estimated_cost_usd=cost,
                    signals=signals,
                    needs_tools=needs_tools,
                )

        model = self._choose(context, needs_tools, False, output_tokens)
        dropped = "thinking dropped (no thinking-capable model within budget); " if wants_thinking else ""
        if model is None:
            return ModelDecision(
                model=None,
                reason=(
                    f"{head} → {dropped}no eligible model within budget "
                    f"(turn ${context.turn_budget_usd:.4f}, tenant remaining "
                    f"${max(0.0, context.tenant_remaining_usd):.4f}){skipped}"
                ),
                complexity=signals.score,
                signals=signals,
                needs_tools=needs_tools,
                thinking_dropped=wants_thinking,
            )
        cost = model.estimate_cost_usd(context.estimated_input_tokens, output_tokens)
        needs = "needs tools" if needs_tools else "no special needs"
        return ModelDecision(
            model=model,
            reason=f"{head} → {dropped}{needs}; cheapest eligible: {model.id} est ${cost:.4f}{skipped}",
            complexity=signals.score,
            estimated_cost_usd=cost,
            signals=signals,
            needs_tools=needs_tools,
            thinking_dropped=wants_thinking,
        )

    def _choose(self, context: TurnContext, needs_tools: bool, thinking: bool, output_tokens: int) -> ModelEntry | None:
        eligible = [
            m
            for m in self._allowed
            if m.id not in context.excluded_models
            and (m.capabilities.tools or not needs_tools)
            and (m.capabilities.extended_thinking or not thinking)
        ]
        if context.voice and not thinking:
            # Voice prefers a fast model; a slower one only when no fast one is eligible and affordable.
            fast = [m for m in eligible if m.latency_class in self.settings.voice_latency_classes]
            chosen = self._cheapest(context, fast, output_tokens)
            if chosen is not None:
                return chosen
        return self._cheapest(context, eligible, output_tokens)

    def _cheapest(self, context: TurnContext, eligible: list[ModelEntry], output_tokens: int) -> ModelEntry | None:
        return self._optimizer.choose(
            eligible,
            context.estimated_input_tokens,
            output_tokens,
            context.turn_budget_usd,
            context.tenant_remaining_usd,
        )
