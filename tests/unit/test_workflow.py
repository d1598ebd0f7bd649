"""The tenant workflow: role transitions, lead scoring and voice-tier escalation within budget."""

from __future__ import annotations

import pytest

from oratio.agent.ports import WorkflowState, WorkflowUpdate
from oratio.agent.workflow import RoleWorkflow, TierCosts
from oratio.config.tenant import VoiceTier, WorkflowSettings

TIERS = {
    "standard": VoiceTier(voice_id="Joanna", engine="neural"),
    "premium": VoiceTier(voice_id="Ruth", engine="generative"),
}
PRODUCTS = ("bedding_sets", "pillows", "comforters", "duvets", "sleep_products")
COSTS = TierCosts(usd_per_minute={"neural": 0.01, "generative": 0.03}, expected_remaining_minutes=5)
ESCALATION_COST = 0.1  # (0.03 - 0.01) USD/min x 5 min
PLENTY = 100.0


def workflow(settings: WorkflowSettings | None = None, default_tier: str = "standard") -> RoleWorkflow:
    return RoleWorkflow(
        settings or WorkflowSettings(), tiers=TIERS, default_tier=default_tier, products=PRODUCTS, costs=COSTS
    )


def turn(
    flow: RoleWorkflow,
    state: WorkflowState,
    text: str | None,
    *,
    channel: str = "voice",
    budget: float = PLENTY,
    tools: tuple[str, ...] = (),
) -> WorkflowUpdate:
    return flow.advance(
        state, user_text=text, reply_text="ok", tools_used=tools, channel=channel, budget_remaining_usd=budget
    )


# ------------------------------------------------------------------------------------------- transitions
@pytest.mark.parametrize(
    ("role", "text", "expected"),
    [
        # greeter leaves after the first customer turn; a clear intent skips straight to the right role
        ("greeter", "Hi there", ("greeter", "qualifier", "customer_spoke")),
        ("greeter", "Where is my order? It never arrived", ("greeter", "support", "support_intent")),
        ("greeter", "I want to buy a duvet", ("greeter", "sales", "purchase_intent")),
        ("greeter", None, None),
        ("greeter", "   ", None),
        # qualifier routes on intent
        ("qualifier", "I'd like to order two pillows", ("qualifier", "sales", "purchase_intent")),
        ("qualifier", "How much are your comforters?", ("qualifier", "sales", "purchase_intent")),
        ("qualifier", "I need a refund, the pillow arrived broken", ("qualifier", "support", "support_intent")),
        ("qualifier", "Can you check my order status?", ("qualifier", "support", "support_intent")),
        ("qualifier", "Just browsing, thanks", None),
        ("qualifier", "What time do you open?", None),
        # support hands over to sales on purchase intent
        ("support", "Thanks! Also I want to buy a new duvet", ("support", "sales", "purchase_intent")),
        ("support", "The duvet is damaged", None),
        # closer is the end of the line
        ("closer", "I want to buy another pillow", None),
    ],
)
def test_roles_move_on_the_customers_words(role: str, text: str | None, expected: tuple[str, str, str] | None) -> None:
    # Given a session in a role, with a cold lead
    flow = workflow()
    state = WorkflowState(role=role)

    # When the customer says something
    update = turn(flow, state, text)

    # Then the role moves as the policy says, and the transition names its trigger
    assert update.transition == expected
    assert update.state.role == (expected[1] if expected else role)
    assert update.state.turns == 1


def test_sales_hands_over_to_closer_once_the_lead_is_qualified() -> None:
    # Given a sales conversation with a warm lead
    flow = workflow()
    state = WorkflowState(role="sales", qualification_score=0.6)

    # When the customer gives every buying signal
    update = turn(flow, state, "I'll take the queen duvet, my budget is $300, I need it by Friday, email me at a@b.com")

    # Then the score crosses the threshold and the closer takes over
    assert update.state.qualification_score >= 0.7
    assert update.transition == ("sales", "closer", "qualified")


