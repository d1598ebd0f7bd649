"""The call routing policy: which route a caller gets, why, and what Connect receives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oratio.budget import BudgetState, check_budget
from oratio.config.tenant import BudgetSettings, load_tenant_file
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import (
    FALLBACK_UNAVAILABLE_MESSAGE,
    Route,
    RouteReason,
    RoutingDecision,
    RoutingProfile,
    decide_route,
)

REPO = Path(__file__).resolve().parents[2]
TENANT_ID = "cozy-comfort"
CREATED = datetime(2025, 1, 1, tzinfo=UTC)

PROFILE = RoutingProfile.model_validate(
    {
        "tenant_id": TENANT_ID,
        "hours": {
            "time_zone": "America/New_York",
            **{day: "09:00-18:00" for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
            "saturday": "09:00-18:00",
            "sunday": "closed",
        },
        "max_concurrent_calls": 2,
        "greeting": "Welcome to Cozy Comfort Bedding!",
        "closed_message": "We're closed.",
        "paused_message": "Our assistant is on a break.",
        "unavailable_message": "We can't take your call.",
        "voice_id": "tiffany",
        "default_tier": "standard",
        "monthly_budget_usd": 500,
        "budget_message": "Let me connect you with our team.",
    }
)

# Monday 6 Jan 2025 is winter time in New York (EST, UTC-5): 15:00 UTC is 10:00 local.
MONDAY_OPEN = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
MONDAY_AFTER_CLOSE = datetime(2025, 1, 6, 23, 30, tzinfo=UTC)


def make_agent(status: AgentStatus = AgentStatus.ACTIVE, vendor_id: str = TENANT_ID) -> Agent:
    return Agent(
        vendor_id=vendor_id,
        agent_id="front-desk",
        name="Front desk",
        status=status,
        phone_number="+15552333464",
        created_at=CREATED,
        updated_at=CREATED,
    )


@pytest.mark.parametrize(
    ("agent", "now", "has_capacity", "route", "reason", "message"),
    [
        pytest.param(
            make_agent(), MONDAY_OPEN, True, Route.AGENT, RouteReason.ACCEPTED, PROFILE.greeting, id="open",
        ),
        pytest.param(
            None, MONDAY_OPEN, True, Route.UNAVAILABLE, RouteReason.UNKNOWN_NUMBER,
            PROFILE.unavailable_message, id="unknown-number",
        ),
        pytest.param(
            make_agent(vendor_id="other-shop"), MONDAY_OPEN, True, Route.UNAVAILABLE,
            RouteReason.UNKNOWN_NUMBER, PROFILE.unavailable_message, id="another-tenants-agent-is-unknown",
        ),
        pytest.param(
            make_agent(AgentStatus.PAUSED), MONDAY_OPEN, True, Route.PAUSED, RouteReason.AGENT_PAUSED,
            PROFILE.paused_message, id="paused",
        ),
        pytest.param(
            make_agent(AgentStatus.DRAFT), MONDAY_OPEN, True, Route.UNAVAILABLE, RouteReason.AGENT_DRAFT,
            PROFILE.unavailable_message, id="draft",
        ),
        pytest.param(
            make_agent(AgentStatus.PROVISIONING), MONDAY_OPEN, True, Route.UNAVAILABLE,
            RouteReason.AGENT_PROVISIONING, PROFILE.unavailable_message, id="provisioning",
        ),
        pytest.param(
            make_agent(AgentStatus.STOPPED), MONDAY_OPEN, True, Route.UNAVAILABLE, RouteReason.AGENT_STOPPED,
            PROFILE.unavailable_message, id="stopped",
        ),
        pytest.param(
            make_agent(AgentStatus.DELETED), MONDAY_OPEN, True, Route.UNAVAILABLE, RouteReason.AGENT_DELETED,
            PROFILE.unavailable_message, id="deleted",
        ),
        pytest.param(
            make_agent(), MONDAY_AFTER_CLOSE, True, Route.CLOSED, RouteReason.OUTSIDE_BUSINESS_HOURS,
            PROFILE.closed_message, id="closed",
        ),
        pytest.param(
            make_agent(), MONDAY_OPEN, False, Route.UNAVAILABLE, RouteReason.OVER_CAPACITY,
            PROFILE.unavailable_message, id="over-capacity",
        ),
        # Order of the checks: number, status, hours, capacity.
        pytest.param(
            None, MONDAY_AFTER_CLOSE, False, Route.UNAVAILABLE, RouteReason.UNKNOWN_NUMBER,
            PROFILE.unavailable_message, id="number-before-everything",
        ),
        pytest.param(
            make_agent(AgentStatus.PAUSED), MONDAY_AFTER_CLOSE, False, Route.PAUSED, RouteReason.AGENT_PAUSED,
            PROFILE.paused_message, id="status-before-hours",
        ),
        pytest.param(
            make_agent(AgentStatus.STOPPED), MONDAY_AFTER_CLOSE, True, Route.UNAVAILABLE,
            RouteReason.AGENT_STOPPED, PROFILE.unavailable_message, id="stopped-before-hours",
        ),
        pytest.param(
            make_agent(), MONDAY_AFTER_CLOSE, False, Route.CLOSED, RouteReason.OUTSIDE_BUSINESS_HOURS,
            PROFILE.closed_message, id="hours-before-capacity",
        ),
    ],
)  # fmt: skip
def test_callers_get_the_route_and_message_the_policy_prescribes(
    agent: Agent | None,
    now: datetime,
    has_capacity: bool,
    route: Route,
    reason: RouteReason,
    message: str,
) -> None:
    # Given a tenant profile, the agent the number resolves to, a time and the capacity
    # When the policy decides
    decision = decide_route(PROFILE, agent, now, has_capacity=has_capacity)
    # Then the caller gets the expected route, reason and wording in the tenant's voice
    assert (decision.route, decision.reason, decision.message) == (route, reason, message)
    assert decision.tenant_id == TENANT_ID
    assert decision.voice_id == "tiffany"
    assert decision.voice_tier == "standard"


@pytest.mark.parametrize(
    ("instant", "open_"),
    [
        # Winter (EST, UTC-5), Monday 6 January 2025
        pytest.param(datetime(2025, 1, 6, 13, 59, tzinfo=UTC), False, id="est-08:59-closed"),
        pytest.param(datetime(2025, 1, 6, 14, 0, tzinfo=UTC), True, id="est-09:00-open"),
        pytest.param(datetime(2025, 1, 6, 22, 59, tzinfo=UTC), True, id="est-17:59-open"),
        pytest.param(datetime(2025, 1, 6, 23, 0, tzinfo=UTC), False, id="est-18:00-closed"),
        # Summer (EDT, UTC-4), Monday 10 March 2025, the day after clocks went forward: the same UTC
        # instant that was 08:30 in January is 09:30 now.
        pytest.param(datetime(2025, 1, 6, 13, 30, tzinfo=UTC), False, id="est-13:30Z-closed"),
        pytest.param(datetime(2025, 3, 10, 13, 30, tzinfo=UTC), True, id="edt-13:30Z-open"),
        pytest.param(datetime(2025, 3, 10, 12, 59, tzinfo=UTC), False, id="edt-08:59-closed"),
        pytest.param(datetime(2025, 3, 10, 21, 59, tzinfo=UTC), True, id="edt-17:59-open"),
        pytest.param(datetime(2025, 3, 10, 22, 0, tzinfo=UTC), False, id="edt-18:00-closed"),
        # Monday 3 November 2025, the day after clocks went back to EST
        pytest.param(datetime(2025, 11, 3, 13, 30, tzinfo=UTC), False, id="after-fall-back-08:30-closed"),
        pytest.param(datetime(2025, 11, 3, 14, 0, tzinfo=UTC), True, id="after-fall-back-09:00-open"),
        # Sunday is closed all day, including the DST switch day (9 March 2025)
        pytest.param(datetime(2025, 1, 5, 15, 0, tzinfo=UTC), False, id="sunday-10:00-closed"),
        pytest.param(datetime(2025, 3, 9, 16, 0, tzinfo=UTC), False, id="dst-sunday-12:00-closed"),
        # Saturday evening in New York is already Sunday in UTC: the tenant's calendar decides
        pytest.param(datetime(2025, 1, 11, 15, 0, tzinfo=UTC), True, id="saturday-10:00-open"),
        pytest.param(datetime(2025, 1, 11, 22, 59, tzinfo=UTC), True, id="saturday-17:59-open"),
        pytest.param(datetime(2025, 1, 12, 2, 0, tzinfo=UTC), False, id="saturday-21:00-local-closed"),
    ],
)
def test_business_hours_are_judged_in_the_tenants_time_zone(instant: datetime, open_: bool) -> None:
    # Given an active agent of a New York tenant open Mon-Sat 09:00-18:00
    # When a call arrives at the instant
    decision = decide_route(PROFILE, make_agent(), instant)
    # Then it reaches the agent only inside local opening hours
    assert decision.route is (Route.AGENT if open_ else Route.CLOSED)


@pytest.mark.parametrize(
    "decision",
    [
        pytest.param(decide_route(PROFILE, make_agent(), MONDAY_OPEN), id="agent"),
        pytest.param(decide_route(PROFILE, None, MONDAY_OPEN), id="unknown-number"),
        pytest.param(RoutingDecision.failure(RouteReason.INTERNAL_ERROR), id="failure-without-profile"),
    ],
)
def test_connect_receives_a_flat_map_of_strings_without_nulls(decision: RoutingDecision) -> None:
    # Given any routing decision
    # When it is turned into Connect contact attributes
    attributes = decision.to_connect_attributes()
    # Then every documented key is there and every value is a string (Connect rejects nesting and null)
    assert set(attributes) == {
        "route",
        "reason",
        "agent_id",
        "message",
        "greeting",
        "voice_id",
        "voice_tier",
        "tenant_id",
        "budget_state",
        "closed_prompt",
        "recording",
        "recording_notice",
        "handoff_reason",
        "channel",
    }
    assert all(isinstance(value, str) for value in attributes.values())
    assert attributes["message"]


def test_unknown_number_decision_has_an_empty_agent_id() -> None:
    attributes = decide_route(PROFILE, None, MONDAY_OPEN).to_connect_attributes()
    assert attributes["agent_id"] == ""
    assert attributes["route"] == "unavailable"
    assert attributes["reason"] == "unknown_number"


def test_router_failure_without_a_profile_still_speaks_a_message() -> None:
    decision = RoutingDecision.failure(RouteReason.MISCONFIGURED)
    assert decision.route is Route.UNAVAILABLE
    assert decision.message == FALLBACK_UNAVAILABLE_MESSAGE


def test_routing_profile_survives_the_environment_variable_round_trip() -> None:
    # Given the example tenant's routing profile, as the CDK app builds it
    profile = RoutingProfile.from_tenant(load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml"))
    # When it is written to and read back from ORATIO_ROUTING_PROFILE
    value = profile.to_env()
    restored = RoutingProfile.from_env(value)
    # Then nothing is lost, the value is compact JSON, and the router sees the tenant's settings
    assert restored == profile
    assert json.loads(value)["tenant_id"] == "cozy-comfort"
    assert value == json.dumps(json.loads(value), separators=(",", ":"), ensure_ascii=False)
    assert restored.max_concurrent_calls == 10
    assert restored.greeting == "Welcome to Cozy Comfort Bedding! How can I help you today?"
    assert restored.retention_days == 90
    assert restored.hours.is_open(MONDAY_OPEN)


# --------------------------------------------------------------------------------------------- budget
@pytest.mark.parametrize(
    ("spent", "at_budget", "instant", "route", "reason", "state"),
    [
        (100.0, "human_queue", MONDAY_OPEN, Route.AGENT, RouteReason.ACCEPTED, BudgetState.OK),
        (400.0, "human_queue", MONDAY_OPEN, Route.AGENT, RouteReason.ACCEPTED, BudgetState.STEP_DOWN),
        (500.0, "human_queue", MONDAY_OPEN, Route.HUMAN, RouteReason.BUDGET_EXHAUSTED, BudgetState.EXHAUSTED),
        (500.0, "message", MONDAY_OPEN, Route.UNAVAILABLE, RouteReason.BUDGET_EXHAUSTED, BudgetState.EXHAUSTED),
        # Outside hours the closed message wins: nobody is queued for a closed team.
        (500.0, "human_queue", MONDAY_AFTER_CLOSE, Route.CLOSED, RouteReason.OUTSIDE_BUSINESS_HOURS, None),
    ],
)
def test_the_months_spend_decides_where_new_calls_go(
    spent: float, at_budget: str, instant: datetime, route: Route, reason: RouteReason, state: BudgetState | None
) -> None:
    # Given a $500 budget, stepping down at 80 %, and what happens at the budget
    profile = PROFILE.model_copy(update={"budget": BudgetSettings(at_budget_voice=at_budget)})  # type: ignore[arg-type]
    budget = check_budget(spent, profile.monthly_budget_usd, profile.budget)
    # When a call arrives
    decision = decide_route(profile, make_agent(), instant, budget=budget)
    # Then it goes where the budget allows, saying so, and never to the agent at the budget
    assert (decision.route, decision.reason) == (route, reason)
    if state is not None:
        assert decision.budget_state is state
    if reason is RouteReason.BUDGET_EXHAUSTED:
        assert decision.message == profile.budget_message
        attributes = decision.to_connect_attributes()
        assert attributes["closed_prompt"] == profile.closed_message
        assert attributes["handoff_reason"] == ("monthly budget reached" if route is Route.HUMAN else "")


def test_an_unreadable_budget_never_refuses_a_call() -> None:
    # Given the month's spend cannot be read
    decision = decide_route(PROFILE, make_agent(), MONDAY_OPEN, budget=None)
    # Then the caller still reaches the agent (who checks the budget again before spending)
    assert decision.route is Route.AGENT


@pytest.mark.parametrize("channel", ["chat", "sms"])
def test_a_chat_or_sms_at_the_budget_reads_the_budget_message_at_any_hour(channel: str) -> None:
    # Given the month's budget is spent and calls at the budget go to the human queue
    profile = PROFILE.model_copy(update={"budget": BudgetSettings(at_budget_voice="human_queue")})
    budget = check_budget(500.0, profile.monthly_budget_usd, profile.budget)
    # When a chat or SMS arrives, in hours and after closing
    for instant in (MONDAY_OPEN, MONDAY_AFTER_CLOSE):
        decision = decide_route(profile, make_agent(), instant, budget=budget, channel=channel)
        # Then it never reaches the agent nor a voice queue: it reads the budget message
        assert (decision.route, decision.reason) == (Route.UNAVAILABLE, RouteReason.BUDGET_EXHAUSTED)
        assert (decision.message, decision.channel) == (profile.budget_message, channel)
