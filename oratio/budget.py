"""Budget enforcement before spend: where a tenant's month stands against its budget, and what that allows.

- below `budget.step_down_at` of the monthly budget: everything as configured;
- from there (`STEP_DOWN`): turns route only to the step-down models (the cheapest allowed model unless
  configured), without extended thinking, and no voice-tier escalation (the standard tier stays);
- at the budget (`EXHAUSTED`): no model is called. New voice calls go to the human queue (the flow says the
  closed message when the team is closed) or hear the budget message, per `budget.at_budget_voice`; a call
  already talking is handed to a person; messages get the polite budget reply. Nobody is dropped.

An unknown month-to-date (the ledger could not be read) counts as exhausted for new spend decisions that
would escalate, but not for answering a caller at all: a call is never refused because a read failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from oratio.config.catalog import ModelCatalog
from oratio.config.tenant import BudgetSettings

# A typical voice turn (system prompt, tools and history in; a spoken reply out), to rank models by price.
TYPICAL_TURN_INPUT_TOKENS = 2_000
TYPICAL_TURN_OUTPUT_TOKENS = 150


class BudgetState(StrEnum):
    OK = "ok"
    STEP_DOWN = "step_down"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """The month so far against the budget."""

    state: BudgetState
    month_to_date_usd: float
    monthly_budget_usd: float
    step_down_at: float

    @property
    def fraction_used(self) -> float:
        return self.month_to_date_usd / self.monthly_budget_usd

    @property
    def escalation_headroom_usd(self) -> float:
        """What a voice-tier escalation may still cost: up to the step-down line, not the budget itself."""
        return max(0.0, self.monthly_budget_usd * self.step_down_at - self.month_to_date_usd)

    def describe(self) -> str:
        return (
            f"budget {self.state.value}: ${self.month_to_date_usd:.2f} of ${self.monthly_budget_usd:.2f} "
            f"this month ({self.fraction_used:.0%})"
        )


def check_budget(month_to_date_usd: float, monthly_budget_usd: float, settings: BudgetSettings) -> BudgetCheck:
    """Where the month stands (budgets are positive; the tenant config guarantees it)."""
    if month_to_date_usd >= monthly_budget_usd:
        state = BudgetState.EXHAUSTED
    elif month_to_date_usd >= monthly_budget_usd * settings.step_down_at:
        state = BudgetState.STEP_DOWN
    else:
        state = BudgetState.OK
    return BudgetCheck(state, month_to_date_usd, monthly_budget_usd, settings.step_down_at)


def step_down_models(settings: BudgetSettings, allowed_models: tuple[str, ...], catalog: ModelCatalog) -> set[str]:
    """The models a stepped-down turn may use: the configured ones, else the cheapest allowed model (by the
    price of a typical voice turn's tokens, input-heavy)."""
    if settings.step_down_models:
        return set(settings.step_down_models)
    entries = [catalog.model(m) for m in allowed_models]
    cheapest = min(
        entries,
        key=lambda m: (
            m.estimate_cost_usd(TYPICAL_TURN_INPUT_TOKENS, TYPICAL_TURN_OUTPUT_TOKENS),
            catalog.model_ids.index(m.id),
        ),
    )
    return {cheapest.id}