def test_sales_stays_while_the_lead_is_below_threshold() -> None:
    flow = workflow()
    update = turn(flow, WorkflowState(role="sales"), "How much are the pillows?")
    assert update.transition is None
    assert update.state.qualification_score < 0.7


@pytest.mark.parametrize(
    ("roles", "role", "text", "expected"),
    [
        # a support-only tenant: the greeter hands over to support whatever is said
        (("greeter", "support"), "greeter", "Hello", ("greeter", "support", "customer_spoke")),
        # no sales role: purchase intent does not move the qualifier anywhere
        (("greeter", "qualifier", "support", "closer"), "qualifier", "I want to buy pillows", None),
        # no qualifier: the greeter goes to sales
        (("greeter", "sales", "closer"), "greeter", "Hello", ("greeter", "sales", "customer_spoke")),
        # a tenant's own role has no automatic transitions
        (("concierge", "sales"), "concierge", "I want to buy a duvet", None),
    ],
)
def test_transitions_only_lead_to_configured_roles(
    roles: tuple[str, ...], role: str, text: str, expected: tuple[str, str, str] | None
) -> None:
    flow = workflow(WorkflowSettings(roles=roles, initial_role=roles[0]))
    assert turn(flow, WorkflowState(role=role), text).transition == expected


def test_qualifier_without_sales_hands_a_qualified_lead_to_the_closer() -> None:
    flow = workflow(WorkflowSettings(roles=("greeter", "qualifier", "closer"), qualification_threshold=0.3))
    state = WorkflowState(role="qualifier", qualification_score=0.25)
    update = turn(flow, state, "My budget is $200 and I need new pillows this week")
    assert update.transition == ("qualifier", "closer", "qualified")


def test_initial_state_starts_in_the_configured_role() -> None:
    flow = workflow(WorkflowSettings(roles=("welcome", "sales"), initial_role="welcome"))
    assert flow.initial_state() == WorkflowState(role="welcome")


def test_instructions_exist_for_every_default_role_and_any_custom_one() -> None:
    flow = workflow()
    for role in WorkflowSettings().roles:
        assert len(flow.instructions(role)) > 20
    assert "concierge" in flow.instructions("concierge")


# --------------------------------------------------------------------------------------------- scoring
@pytest.mark.parametrize(
    ("text", "signals"),
    [
        ("My budget is about $250", {"budget"}),
        ("I can spend 300 dollars", {"budget"}),
        ("I need it by Friday", {"timeline"}),
        ("It's urgent, guests arrive tomorrow", {"timeline"}),
        ("Do you sell bedding sets?", {"product_interest"}),
        ("Looking for a new pillow", {"product_interest"}),
        ("You can reach me at jane@example.com", {"contact"}),
        ("Call me back on +1 555 123 4567", {"contact"}),
        ("I want to buy something nice", {"buying"}),
        ("My order CC-123456 from 2026-01-15", set()),
        ("Hello there", set()),
    ],
)
def test_signals_are_read_from_what_the_customer_says(text: str, signals: set[str]) -> None:
    assert set(workflow().read_signals(text).positives) == signals


def test_score_is_updated_every_turn_and_smoothed() -> None:
    # Given a cold lead
    flow = workflow()
    state = WorkflowState(role="qualifier")

    # When one turn carries a budget (weight 0.2)
    first = turn(flow, state, "My budget is $200").state
    # Then the score moves only part of the way there
    assert 0 < first.qualification_score < 0.2

    # And it keeps rising on later turns while the evidence stands, even without new words
    second = turn(flow, first, "ok").state
    assert first.qualification_score < second.qualification_score <= 0.2
    assert second.lead["signals"] == ["budget"]


def test_one_buying_word_does_not_qualify_a_cold_lead() -> None:
    flow = workflow()
    update = turn(flow, WorkflowState(role="sales"), "I want to buy everything, $1000, today, a@b.com, duvets")
    assert update.state.qualification_score < 0.7
    assert update.transition is None


