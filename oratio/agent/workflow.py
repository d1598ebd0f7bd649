"""The tenant's conversation workflow: agent roles, a lead qualification score and voice-tier escalation.

`RoleWorkflow` implements the `Workflow` port in plain Python. After every turn it scores the lead from
what the customer said, moves between roles by a small transition table, and, on a voice call whose score
has just crossed the tenant's threshold, asks for the premium voice tier when the month's remaining budget
covers the estimated extra cost (otherwise it says the escalation was blocked, so it can be recorded).

Default roles: greeter → qualifier → sales or support → closer. A tenant may configure fewer roles; a rule
whose target role is not configured is skipped, so the next rule for the same signal applies instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.ports import WorkflowState, WorkflowUpdate
from oratio.agent_definitions.model import AgentDefinition
from oratio.config.prices import load_price_catalog
from oratio.config.tenant import Channel, TenantConfig, VoiceTier, WorkflowSettings

Signal = Literal["budget", "timeline", "product_interest", "contact", "buying"]
Condition = Literal["customer_spoke", "support_intent", "purchase_intent", "qualified"]

ESCALATION_TRIGGER = "qualification_threshold"
SPOKEN_CHARS_PER_MINUTE = 900  # conversational speech, to price a minute of Polly


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class TierCosts(_Config):
    """What a minute of speech costs per Polly engine, and how long a qualified call is expected to go on.

    Defaults: the price catalog's Polly prices per million characters at ~900 characters spoken per minute.
    """

    usd_per_minute: dict[str, float] = Field(default_factory=lambda: _polly_usd_per_minute())
    expected_remaining_minutes: float = Field(default=5.0, gt=0)

    def per_minute(self, engine: str) -> float:
        """USD per minute of one engine; an engine without a price counts as the dearest one known."""
        # Unknown engines are priced high on purpose: an escalation must never look cheaper than it is.
        return self.usd_per_minute.get(engine, max(self.usd_per_minute.values(), default=0.0))


def _polly_usd_per_minute() -> dict[str, float]:
    polly = load_price_catalog().polly
    return {
        engine: polly.per_million_characters(engine).usd * SPOKEN_CHARS_PER_MINUTE / 1_000_000
        for engine in ("standard", "neural", "long-form", "generative")
    }


class LeadScoring(_Config):
    """Weights of the qualification signals and how strongly one turn moves the score.

    Positive signals are sticky for the session (a budget mentioned once stays mentioned); the target score
    is the sum of the weights seen so far, less a penalty for a negative signal in the current turn. The
    score then moves `smoothing` of the way towards the target each turn, so one word cannot swing it.
    """

    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "budget": 0.2,
            "timeline": 0.15,
            "product_interest": 0.25,
            "contact": 0.15,
            "buying": 0.25,
        }
    )
    negative_penalty: float = Field(default=0.3, ge=0, le=1)
    smoothing: float = Field(default=0.5, gt=0, le=1)


class IntentLexicon(_Config):
    """Phrases (regular expressions, matched case-insensitively on word boundaries) behind each signal."""

    budget: tuple[str, ...] = (
        r"\$\s?\d+",
        r"\d+\s?(?:dollars|bucks|usd)",
        r"budget",
        r"price range",
        r"(?:can|could) (?:afford|spend)",
        r"willing to (?:pay|spend)",
        r"spend (?:about|around|up to)",
    )
    timeline: tuple[str, ...] = (
        r"today",
        r"tonight",
        r"tomorrow",
        r"this (?:week|weekend|month)",
        r"next (?:week|month)",
        r"asap",
        r"as soon as possible",
        r"urgent(?:ly)?",
        r"right away",
        r"need (?:it|them|this) by",
        r"by (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
        r"before (?:the )?(?:weekend|holidays?|christmas|guests? arrive)",
    )
    buying: tuple[str, ...] = (
        r"(?:want|like|going|ready|looking) to (?:buy|order|purchase)",
        r"i'?ll (?:take|buy|get|order) (?:it|them|one|two|the|a|an|this|that|those)",
        r"place an order",
        r"add (?:it|them|this)? ?to (?:my |the )?cart",
        r"check ?out",
        r"how (?:do|can) i (?:buy|order|pay)",
        r"sign me up",
        r"let'?s do it",
    )
    price_questions: tuple[str, ...] = (
        r"how much",
        r"price",
        r"cost",
        r"in stock",
        r"do you (?:have|sell|carry)",
        r"discount",
        r"deal",
        r"on sale",
    )
    support: tuple[str, ...] = (
        r"order status",
        r"where(?:'s| is) my (?:order|package|delivery)",
        r"track(?:ing)?(?: my)? (?:order|package)",
        r"returns?",
        r"refund",
        r"exchange",
        r"broken",
        r"damaged",
        r"defective",
        r"wrong (?:item|size|colou?r)",
        r"missing",
        r"cancel my order",
        r"never arrived",
        r"hasn'?t arrived",
        r"complaint",
    )
    negative: tuple[str, ...] = (
        r"just (?:browsing|looking)",
        r"not interested",
        r"no thanks",
        r"maybe later",
        r"too expensive",
        r"not (?:right )?now",
        r"stop calling",
    )
    support_tools: tuple[str, ...] = ("order_status", "track_order", "start_return")


@dataclass(frozen=True)
class TransitionRule:
    """Leave `from_role` for `to_role` when `condition` holds after a turn."""

    from_role: str
    condition: Condition
    to_role: str


# Read top to bottom: for the current role, the first rule whose condition holds and whose target role
# the tenant configured wins. Support outranks purchase intent: a customer with a broken order needs help
# first; support hands over to sales once they want to buy.
DEFAULT_TRANSITIONS: tuple[TransitionRule, ...] = (
    TransitionRule("greeter", "support_intent", "support"),
    TransitionRule("greeter", "purchase_intent", "sales"),
    TransitionRule("greeter", "customer_spoke", "qualifier"),
    TransitionRule("greeter", "customer_spoke", "sales"),
    TransitionRule("greeter", "customer_spoke", "support"),
    TransitionRule("qualifier", "support_intent", "support"),
    TransitionRule("qualifier", "purchase_intent", "sales"),
    TransitionRule("qualifier", "qualified", "sales"),
    TransitionRule("qualifier", "qualified", "closer"),
    TransitionRule("sales", "qualified", "closer"),
    TransitionRule("support", "purchase_intent", "sales"),
)

DEFAULT_INSTRUCTIONS: dict[str, str] = {
    "greeter": "Welcome the customer warmly, find out briefly what they need, and keep it short.",
    "qualifier": (
        "Understand what the customer is looking for: which products, for when, and their budget. Ask one "
        "question at a time and do not push a sale yet."
    ),
    "sales": (
        "Recommend products that fit what the customer told you, answer questions on price, stock and "
        "delivery, and help them decide. Be honest; never invent prices or availability."
    ),
    "support": (
        "Solve the customer's problem with their order, return or product. Use the order tools to check facts, "
        "follow the store's policies, and offer a human when you cannot help."
    ),
    "closer": (
        "The customer is ready to buy: confirm the items, quantities and delivery details, collect what is "
        "needed to complete the order, and summarise the next steps."
    ),
}
GENERIC_INSTRUCTION = "Help the customer as the {role} of the business, following the business's policies."


@dataclass(frozen=True)
class TurnSignals:
    """What one customer turn revealed."""

    positives: frozenset[str]
    negative: bool
    support_intent: bool
    purchase_intent: bool
    products: tuple[str, ...]


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?!\w)", re.IGNORECASE)


def _product_pattern(name: str) -> re.Pattern[str]:
    # "bedding_sets" should match "bedding set", "bedding sets" and "bedding-set".
    words = [w for w in re.split(r"[\s_\-]+", name.lower()) if w]
    if words and len(words[-1]) > 3 and words[-1].endswith("s"):
        words[-1] = words[-1].removesuffix("es") if words[-1].endswith("ses") else words[-1][:-1]
    body = r"[\s_\-]+".join(re.escape(w) for w in words)
    return re.compile(rf"\b{body}(?:s|es)?\b", re.IGNORECASE)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
# 10 to 15 digits with the usual separators; dates and order numbers are shorter.
_PHONE = re.compile(r"(?<![\w+])\+?(?:\d[\s\-().]{0,2}){9,14}\d(?!\w)")


class RoleWorkflow:
    """The `Workflow` of one tenant: roles, transitions, lead scoring and voice-tier escalation."""

    def __init__(
        self,
        settings: WorkflowSettings,
        *,
        tiers: Mapping[str, VoiceTier],
        default_tier: str,
        products: Iterable[str] = (),
        costs: TierCosts | None = None,
        scoring: LeadScoring | None = None,
        lexicon: IntentLexicon | None = None,
        transitions: tuple[TransitionRule, ...] = DEFAULT_TRANSITIONS,
        instructions: Mapping[str, str] | None = None,
    ) -> None:
        for tier in (settings.premium_tier, default_tier):
            if tier not in tiers:
                raise ValueError(f"voice tier {tier!r} is not one of the configured tiers {sorted(tiers)}")
        self._settings = settings
        self._roles = frozenset(settings.roles)
        self._tiers = dict(tiers)
        self._default_tier = default_tier
        self._costs = costs or TierCosts()
        self._scoring = scoring or LeadScoring()
        self._transitions = transitions
        self._instructions = {**DEFAULT_INSTRUCTIONS, **(instructions or {})}
        lexicon = lexicon or IntentLexicon()
        self._support_tools = frozenset(lexicon.support_tools)
        self._patterns = {
            "budget": _compile(lexicon.budget),
            "timeline": _compile(lexicon.timeline),
            "buying": _compile(lexicon.buying),
            "price": _compile(lexicon.price_questions),
            "support": _compile(lexicon.support),
            "negative": _compile(lexicon.negative),
        }
        self._products = {name: _product_pattern(name) for name in products if name.strip()}

    @classmethod
    def from_definition(cls, definition: AgentDefinition, costs: TierCosts | None = None) -> RoleWorkflow:
        """The workflow an agent's definition describes: its roles, threshold and role instructions, its voice
        tiers, and its products and specialties as what counts as interest."""
        flow = definition.workflow
        return cls(
            WorkflowSettings(
                roles=flow.roles,
                initial_role=flow.initial_role,
                qualification_threshold=flow.qualification_threshold,
                premium_tier=flow.premium_tier,
            ),
            tiers=definition.voice.tiers,
            default_tier=definition.voice.default_tier,
            products=(*definition.business.products, *definition.business.specialties),
            costs=costs,
            instructions=flow.role_instructions,
        )

    @classmethod
    def from_tenant(cls, tenant: TenantConfig, costs: TierCosts | None = None) -> RoleWorkflow:
        """The workflow a tenant's configuration describes (its products and specialties count as interest)."""
        return cls(
            tenant.agent.workflow,
            tiers=tenant.voice.tiers,
            default_tier=tenant.voice.default_tier,
            products=(*tenant.business.products, *tenant.business.specialties),
            costs=costs,
        )

    # ------------------------------------------------------------------------------------ the port
    def initial_state(self) -> WorkflowState:
        return WorkflowState(role=self._settings.initial_role)

    def instructions(self, role: str) -> str:
        return self._instructions.get(role) or GENERIC_INSTRUCTION.format(role=role)

    def advance(
        self,
        state: WorkflowState,
        *,
        user_text: str | None,
        reply_text: str,
        tools_used: tuple[str, ...],
        channel: str,
        budget_remaining_usd: float,
    ) -> WorkflowUpdate:
        signals = self.read_signals(user_text or "", tools_used)
        lead = _merge_lead(state.lead, signals)
        score = self._next_score(state.qualification_score, lead, signals.negative)
        qualified = score >= self._settings.qualification_threshold
        conditions: set[Condition] = set()
        if user_text and user_text.strip():
            conditions.add("customer_spoke")
        if signals.support_intent:
            conditions.add("support_intent")
        if signals.purchase_intent:
            conditions.add("purchase_intent")
        if qualified:
            conditions.add("qualified")

        transition = self._transition(state.role, conditions)
        role = transition[1] if transition else state.role
        new_state = state.model_copy(
            update={"role": role, "qualification_score": score, "turns": state.turns + 1, "lead": lead}
        )

        crossed = state.qualification_score < self._settings.qualification_threshold <= score
        if not (crossed and channel == Channel.VOICE.value and state.voice_tier is None):
            return WorkflowUpdate(state=new_state, transition=transition)
        current_tier = self._default_tier
        premium = self._settings.premium_tier
        if current_tier == premium:
            return WorkflowUpdate(state=new_state, transition=transition)
        cost = self.escalation_cost_usd(current_tier, premium)
        if cost > budget_remaining_usd:
            return WorkflowUpdate(
                state=new_state, transition=transition, escalation_cost_usd=cost, escalation_blocked_by_budget=True
            )
        return WorkflowUpdate(
            state=new_state.model_copy(update={"voice_tier": premium}),
            transition=transition,
            escalate_to_tier=premium,
            escalation_cost_usd=cost,
        )

    # ---------------------------------------------------------------------------------- the policy
    def escalation_cost_usd(self, from_tier: str, to_tier: str) -> float:
        """Estimated extra spend of moving a call to `to_tier` for the expected rest of the call."""
        extra = self._costs.per_minute(self._tiers[to_tier].engine) - self._costs.per_minute(
            self._tiers[from_tier].engine
        )
        return round(max(0.0, extra) * self._costs.expected_remaining_minutes, 6)

    def read_signals(self, text: str, tools_used: tuple[str, ...] = ()) -> TurnSignals:
        """The qualification signals and intents in one customer utterance (and the tools the turn used)."""
        found: set[str] = set()
        for signal in ("budget", "timeline", "buying"):
            if self._patterns[signal].search(text):
                found.add(signal)
        products = tuple(name for name, pattern in self._products.items() if pattern.search(text))
        if products:
            found.add("product_interest")
        if _EMAIL.search(text) or _PHONE.search(text):
            found.add("contact")
        support = bool(self._patterns["support"].search(text)) or any(t in self._support_tools for t in tools_used)
        purchase = "buying" in found or (bool(self._patterns["price"].search(text)) and bool(products))
        return TurnSignals(
            positives=frozenset(found),
            negative=bool(self._patterns["negative"].search(text)),
            support_intent=support,
            purchase_intent=purchase,
            products=products,
        )

    def _next_score(self, previous: float, lead: Mapping[str, Any], negative: bool) -> float:
        seen = set(lead.get("signals", ()))
        target = sum(weight for signal, weight in self._scoring.weights.items() if signal in seen)
        if negative:
            target -= self._scoring.negative_penalty
        target = min(1.0, max(0.0, target))
        score = previous + self._scoring.smoothing * (target - previous)
        return round(min(1.0, max(0.0, score)), 4)

    def _transition(self, role: str, conditions: set[Condition]) -> tuple[str, str, str] | None:
        for rule in self._transitions:
            if rule.from_role == role and rule.condition in conditions and rule.to_role in self._roles:
                if rule.to_role == role:
                    return None
                return (role, rule.to_role, rule.condition)
        return None


def _merge_lead(lead: Mapping[str, Any], signals: TurnSignals) -> dict[str, Any]:
    """The session's lead data with this turn's signals added (kinds only: no contact details are copied)."""
    merged = dict(lead)
    merged["signals"] = sorted(set(lead.get("signals", ())) | signals.positives)
    if signals.products:
        merged["products"] = sorted(set(lead.get("products", ())) | set(signals.products))
    if signals.negative:
        merged["negative_turns"] = int(lead.get("negative_turns", 0)) + 1
    return merged
