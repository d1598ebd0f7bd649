"""The call router use case over the in-memory adapters: idempotent per contact, limits held atomically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oratio.adapters.memory import (
    FixedClock,
    InMemoryAgentDirectory,
    InMemoryCallSessionStore,
    InMemoryNumberRegistry,
)
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import Route, RouteReason, RoutingProfile
from oratio.domain.call_slots import SlotReclaimer
from oratio.domain.calls import CallRouter, CallStatus, CloseOutcome, InboundCall

TENANT_ID = "cozy-comfort"
NUMBER = "+15552333464"
CALLER = "+15551234567"
# Monday 6 January 2025, 10:00 in New York
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
SUNDAY = datetime(2025, 1, 5, 15, 0, tzinfo=UTC)


def make_profile(max_concurrent_calls: int = 2) -> RoutingProfile:
    return RoutingProfile.model_validate(
        {
            "tenant_id": TENANT_ID,
            "hours": {"time_zone": "America/New_York", "monday": "09:00-18:00", "sunday": "closed"},
            "max_concurrent_calls": max_concurrent_calls,
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


def make_agent(status: AgentStatus = AgentStatus.ACTIVE) -> Agent:
    return Agent(
        vendor_id=TENANT_ID,
        agent_id="front-desk",
        name="Front desk",
        status=status,
        phone_number=NUMBER,
        created_at=OPEN_TIME - timedelta(days=30),
        updated_at=OPEN_TIME - timedelta(days=1),
    )


def call(contact_id: str, dialed: str = NUMBER) -> InboundCall:
    return InboundCall(contact_id=contact_id, channel="voice", dialed_number=dialed, caller_number=CALLER)


class World:
    """A router wired to in-memory adapters, with the pieces a test inspects."""

    def __init__(self, agent: Agent | None, now: datetime = OPEN_TIME, max_concurrent_calls: int = 2) -> None:
        self.agents = InMemoryAgentDirectory([agent] if agent else [])
        self.sessions = InMemoryCallSessionStore()
        self.clock = FixedClock(now)
        self.numbers = InMemoryNumberRegistry({NUMBER: TENANT_ID})  # the tenant stack claimed it at deploy
        self.router = CallRouter(
            make_profile(max_concurrent_calls),
            self.agents,
            self.sessions,
            self.clock,
            self.numbers,
            reclaimer=SlotReclaimer(TENANT_ID, self.sessions),
        )


def test_retried_invocation_gets_the_same_decision_and_is_counted_once() -> None:
    # Given an open business with an active agent
    world = World(make_agent())
    # When Connect invokes the router twice for the same contact (a retry), a minute apart
    first = world.router.route(call("contact-1"))
    world.clock.advance(timedelta(minutes=1))
    second = world.router.route(call("contact-1"))
    # Then both answers are the same, one session exists, and one slot is taken
    assert first == second
    assert first.route is Route.AGENT
    assert len(world.sessions.sessions(TENANT_ID)) == 1
    assert world.sessions.active_calls(TENANT_ID) == 1


def test_retry_keeps_the_first_answer_even_if_the_agent_was_paused_in_between() -> None:
    # Given a call that reached the agent
    world = World(make_agent())
    first = world.router.route(call("contact-1"))
    # When the vendor pauses the agent and Connect retries the same contact
    world.agents.put_agent(make_agent(AgentStatus.PAUSED))
    second = world.router.route(call("contact-1"))
    # Then the caller's contact keeps its original route (the flow already acted on it)
    assert second == first


def test_calls_over_the_concurrent_limit_are_turned_away_and_recorded_uncounted() -> None:
    # Given a tenant allowed two concurrent calls
    world = World(make_agent(), max_concurrent_calls=2)
    # When three different callers ring
    decisions = [world.router.route(call(f"contact-{n}")) for n in range(3)]
    # Then the first two reach the agent and the third hears the unavailable message
    assert [d.route for d in decisions] == [Route.AGENT, Route.AGENT, Route.UNAVAILABLE]
    assert decisions[2].reason is RouteReason.OVER_CAPACITY
    assert decisions[2].message == "We can't take your call."
    # And the turned-away contact is recorded without holding a slot
    turned_away = world.sessions.get(TENANT_ID, "contact-2")
    assert turned_away is not None
    assert turned_away.route is Route.UNAVAILABLE
    assert not turned_away.counted_against_limit
    assert world.sessions.active_calls(TENANT_ID) == 2


def test_a_retry_of_a_turned_away_call_stays_turned_away_without_counting() -> None:
    world = World(make_agent(), max_concurrent_calls=1)
    world.router.route(call("contact-a"))
    first = world.router.route(call("contact-b"))
    second = world.router.route(call("contact-b"))
    assert first == second
    assert second.reason is RouteReason.OVER_CAPACITY
    assert world.sessions.active_calls(TENANT_ID) == 1


def test_a_closed_call_frees_its_slot_for_the_next_caller() -> None:
    # Given a tenant at its limit of one call
    world = World(make_agent(), max_concurrent_calls=1)
    world.router.route(call("contact-a"))
    # When that call ends (twice, as both the flow and the voice path may report it)
    closed = world.sessions.close(TENANT_ID, "contact-a", OPEN_TIME + timedelta(minutes=5))
    again = world.sessions.close(TENANT_ID, "contact-a", OPEN_TIME + timedelta(minutes=6))
    # Then the slot is released once and the next caller reaches the agent
    assert (closed.outcome, again.outcome) == (CloseOutcome.CLOSED, CloseOutcome.ALREADY_CLOSED)
    assert closed.session is not None
    assert closed.session.status is CallStatus.CLOSED
    assert (closed.released_slot, again.released_slot) == (True, False)
    assert world.sessions.active_calls(TENANT_ID) == 0
    assert world.router.route(call("contact-b")).route is Route.AGENT


def test_paused_agent_callers_hear_paused_message() -> None:
    world = World(make_agent(AgentStatus.PAUSED))
    decision = world.router.route(call("contact-1"))
    assert decision.route is Route.PAUSED
    assert decision.message == "Our assistant is on a break."
    assert world.sessions.active_calls(TENANT_ID) == 0


def test_unknown_number_callers_hear_unavailable_message() -> None:
    world = World(make_agent())
    decision = world.router.route(call("contact-1", dialed="+15550000000"))
    assert (decision.route, decision.reason) == (Route.UNAVAILABLE, RouteReason.UNKNOWN_NUMBER)
    assert decision.agent_id is None
    assert world.sessions.active_calls(TENANT_ID) == 0


def test_callers_outside_business_hours_hear_closed_message_and_take_no_slot() -> None:
    world = World(make_agent(), now=SUNDAY)
    decision = world.router.route(call("contact-1"))
    assert (decision.route, decision.reason) == (Route.CLOSED, RouteReason.OUTSIDE_BUSINESS_HOURS)
    assert decision.message == "We're closed."
    session = world.sessions.get(TENANT_ID, "contact-1")
    assert session is not None
    assert not session.counted_against_limit
    assert world.sessions.active_calls(TENANT_ID) == 0


@pytest.mark.parametrize("status", [AgentStatus.DRAFT, AgentStatus.STOPPED, AgentStatus.DELETED])
def test_inactive_agent_callers_hear_unavailable_message(status: AgentStatus) -> None:
    world = World(make_agent(status))
    decision = world.router.route(call("contact-1"))
    assert decision.route is Route.UNAVAILABLE
    assert decision.reason.value == f"agent_{status.value}"
