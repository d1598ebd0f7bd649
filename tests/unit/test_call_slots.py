"""Live-call slots have leases: a call whose end event is lost gives its slot back once its lease runs out, a
call that keeps renewing keeps it (up to the longest call), and the abandoned record is closed once. Time is a
replayed clock (`FixedClock`), never a sleep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from oratio.adapters.memory import (
    FixedClock,
    InMemoryAgentDirectory,
    InMemoryCallSessionStore,
    InMemoryNumberRegistry,
)
from oratio.config.tenant import CallSlotSettings
from oratio.domain.agents import Agent, AgentStatus
from oratio.domain.call_routing import Route, RouteReason, RoutingProfile
from oratio.domain.call_slots import ABANDONED, CallLeaseKeeper, SlotReclaimer, renewed_until
from oratio.domain.calls import CallRouter, CallStatus, CloseOutcome, CloseResult, InboundCall, LeaseRenewal

TENANT_ID = "cozy-comfort"
NUMBER = "+15552333464"
OPEN_TIME = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
SLOTS = CallSlotSettings(max_call_minutes=60, lease_seconds=300)


class Tenant:
    """A tenant's router, sessions and clock, all in memory."""

    def __init__(self, max_concurrent_calls: int = 1, slots: CallSlotSettings = SLOTS) -> None:
        profile = RoutingProfile.model_validate(
            {
                "tenant_id": TENANT_ID,
                "hours": {"time_zone": "UTC", **{day: "00:00-23:59" for day in _DAYS}},
                "max_concurrent_calls": max_concurrent_calls,
                "greeting": "Welcome!",
                "closed_message": "Closed.",
                "paused_message": "Paused.",
                "unavailable_message": "We can't take your call.",
                "voice_id": "tiffany",
                "default_tier": "standard",
                "call_slots": slots.model_dump(),
                "monthly_budget_usd": 500,
                "budget_message": "This month's budget is spent.",
            }
        )
        agent = Agent(
            vendor_id=TENANT_ID,
            agent_id="front-desk",
            name="Front desk",
            status=AgentStatus.ACTIVE,
            phone_number=NUMBER,
            created_at=OPEN_TIME - timedelta(days=30),
            updated_at=OPEN_TIME - timedelta(days=1),
        )
        self.slots = slots
        self.sessions = InMemoryCallSessionStore()
        self.clock = FixedClock(OPEN_TIME)
        self.reclaimer = SlotReclaimer(TENANT_ID, self.sessions)
        self.router = CallRouter(
            profile,
            InMemoryAgentDirectory([agent]),
            self.sessions,
            self.clock,
            InMemoryNumberRegistry({NUMBER: TENANT_ID}),  # the tenant stack claimed it at deploy
            reclaimer=self.reclaimer,
        )

    def ring(self, contact_id: str) -> tuple[Route, RouteReason]:
        decision = self.router.route(InboundCall(contact_id=contact_id, channel="voice", dialed_number=NUMBER))
        return decision.route, decision.reason

    def renew(self, contact_id: str) -> LeaseRenewal:
        now = self.clock.now()
        return self.sessions.renew_lease(TENANT_ID, contact_id, now, renewed_until(self.slots, now))


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@pytest.mark.parametrize("lost", [1, 5, 20])
def test_slots_of_calls_whose_end_event_was_lost_are_back_once_their_leases_run_out(lost: int) -> None:
    # Given a tenant full of calls whose end events never arrive
    tenant = Tenant(max_concurrent_calls=lost)
    for n in range(lost):
        assert tenant.ring(f"lost-{n}") == (Route.AGENT, RouteReason.ACCEPTED)
    # When a caller rings before the leases ran out, they are turned away
    tenant.clock.advance(timedelta(seconds=SLOTS.lease_seconds - 1))
    assert tenant.ring("early") == (Route.UNAVAILABLE, RouteReason.OVER_CAPACITY)
    # Then once they ran out, callers are admitted again and no slot stays leaked
    tenant.clock.advance(timedelta(seconds=2))
    for n in range(lost):
        assert tenant.ring(f"later-{n}") == (Route.AGENT, RouteReason.ACCEPTED)
    tenant.clock.advance(timedelta(seconds=SLOTS.lease_seconds + 1))
    tenant.reclaimer.reclaim(tenant.clock.now(), limit=100)
    assert tenant.sessions.active_calls(TENANT_ID) == 0
    # And each lost call's record is closed as abandoned, ending when it was last seen alive
    lost_call = tenant.sessions.get(TENANT_ID, "lost-0")
    assert lost_call is not None
    assert (lost_call.status, lost_call.outcome, lost_call.ended_at) == (CallStatus.CLOSED, ABANDONED, OPEN_TIME)
    assert lost_call.duration_seconds == 0


