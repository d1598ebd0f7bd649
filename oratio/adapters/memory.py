"""In-memory adapters for the local mode, tests and benchmarks: same semantics as DynamoDB, one process only.

They are honest stand-ins, not mocks: a lock makes `open`/`close` atomic the way a DynamoDB transaction
is, so idempotency and the concurrent-call limit behave as deployed. Nothing here persists.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from oratio.domain.agents import Agent, preferred_agent
from oratio.domain.calls import (
    CallSession,
    CallStatus,
    CloseOutcome,
    CloseResult,
    LeaseRenewal,
    OpenOutcome,
    OpenResult,
)
from oratio.domain.numbers import NumberClaim, NumberKind, NumberOwnedElsewhere


class InMemoryAgentDirectory:
    """Agents keyed by vendor and id, with a number index like the `by_phone_number` GSI."""

    def __init__(self, agents: list[Agent] | None = None) -> None:
        self._agents: dict[tuple[str, str], Agent] = {}
        for agent in agents or []:
            self.put_agent(agent)

    def put_agent(self, agent: Agent) -> None:
        """Create or replace an agent."""
        self._agents[(agent.vendor_id, agent.agent_id)] = agent

    def find_by_number(self, tenant_id: str, e164: str) -> Agent | None:
        """The tenant's agent answering this number; as in DynamoDB, a live agent wins over a deleted one."""
        matches = [a for a in self._agents.values() if a.vendor_id == tenant_id and a.phone_number == e164]
        return preferred_agent(matches)

    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None:
        return self._agents.get((vendor_id, agent_id))


class InMemoryNumberRegistry:
    """The platform-wide number registry in a dict (number -> claim), changed under a lock like the conditional
    transaction it stands in for."""

    def __init__(self, claims: dict[str, str] | None = None) -> None:
        """`claims`: number -> tenant id, registered up front (as the tenant stacks would at deploy)."""
        self._lock = threading.Lock()
        self._claims: dict[str, NumberClaim] = {}
        for number, tenant_id in (claims or {}).items():
            self.claim(NumberClaim(number=number, tenant_id=tenant_id, kind=NumberKind.CONNECT, claimed_by="seed"))

    def owns(self, tenant_id: str, number: str) -> bool:
        claim = self._claims.get(number)
        return claim is not None and claim.tenant_id == tenant_id

    def is_registered(self, number: str) -> bool:
        return number in self._claims

    def claim(self, claim: NumberClaim) -> None:
        with self._lock:
            held = self._claims.get(claim.number)
            if held is not None and held.tenant_id != claim.tenant_id:
                raise NumberOwnedElsewhere(claim.number)
            self._claims[claim.number] = claim

    def release(self, tenant_id: str, number: str) -> bool:
        with self._lock:
            if not self.owns(tenant_id, number):
                return False
            del self._claims[number]
            return True

    def numbers_of(self, tenant_id: str) -> list[NumberClaim]:
        return sorted((c for c in self._claims.values() if c.tenant_id == tenant_id), key=lambda c: c.number)


class InMemoryCallSessionStore:
    """Call sessions and per-tenant live-call counters in dicts, changed under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], CallSession] = {}
        self._active: dict[str, int] = {}

    def get(self, tenant_id: str, contact_id: str) -> CallSession | None:
        """The session of a contact, or None."""
        with self._lock:
            return self._sessions.get((tenant_id, contact_id))

    def open(self, session: CallSession, max_concurrent_calls: int) -> OpenResult:
        """Record the session and take a slot if it counts, atomically (see `CallSessionStore.open`)."""
        key = (session.tenant_id, session.contact_id)
        with self._lock:
            existing = self._sessions.get(key)
            if existing is not None:
                return OpenResult(OpenOutcome.ALREADY_EXISTS, existing)
            if session.counted_against_limit:
                active = self._active.get(session.tenant_id, 0)
                if active >= max_concurrent_calls:
                    return OpenResult(OpenOutcome.OVER_CAPACITY, session)
                self._active[session.tenant_id] = active + 1
            self._sessions[key] = session
            return OpenResult(OpenOutcome.CREATED, session)

    def close(
        self,
        tenant_id: str,
        contact_id: str,
        ended_at: datetime,
        *,
        outcome: str | None = None,
        total_cost_usd: float | None = None,
        lease_expired_by: datetime | None = None,
    ) -> CloseResult:
        """Close an open session and release its slot once; closing twice changes nothing."""
        key = (tenant_id, contact_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return CloseResult(CloseOutcome.UNKNOWN)
            if session.status is CallStatus.CLOSED:
                return CloseResult(CloseOutcome.ALREADY_CLOSED, session)
            if lease_expired_by is not None and not _lease_ran_out(session, lease_expired_by):
                return CloseResult(CloseOutcome.STILL_ALIVE, session)
            closed = session.closed(ended_at, outcome, total_cost_usd)
            self._sessions[key] = closed
            if session.counted_against_limit:
                self._active[tenant_id] = max(0, self._active.get(tenant_id, 0) - 1)
            return CloseResult(CloseOutcome.CLOSED, closed)

    def renew_lease(self, tenant_id: str, contact_id: str, seen_at: datetime, until: datetime | None) -> LeaseRenewal:
        """Extend an open session's lease, clamped to its bound (see `CallSessionStore.renew_lease`)."""
        key = (tenant_id, contact_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is None or session.lease_bound_at is None:
                return LeaseRenewal.UNKNOWN
            if session.status is CallStatus.CLOSED:
                return LeaseRenewal.CLOSED
            bound = session.lease_bound_at
            expires = bound if until is None else min(until, bound)
            self._sessions[key] = session.model_copy(update={"lease_expires_at": expires, "last_seen_at": seen_at})
            return LeaseRenewal.RENEWED if until is not None and until < bound else LeaseRenewal.AT_BOUND

    def expired(self, tenant_id: str, now: datetime, limit: int) -> list[str]:
        """Open sessions of the tenant whose lease ran out before `now`, oldest lease first."""
        with self._lock:
            found = [
                s
                for (t, _), s in self._sessions.items()
                if t == tenant_id and s.status is CallStatus.OPEN and _lease_ran_out(s, now)
            ]
        found.sort(key=lambda s: s.lease_expires_at or s.started_at)
        return [s.contact_id for s in found[:limit]]

    def active_calls(self, tenant_id: str) -> int:
        """Counted sessions of the tenant that are open."""
        with self._lock:
            return self._active.get(tenant_id, 0)

    def sessions(self, tenant_id: str) -> list[CallSession]:
        """Every session of a tenant, oldest first (for the local mode's reports and tests)."""
        with self._lock:
            found = [s for (t, _), s in self._sessions.items() if t == tenant_id]
        return sorted(found, key=lambda s: s.started_at)


def _lease_ran_out(session: CallSession, now: datetime) -> bool:
    return session.lease_expires_at is not None and session.lease_expires_at < now


class FixedClock:
    """A clock that says what it is told; for tests, demos and benchmarks, never deployed."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware instant")
        self._instant = instant

    def now(self) -> datetime:
        """The instant set last."""
        return self._instant

    def set(self, instant: datetime) -> None:
        """Move the clock to another aware instant."""
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware instant")
        self._instant = instant

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._instant = self._instant + delta

    @classmethod
    def at_utc(cls, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> FixedClock:
        """A clock fixed at a UTC wall time."""
        return cls(datetime(year, month, day, hour, minute, tzinfo=UTC))
