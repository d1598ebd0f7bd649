"""Per-turn model routing: what a turn needs, and the cheapest allowed model strong enough that the budget pays.

`ModelSelector.select` reads features any router can compute from the turn (how long it is, how many clauses and
questions it holds, comparison, exception-to-policy and reasoning cues, constraints to satisfy, how many tools it
will likely need, how long the conversation and its context are), weighs them into a score, and turns the score
into the strength the turn needs (1 simple, 2 capable, 3 strongest; `ModelEntry.strength` in the catalog). The
`CostOptimizer` then takes the cheapest allowed model of at least that strength within the turn's budget and
what the agent and the tenant have left this month; when none is affordable the turn steps down a strength
rather than failing (said in the reason). Voice prefers a fast model among the strong-enough ones. Cue lists,
weights and thresholds are data (`RoutingSettings`), checked against a labelled set (`bench/data/routing_eval.yaml`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.config.catalog import ModelCatalog, ModelEntry

LatencyClass = Literal["fastest", "fast", "balanced", "slow"]
Strength = Literal[1, 2, 3]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ComplexityWeights(_Frozen):
    """How much each feature adds to its score (each score is clipped to 1). The strongest-model score counts what
    only a strong model handles well; the capable score counts what a small model tends to get partly wrong."""

    # strongest-model score
    explicit_thinking: float = 0.6
    exception: float = 0.6
    long_context: float = 0.6
    planning: float = 0.6  # several constraints to satisfy at once, in a long request
    # capable score
    comparison: float = 0.35
    reasoning: float = 0.3
    extra_clause: float = 0.1  # per clause beyond the first, up to `clauses_max`
    clauses_max: float = 0.3
    extra_question: float = 0.25  # per question beyond the first
    constraint: float = 0.08  # per constraint (a number, an amount, "under", "before", ...), up to `constraints_max`
    constraints_max: float = 0.3
    extra_tool: float = 0.35  # per likely tool beyond the first, up to `tools_max`
    tools_max: float = 0.35
    long_prompt: float = 0.15
    code: float = 0.2


class RoutingSettings(_Frozen):
    """Cue lists, weights, thresholds and token estimates of the model selector, in one place."""

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
    comparison_cues: tuple[str, ...] = (
        "compare",
        "comparison",
        "difference",
        "versus",
        "vs",
        "better",
        "worth it",
        "better value",
        "cheaper",
        "or keep",
        "or should i",
        "or just",
        "pros and cons",
        "trade-off",
        "tradeoff",
    )
    reasoning_cues: tuple[str, ...] = (
        "recommend",
        "suggest",
        "should i",
        "what could it be",
        "explain",
        "plan",
        "why",
        "help me decide",
        "calculate",
        "what happens",
        "given everything",
        "which one should",
        "what would you",
    )
    # An exception to a policy: a policy term met with a contrast ("the return window is 30 days but ..."), or a
    # request that names the exception itself.
    policy_terms: tuple[str, ...] = (
        "policy",
        "return window",
        "returns are",
        "window",
        "warranty",
        "contract",
        "fee",
        "deposit",
        "non-refundable",
        "no refunds",
        "not covered",
        "isn't covered",
        "doesn't allow",
        "deadline",
        "rate",
        "days",
        "claim",
        "denied",
        "rejected",
        "charged",
        "invoice",
        "covered",
    )
    contrast_cues: tuple[str, ...] = ("but", "even though", "although", "i know", "despite", "anyway", "instead of")
    exception_requests: tuple[str, ...] = (
        "exception",
        "waive",
        "appeal",
        "reverse",
        "refund the difference",
        "partial refund",
        "for free",
        "without paying",
    )
    constraint_cues: tuple[str, ...] = (
        "under",
        "no more than",
        "at least",
        "before",
        "within",
        "including",
        "total",
        "budget",
    )
    code_keywords: tuple[str, ...] = ("python", "javascript", "sql", "regex", "json", "api call")
    # Words that suggest a built-in tool; business tools add the words of their own names.
    tool_keywords: dict[str, tuple[str, ...]] = {
        "knowledge_search": (
            "product",
            "price",
            "cost",
            "how much",
            "in stock",
            "return",
            "refund",
            "shipping",
            "delivery",
            "size",
            "material",
            "warranty",
            "stock",
            "menu",
            "insurance",
            "open",
        ),
        "transfer_to_human": ("human", "person", "representative", "agent", "manager", "someone"),
        "end_call": ("goodbye", "bye", "hang up"),
    }
    tool_name_stopwords: tuple[str, ...] = ("get", "set", "the", "for", "tool", "search", "lookup", "check")
    # Reference numbers (orders, bookings, claims) each need their own lookup.
    reference_pattern: str = r"\b[A-Z]{1,4}-\d{3,}\b"
    weights: ComplexityWeights = Field(default_factory=ComplexityWeights)
    long_prompt_words: int = Field(default=35, ge=1)
    long_context_tokens: int = Field(default=6_000, ge=1)
    deep_conversation_turns: int = Field(default=15, ge=1)
    planning_constraints: int = Field(default=3, ge=1, description="constraints that make a long request a plan")
    planning_clauses: int = Field(default=4, ge=1)
    capable_threshold: float = Field(default=0.3, ge=0, le=1, description="capable score from which strength 2")
    strongest_threshold: float = Field(default=0.5, ge=0, le=1, description="strongest score from which strength 3")
    thinking_threshold: float = Field(default=1.0, ge=0, le=1, description="strongest score from which thinking")
    voice_latency_classes: tuple[LatencyClass, ...] = ("fastest", "fast")
    # Token estimates for the budget check (the real cost comes from the model's reported usage).
    output_tokens_voice: int = Field(default=150, ge=1)
    output_tokens_text: int = Field(default=400, ge=1)

    def strength_for(self, capable: float, strongest: float) -> Strength:
        if strongest >= self.strongest_threshold:
            return 3
        if capable >= self.capable_threshold:
            return 2
        return 1


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
    history_chars: int = Field(default=0, ge=0, description="characters of the conversation so far")
    estimated_input_tokens: int = Field(ge=0, description="system prompt + tools + history + user text")
    tools: tuple[ToolHint, ...] = ()
    require_tools: bool = False  # e.g. the conversation already holds toolUse blocks
    turn_budget_usd: float = Field(ge=0)
    tenant_remaining_usd: float
    excluded_models: dict[str, str] = Field(default_factory=dict, description="model id → why it is skipped")


class ComplexitySignals(_Frozen):
    """What the turn showed, the two scores they add up to, and the strength it needs."""

    score: float = Field(ge=0, le=1, description="the capable score")
    strongest_score: float = Field(default=0.0, ge=0, le=1)
    strength: Strength = 1
    explicit_thinking: bool = False
    exception: bool = False
    planning: bool = False
    comparison: bool = False
    reasoning: bool = False
    clauses: int = 1
    questions: int = 0
    constraints: int = 0
    tools_expected: int = 0
    long_prompt: bool = False
    long_context: bool = False
    needs_code: bool = False

    def describe(self) -> str:
        """The features that fired, for the routing reason."""
        parts: list[str] = []
        if self.explicit_thinking:
            parts.append("asked to think")
        if self.exception:
            parts.append("policy exception")
        if self.long_context:
            parts.append("long context")
        if self.planning:
            parts.append("planning")
        if self.comparison:
            parts.append("comparison")
        if self.reasoning:
            parts.append("reasoning")
        if self.questions > 1:
            parts.append(f"{self.questions} questions")
        elif self.clauses > 1:
            parts.append(f"{self.clauses} clauses")
        if self.constraints:
            parts.append(f"{self.constraints} constraint{'s' if self.constraints != 1 else ''}")
        if self.tools_expected:
            parts.append(f"{self.tools_expected} tool{'s' if self.tools_expected != 1 else ''}")
        if self.long_prompt:
            parts.append("long prompt")
        if self.needs_code:
            parts.append("code")
        return ", ".join(parts) or "simple"


class ModelDecision(_Frozen):
    """The model for this turn (None: nothing eligible and affordable), why, and what it should cost."""

    model: ModelEntry | None
    reason: str
    complexity: float
    strength: Strength = Field(default=1, description="what the turn needed (the model may be weaker: budget)")
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


def _pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    """One pattern finding any of `phrases` on word boundaries (longest first, so a phrase beats its prefix)."""
    ordered = sorted({p.lower() for p in phrases}, key=len, reverse=True)
    body = "|".join(re.escape(p) for p in ordered) or r"(?!)"
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


def _contains(text: str, phrase: str) -> bool:
    return _pattern((phrase,)).search(text) is not None


_CLAUSE_BREAK = re.compile(r"[,;.!?]+|\b(?:and|but|also|plus|then|or)\b")
_FOLLOW_UP_QUESTION = re.compile(
    r"\b(?:and|also|plus)\s+(?:what|how|is|are|do|does|can|could|will|which|when|where|whether|tell)\b"
)
_NUMBER = re.compile(r"\$?\d[\d,.]*\b")


class ModelSelector:
    """Chooses the model for each turn of one agent."""

    def __init__(
        self,
        catalog: ModelCatalog,
        allowed_models: Iterable[str],
        thinking_budget_tokens: int,
        settings: RoutingSettings | None = None,
        optimizer: CostOptimizer | None = None,
    ) -> None:
        allowed = set(allowed_models)
        # Catalog order, not the agent's: ties in price then resolve the same way for every agent.
        self._allowed = tuple(m for m in catalog.models if m.id in allowed)
        self._thinking_budget = thinking_budget_tokens
        self.settings = settings or RoutingSettings()
        self._optimizer = optimizer or CostOptimizer()
        self._reference = re.compile(self.settings.reference_pattern)
        cues = self.settings
        self._cues = {
            name: _pattern(getattr(cues, name))
            for name in (
                "thinking_phrases",
                "contrast_cues",
                "exception_requests",
                "policy_terms",
                "comparison_cues",
                "reasoning_cues",
                "code_keywords",
            )
        }
        self._constraint_cues = _pattern(cues.constraint_cues)
        self._tool_patterns: dict[tuple[str, ...], re.Pattern[str]] = {}

    def _has(self, name: str, text: str) -> bool:
        return self._cues[name].search(text) is not None

    def _mentions(self, tool: ToolHint, text: str) -> bool:
        pattern = self._tool_patterns.get(tool.keywords)
        if pattern is None:
            pattern = self._tool_patterns[tool.keywords] = _pattern(tool.keywords)
        return pattern.search(text) is not None

    def signals(self, context: TurnContext) -> ComplexitySignals:
        """The turn's features, weighed into a score and the strength it needs."""
        s, w = self.settings, self.settings.weights
        raw = context.user_text
        text = raw.lower()
        explicit = self._has("thinking_phrases", text)
        contrast = self._has("contrast_cues", text)
        exception = self._has("exception_requests", text) or (contrast and self._has("policy_terms", text))
        comparison = self._has("comparison_cues", text)
        reasoning = self._has("reasoning_cues", text)
        clauses = max(1, sum(1 for part in _CLAUSE_BREAK.split(text) if len(part.split()) >= 2))
        questions = raw.count("?") + len(_FOLLOW_UP_QUESTION.findall(text))
        constraints = len(_NUMBER.findall(text)) + len(set(self._constraint_cues.findall(text)))
        references = len(self._reference.findall(raw))
        mentioned = sum(1 for tool in context.tools if self._mentions(tool, text))
        tools_expected = (max(mentioned, 1 if references else 0) + max(0, references - 1)) if context.tools else 0
        long_prompt = len(text.split()) >= s.long_prompt_words
        long_context = (
            context.estimated_input_tokens >= s.long_context_tokens
            or context.history_turns >= s.deep_conversation_turns
        )
        code = self._has("code_keywords", text)
        planning = constraints >= s.planning_constraints and clauses >= s.planning_clauses
        strongest = round(
            min(
                1.0,
                (w.explicit_thinking if explicit else 0.0)
                + (w.exception if exception else 0.0)
                + (w.long_context if long_context else 0.0)
                + (w.planning if planning else 0.0),
            ),
            4,
        )
        score = (
            (w.comparison if comparison else 0.0)
            + (w.reasoning if reasoning else 0.0)
            + min(w.clauses_max, w.extra_clause * (clauses - 1))
            + w.extra_question * max(0, questions - 1)
            + min(w.constraints_max, w.constraint * constraints)
            + min(w.tools_max, w.extra_tool * max(0, tools_expected - 1))
            + (w.long_prompt if long_prompt else 0.0)
            + (w.code if code else 0.0)
        )
        score = round(min(1.0, score), 4)
        return ComplexitySignals(
            score=score,
            strongest_score=strongest,
            strength=s.strength_for(score, strongest),
            explicit_thinking=explicit,
            exception=exception,
            planning=planning,
            comparison=comparison,
            reasoning=reasoning,
            clauses=clauses,
            questions=questions,
            constraints=constraints,
            tools_expected=tools_expected,
            long_prompt=long_prompt,
            long_context=long_context,
            needs_code=code,
        )

    def select(self, context: TurnContext) -> ModelDecision:
        """The model for this turn, with a reason a person can read."""
        signals = self.signals(context)
        needs_tools = context.require_tools or signals.tools_expected > 0
        wants_thinking = signals.explicit_thinking or signals.strongest_score >= self.settings.thinking_threshold
        output_tokens = self.settings.output_tokens_voice if context.voice else self.settings.output_tokens_text
        head = (
            f"complexity {signals.score:.2f}/{signals.strongest_score:.2f} ({signals.describe()}) "
            f"→ strength {signals.strength}"
        )
        skipped = "".join(f"; skipped {mid} ({why})" for mid, why in sorted(context.excluded_models.items()))

        def decided(model: ModelEntry | None, reason: str, cost: float = 0.0, thinking: int = 0) -> ModelDecision:
            return ModelDecision(
                model=model,
                reason=reason + skipped,
                complexity=signals.score,
                strength=signals.strength,
                thinking_budget_tokens=thinking,
                estimated_cost_usd=cost,
                signals=signals,
                needs_tools=needs_tools,
                thinking_dropped=wants_thinking and thinking == 0,
            )

        if wants_thinking:
            budget = output_tokens + self._thinking_budget
            model = self._choose(context, needs_tools, True, budget, signals.strength)
            if model is not None:
                cost = model.estimate_cost_usd(context.estimated_input_tokens, budget)
                reason = f"{head}; needs thinking; cheapest eligible: {model.id} est ${cost:.4f}"
                return decided(model, reason, cost, self._thinking_budget)

        dropped = "thinking dropped (no thinking-capable model within budget); " if wants_thinking else ""
        needs = "needs tools" if needs_tools else "no special needs"
        for strength in range(signals.strength, 0, -1):
            model = self._choose(context, needs_tools, False, output_tokens, strength)
            if model is None:
                continue
            cost = model.estimate_cost_usd(context.estimated_input_tokens, output_tokens)
            stepped = (
                f"no strength-{signals.strength} model within budget, stepped down to {strength}; "
                if strength < signals.strength
                else ""
            )
            return decided(
                model, f"{head}; {dropped}{stepped}{needs}; cheapest eligible: {model.id} est ${cost:.4f}", cost
            )
        return decided(
            None,
            f"{head}; {dropped}no eligible model within budget (turn ${context.turn_budget_usd:.4f}, "
            f"remaining this month ${max(0.0, context.tenant_remaining_usd):.4f})",
        )

    def _choose(
        self, context: TurnContext, needs_tools: bool, thinking: bool, output_tokens: int, strength: int
    ) -> ModelEntry | None:
        eligible = [
            m
            for m in self._allowed
            if m.id not in context.excluded_models
            and m.strength >= strength
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