def test_a_call_that_renews_its_lease_keeps_its_slot_past_the_first_lease() -> None:
    tenant = Tenant(max_concurrent_calls=1)
    tenant.ring("live")
    for _ in range(6):  # renewed every minute for six minutes: more than a lease
        tenant.clock.advance(timedelta(minutes=1))
        assert tenant.renew("live") is LeaseRenewal.RENEWED
    assert tenant.ring("second") == (Route.UNAVAILABLE, RouteReason.OVER_CAPACITY)
    assert tenant.reclaimer.reclaim(tenant.clock.now(), limit=10) == []
    live = tenant.sessions.get(TENANT_ID, "live")
    assert live is not None
    assert (live.status, live.last_seen_at) == (CallStatus.OPEN, tenant.clock.now())


def test_no_renewal_keeps_a_slot_past_the_longest_call() -> None:
    # Given a call that keeps renewing for longer than the longest call allows
    tenant = Tenant(max_concurrent_calls=1)
    tenant.ring("endless")
    renewals = []
    for _ in range(SLOTS.max_call_minutes + 10):
        tenant.clock.advance(timedelta(minutes=1))
        renewals.append(tenant.renew("endless"))
    # Then the renewals reached the bound and stopped extending it, and the slot is back after it
    assert renewals[0] is LeaseRenewal.RENEWED
    assert LeaseRenewal.AT_BOUND in renewals
    assert tenant.ring("next") == (Route.AGENT, RouteReason.ACCEPTED)
    endless = tenant.sessions.get(TENANT_ID, "endless")
    assert endless is not None
    assert endless.outcome == ABANDONED


@pytest.mark.parametrize("lease_seconds", [60, 600])
def test_the_lease_length_decides_when_a_lost_calls_slot_comes_back(lease_seconds: int) -> None:
    tenant = Tenant(max_concurrent_calls=1, slots=CallSlotSettings(max_call_minutes=60, lease_seconds=lease_seconds))
    tenant.ring("lost")
    tenant.clock.advance(timedelta(seconds=lease_seconds - 1))
    assert tenant.ring("too-early")[0] is Route.UNAVAILABLE
    tenant.clock.advance(timedelta(seconds=2))
    assert tenant.ring("in-time")[0] is Route.AGENT


def test_an_abandoned_call_is_closed_once_and_a_late_end_or_renewal_changes_nothing() -> None:
    tenant = Tenant(max_concurrent_calls=2)
    tenant.ring("lost")
    tenant.clock.advance(timedelta(seconds=SLOTS.lease_seconds + 1))
    (closed,) = tenant.reclaimer.reclaim(tenant.clock.now(), limit=10)
    assert closed.outcome == ABANDONED
    assert tenant.reclaimer.reclaim(tenant.clock.now(), limit=10) == []  # a second run finds nothing
    late = tenant.sessions.close(TENANT_ID, "lost", tenant.clock.now(), outcome="completed")
    assert (late.outcome, late.released_slot) == (CloseOutcome.ALREADY_CLOSED, False)
    assert tenant.renew("lost") is LeaseRenewal.CLOSED
    assert tenant.sessions.active_calls(TENANT_ID) == 0


def test_a_renewal_between_the_expiry_query_and_the_close_keeps_the_slot() -> None:
    tenant = Tenant(max_concurrent_calls=1)
    tenant.ring("slow")
    tenant.clock.advance(timedelta(seconds=SLOTS.lease_seconds + 1))
    assert tenant.sessions.expired(TENANT_ID, tenant.clock.now(), 10) == ["slow"]
    assert tenant.renew("slow") is LeaseRenewal.RENEWED  # the call shows it is alive just in time
    result = tenant.sessions.close(TENANT_ID, "slow", OPEN_TIME, outcome=ABANDONED, lease_expired_by=tenant.clock.now())
    assert result.outcome is CloseOutcome.STILL_ALIVE
    assert tenant.sessions.active_calls(TENANT_ID) == 1


def test_calls_turned_away_have_leases_too_so_their_records_are_closed() -> None:
    tenant = Tenant(max_concurrent_calls=1)
    tenant.ring("first")
    tenant.ring("turned-away")
    tenant.renew("first")
    tenant.clock.advance(timedelta(seconds=SLOTS.lease_seconds + 1))
    closed = {s.contact_id for s in tenant.reclaimer.reclaim(tenant.clock.now(), limit=10)}
    assert "turned-away" in closed
    turned_away = tenant.sessions.get(TENANT_ID, "turned-away")
    assert turned_away is not None
    assert not turned_away.counted_against_limit