def test_negative_signals_pull_the_score_down() -> None:
    flow = workflow()
    warm = WorkflowState(role="sales", qualification_score=0.5, lead={"signals": ["budget", "product_interest"]})
    cooled = turn(flow, warm, "Actually I'm just browsing").state
    steady = turn(flow, warm, "Tell me more").state
    assert cooled.qualification_score < steady.qualification_score
    assert cooled.lead["negative_turns"] == 1


def test_lead_keeps_signal_kinds_and_products_but_no_contact_details() -> None:
    flow = workflow()
    state = turn(flow, WorkflowState(role="qualifier"), "Pillows please, mail jane@example.com").state
    assert state.lead["products"] == ["pillows"]
    assert "jane@example.com" not in repr(state.lead)


# ------------------------------------------------------------------------------------------ escalation
def warm_voice_lead(score: float = 0.65) -> WorkflowState:
    signals = ["budget", "buying", "contact", "product_interest", "timeline"]
    return WorkflowState(role="sales", qualification_score=score, lead={"signals": signals})


@pytest.mark.parametrize(
    ("channel", "budget", "escalate_to", "blocked"),
    [
        ("voice", PLENTY, "premium", False),
        ("voice", ESCALATION_COST, "premium", False),  # exactly covered is covered
        ("voice", ESCALATION_COST - 0.01, None, True),
        ("voice", 0.0, None, True),
        ("chat", PLENTY, None, False),
        ("whatsapp", PLENTY, None, False),
    ],
)
def test_crossing_the_threshold_escalates_a_voice_call_within_budget(
    channel: str, budget: float, escalate_to: str | None, blocked: bool
) -> None:
    # Given a warm lead just under the threshold
    flow = workflow()

    # When a turn pushes the score over it
    update = turn(flow, warm_voice_lead(), "Yes, let's do it", channel=channel, budget=budget)

    # Then a voice call moves to the premium tier if the budget covers it, and says so if it does not
    assert update.state.qualification_score >= 0.7
    assert update.escalate_to_tier == escalate_to
    assert update.escalation_blocked_by_budget is blocked
    assert update.state.voice_tier == escalate_to
    if channel == "voice":
        assert update.escalation_cost_usd == pytest.approx(ESCALATION_COST)
    else:
        assert update.escalation_cost_usd == 0.0


def test_escalation_happens_only_once_per_session() -> None:
    flow = workflow()
    escalated = turn(flow, warm_voice_lead(), "Yes").state
    assert escalated.voice_tier == "premium"

    # Even if the score dips below the threshold and crosses it again
    dipped = escalated.model_copy(update={"qualification_score": 0.65})
    again = turn(flow, dipped, "Great, I'll take it")
    assert again.state.qualification_score >= 0.7
    assert again.escalate_to_tier is None
    assert again.escalation_blocked_by_budget is False


def test_a_lead_already_above_threshold_is_not_escalated_again_on_every_turn() -> None:
    flow = workflow()
    hot = warm_voice_lead(score=0.9)
    update = turn(flow, hot, "Sounds good", budget=0.0)
    assert update.escalate_to_tier is None
    assert update.escalation_blocked_by_budget is False  # the block was reported when the score crossed


def test_no_escalation_when_the_call_is_already_on_the_premium_tier() -> None:
    flow = workflow(default_tier="premium")
    update = turn(flow, warm_voice_lead(), "Yes")
    assert update.escalate_to_tier is None
    assert update.escalation_blocked_by_budget is False


def test_escalation_cost_uses_the_tier_engines_and_expected_minutes() -> None:
    flow = RoleWorkflow(WorkflowSettings(), tiers=TIERS, default_tier="standard")
    # Defaults: neural 0.0144, generative 0.027 USD/min, 5 minutes
    assert flow.escalation_cost_usd("standard", "premium") == pytest.approx((0.027 - 0.0144) * 5)


def test_a_premium_tier_missing_from_the_voice_tiers_is_refused() -> None:
    with pytest.raises(ValueError, match="gold"):
        RoleWorkflow(WorkflowSettings(premium_tier="gold"), tiers=TIERS, default_tier="standard")
