"""Contact events end call sessions, over the in-memory adapters: a disconnect frees the slot, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oratio.adapters.memory import (
    FixedClock,
    InMemoryAgentDirectory,
    InMemoryCallSessionStore,
    InMemoryNumberRegistry,
)
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_events import CallEndRecorder, ConnectContactEvent, ContactEventAction
from oratio.domain.call_routing import Route, RoutingProfile
from oratio.domain.calls import CallRouter, CallStatus, InboundCall
from tests.events import CONNECT_INSTANCE_ARN, connect_contact_event

TENANT_ID = "cozy-comfort"
NUMBER = "+15552333464"
# Monday 6 January 2025, 10:00 in New York
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)
OTHER_INSTANCE_ARN = "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-000000000000"


def make_profile(max_concurrent_calls: int) -> RoutingProfile:
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


class World:
    """The call router and the call-end recorder sharing one in-memory session store."""

    def __init__(self, max_concurrent_calls: int = 1) -> None:
        agent = Agent(
            vendor_id=TENANT_ID,
            agent_id="front-desk",
            name="Front desk",
            status=AgentStatus.ACTIVE,
            phone_number=NUMBER,
            created_at=OPEN_TIME - timedelta(days=30),
            updated_at=OPEN_TIME - timedelta(days=1),
        )
        self.sessions = InMemoryCallSessionStore()
        self.router = CallRouter(
            make_profile(max_concurrent_calls),
            InMemoryAgentDirectory([agent]),
            self.sessions,
            FixedClock(OPEN_TIME),
            InMemoryNumberRegistry({NUMBER: TENANT_ID}),
        )
        self.recorder = CallEndRecorder(TENANT_ID, CONNECT_INSTANCE_ARN, self.sessions)

    def ring(self, contact_id: str) -> Route:
        call = InboundCall(contact_id=contact_id, channel="voice", dialed_number=NUMBER)
        return self.router.route(call).route


def contact_event(contact_id: str, **kwargs: Any) -> ConnectContactEvent:
    kwargs.setdefault("initiated_at", OPEN_TIME)
    kwargs.setdefault("disconnected_at", OPEN_TIME + timedelta(minutes=4, seconds=30))
    return ConnectContactEvent.model_validate(connect_contact_event(contact_id, **kwargs))


def test_disconnect_closes_the_session_and_frees_the_slot_for_the_next_caller() -> None:
    # Given a tenant limited to one call, with that call in progress
    world = World(max_concurrent_calls=1)
    assert world.ring("contact-1") is Route.AGENT
    assert world.ring("contact-2") is Route.UNAVAILABLE
    # When Connect reports the first contact disconnected by the customer
    result = world.recorder.handle(contact_event("contact-1"))
    # Then the session is closed with its end, duration and outcome, and the slot is given back
    assert result.action is ContactEventAction.CLOSED
    assert result.released_slot
    session = world.sessions.get(TENANT_ID, "contact-1")
    assert session is not None
    assert session.status is CallStatus.CLOSED
    assert session.ended_at == OPEN_TIME + timedelta(minutes=4, seconds=30)
    assert session.duration_seconds == 270
    assert session.outcome == "CUSTOMER_DISCONNECT"
    assert world.sessions.active_calls(TENANT_ID) == 0
    # And the next caller reaches the agent
    assert world.ring("contact-3") is Route.AGENT


def test_redelivered_disconnect_frees_the_slot_only_once() -> None:
    # Given two calls in progress
    world = World(max_concurrent_calls=2)
    world.ring("contact-1")
    world.ring("contact-2")
    event = contact_event("contact-1")
    # When the same DISCONNECTED event is delivered twice (EventBridge and Lambda deliver at least once)
    first = world.recorder.handle(event)
    second = world.recorder.handle(event)
    # Then only the first delivery changes anything: the other call keeps its slot
    assert first.action is ContactEventAction.CLOSED
    assert second.action is ContactEventAction.ALREADY_CLOSED
    assert not second.released_slot
    assert world.sessions.active_calls(TENANT_ID) == 1
    assert second.session == first.session


def test_a_later_disconnect_for_a_closed_session_keeps_the_first_end() -> None:
    world = World()
    world.ring("contact-1")
    world.recorder.handle(contact_event("contact-1"))
    late = contact_event("contact-1", disconnected_at=OPEN_TIME + timedelta(minutes=9), disconnect_reason="OTHER")
    result = world.recorder.handle(late)
    assert result.action is ContactEventAction.ALREADY_CLOSED
    session = world.sessions.get(TENANT_ID, "contact-1")
    assert session is not None
    assert (session.duration_seconds, session.outcome) == (270, "CUSTOMER_DISCONNECT")


def test_disconnect_of_a_contact_the_router_never_saw_changes_nothing() -> None:
    # Given one call in progress
    world = World(max_concurrent_calls=2)
    world.ring("contact-1")
    # When Connect reports a contact that never reached the router (e.g. an outbound call) disconnected
    result = world.recorder.handle(contact_event("never-routed"))
    # Then nothing is created or released
    assert result.action is ContactEventAction.UNKNOWN_CONTACT
    assert world.sessions.get(TENANT_ID, "never-routed") is None
    assert world.sessions.active_calls(TENANT_ID) == 1


def test_disconnect_of_a_turned_away_call_closes_it_without_touching_the_counter() -> None:
    # Given a tenant at its limit, and a second caller who was turned away (recorded, uncounted)
    world = World(max_concurrent_calls=1)
    world.ring("contact-1")
    world.ring("contact-2")
    # When the turned-away contact disconnects
    result = world.recorder.handle(contact_event("contact-2"))
    # Then its session closes but the call in progress keeps its slot
    assert result.action is ContactEventAction.CLOSED
    assert not result.released_slot
    assert world.sessions.active_calls(TENANT_ID) == 1


@pytest.mark.parametrize(
    "event_type", ["INITIATED", "CONNECTED_TO_SYSTEM", "QUEUED", "CONNECTED_TO_AGENT", "COMPLETED", "SOMETHING_NEW"]
)
def test_events_other_than_disconnected_are_ignored(event_type: str) -> None:
    world = World()
    world.ring("contact-1")
    result = world.recorder.handle(contact_event("contact-1", event_type=event_type))
    assert result.action is ContactEventAction.IGNORED_EVENT_TYPE
    session = world.sessions.get(TENANT_ID, "contact-1")
    assert session is not None
    assert session.status is CallStatus.OPEN
    assert world.sessions.active_calls(TENANT_ID) == 1


def test_disconnect_from_another_connect_instance_is_ignored() -> None:
    # Given a call in progress (contact ids are only unique within an instance)
    world = World()
    world.ring("contact-1")
    # When a disconnect with the same contact id comes from another instance
    result = world.recorder.handle(contact_event("contact-1", instance_arn=OTHER_INSTANCE_ARN))
    # Then the tenant's session stays open
    assert result.action is ContactEventAction.OTHER_INSTANCE
    assert world.sessions.active_calls(TENANT_ID) == 1


def test_without_a_disconnect_timestamp_the_event_time_is_the_end() -> None:
    world = World()
    world.ring("contact-1")
    raw = connect_contact_event("contact-1", initiated_at=OPEN_TIME, disconnected_at=OPEN_TIME + timedelta(minutes=2))
    del raw["detail"]["disconnectTimestamp"]
    del raw["detail"]["disconnectReason"]
    result = world.recorder.handle(ConnectContactEvent.model_validate(raw))
    assert result.session is not None
    assert result.session.ended_at == OPEN_TIME + timedelta(minutes=2)
    assert result.session.duration_seconds == 120
    assert result.session.outcome is None


def test_an_end_stamped_before_the_start_by_clock_skew_has_zero_duration() -> None:
    world = World()
    world.ring("contact-1")
    result = world.recorder.handle(contact_event("contact-1", disconnected_at=OPEN_TIME - timedelta(seconds=2)))
    assert result.session is not None
    assert result.session.duration_seconds == 0


def test_fields_aws_adds_to_contact_events_are_ignored() -> None:
    raw = connect_contact_event(
        "contact-1",
        agentInfo={"agentArn": "arn"},
        customerVoiceActivity={"greetingStartTimestamp": "2021-08-04T17:29:20.000Z"},
    )
    raw["brandNewTopLevelField"] = {"x": 1}
    event = ConnectContactEvent.model_validate(raw)
    assert event.contact_id == "contact-1"