# ----------------------------------------------------------------------------------- lease keeper
class Leases:
    """`CallLeases` over the in-memory store, failing the first `failures` renewals."""

    def __init__(self, sessions: InMemoryCallSessionStore, failures: int = 0) -> None:
        self.sessions = sessions
        self.failures = failures

    async def renew(self, tenant_id: str, contact_id: str, seen_at: datetime, until: datetime | None) -> LeaseRenewal:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("DynamoDB unreachable (injected)")
        return self.sessions.renew_lease(tenant_id, contact_id, seen_at, until)

    async def end(
        self, tenant_id: str, contact_id: str, ended_at: datetime, *, outcome: str, total_cost_usd: float | None
    ) -> CloseResult:
        return self.sessions.close(tenant_id, contact_id, ended_at, outcome=outcome, total_cost_usd=total_cost_usd)


def replayed_sleep(clock: FixedClock) -> object:
    async def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)

    return sleep


def test_the_bridge_keeps_a_streaming_calls_slot_and_frees_it_when_the_call_ends() -> None:
    tenant = Tenant(max_concurrent_calls=1)
    tenant.ring("bridge-call")

    async def call() -> tuple[int, CloseResult | None]:
        keeper = CallLeaseKeeper(
            Leases(tenant.sessions, failures=2),  # two renewals lost to a DynamoDB hiccup
            SLOTS,
            tenant_id=TENANT_ID,
            contact_id="bridge-call",
            clock=tenant.clock.now,
            sleep=replayed_sleep(tenant.clock),  # type: ignore[arg-type]
        )
        keeping = asyncio.create_task(keeper.keep())
        while tenant.clock.now() < OPEN_TIME + timedelta(minutes=20):  # a 20-minute call
            await asyncio.sleep(0)
            # Meanwhile no other caller gets the slot and no reconciler takes it
            assert tenant.reclaimer.reclaim(tenant.clock.now(), limit=10) == []
        keeping.cancel()
        return keeper.renewals, await keeper.end("caller_hung_up", total_cost_usd=0.0123)

    renewals, ended = asyncio.run(call())
    assert renewals >= 12  # every 75 s for 20 minutes, two of them lost
    assert ended is not None
    assert (ended.outcome, ended.released_slot) == (CloseOutcome.CLOSED, True)
    assert ended.session is not None
    assert (ended.session.outcome, ended.session.total_cost_usd) == ("caller_hung_up", 0.0123)
    assert tenant.ring("next") == (Route.AGENT, RouteReason.ACCEPTED)


def test_the_keeper_stops_renewing_once_the_session_is_closed_elsewhere() -> None:
    tenant = Tenant(max_concurrent_calls=1)
    tenant.ring("closed-by-provider")
    tenant.sessions.close(TENANT_ID, "closed-by-provider", OPEN_TIME, outcome="vonage_completed")

    async def keep() -> LeaseRenewal | None:
        keeper = CallLeaseKeeper(
            Leases(tenant.sessions),
            SLOTS,
            tenant_id=TENANT_ID,
            contact_id="closed-by-provider",
            clock=tenant.clock.now,
            sleep=replayed_sleep(tenant.clock),  # type: ignore[arg-type]
        )
        await asyncio.wait_for(keeper.keep(), 5)
        return keeper.last

    assert asyncio.run(keep()) is LeaseRenewal.CLOSED


def test_a_quiet_chat_is_never_closed_as_abandoned_and_takes_no_call_slot() -> None:
    # Given a tenant with one call slot, a web chat contact and then a caller
    tenant = Tenant(max_concurrent_calls=1)
    chat = tenant.router.route(InboundCall(contact_id="chat-1", channel="chat", agent_id="front-desk"))
    assert (chat.route, chat.reason) == (Route.AGENT, RouteReason.ACCEPTED)
    assert tenant.ring("caller") == (Route.AGENT, RouteReason.ACCEPTED)
    # When the chat stays quiet far past a lease and past the longest call
    tenant.clock.advance(timedelta(minutes=SLOTS.max_call_minutes * 3))
    tenant.reclaimer.reclaim(tenant.clock.now(), limit=100)
    # Then the chat is still open: it held no line, so there was no slot to give back
    session = tenant.sessions.get(TENANT_ID, "chat-1")
    assert session is not None
    assert (session.status, session.outcome) == (CallStatus.OPEN, None)
