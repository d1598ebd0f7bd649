"""Ports: the small interfaces the domain depends on. AWS adapters and local adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from oratio.domain.agents import Agent
from oratio.domain.calls import CallSession, CloseResult, LeaseRenewal, OpenResult


class Clock(Protocol):
    """Source of the current time, so policies that depend on it can be tested at any instant."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)


class MonthToDate(Protocol):
    """A tenant's spend so far this month (the usage table's month total), read synchronously."""

    def month_to_date_usd(self, tenant_id: str, at: datetime) -> float: ...


@dataclass(frozen=True, slots=True)
class AgentShare:
    """An agent's own monthly budget (its live definition's `models.monthly_budget_usd`) and its month so far."""

    monthly_budget_usd: float
    month_to_date_usd: float


class AgentShares(Protocol):
    """Reads an agent's share of the tenant's budget, in one request, synchronously."""

    def share(self, tenant_id: str, agent_id: str, live_version: int, at: datetime) -> AgentShare | None:
        """The share the live version sets and the agent's month so far; None when that version sets no share
        of its own (the tenant's budget is the agent's ceiling, and the tenant check covers it)."""
        ...


class AgentDirectory(Protocol):
    """Finds the agent behind a dialed number."""

    def find_by_number(self, tenant_id: str, e164: str) -> Agent | None:
        """The tenant's agent answering this E.164 number, read consistently (a pause is honoured at once), or
        None. Another tenant's agent on the same number is never returned."""
        ...

    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None:
        """One agent by key, read consistently, or None."""
        ...


class ChannelAgentLookup(Protocol):
    """Which agent a tenant's address on a channel answers for (an SMS number, a social account)."""

    def agent_for_address(self, tenant_id: str, channel: str, address: str) -> str | None: ...


class CallSessionStore(Protocol):
    """Call session records and the tenant's live-call counter, changed together atomically."""

    def get(self, tenant_id: str, contact_id: str) -> CallSession | None:
        """The session of a contact, or None."""
        ...

    def open(self, session: CallSession, max_concurrent_calls: int) -> OpenResult:
        """Record a new session and, if it counts against the limit, take a slot, all or nothing.

        Outcomes: `created`; `already_exists` with the stored session (nothing changed, nothing counted);
        `over_capacity` when a counted session would exceed `max_concurrent_calls` (nothing stored).
        """
        ...

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
        """Mark an open session closed (end, duration, outcome, total cost) and give back its slot, all or
        nothing, once.

        Only the call that flips the session from open to closed releases the slot (outcome `closed`); closing
        a closed session changes nothing (`already_closed`, with the session as stored). With
        `lease_expired_by`, the session is closed only if its lease ran out by then (`still_alive` otherwise).
        """
        ...

    def renew_lease(self, tenant_id: str, contact_id: str, seen_at: datetime, until: datetime | None) -> LeaseRenewal:
        """Extend an open session's lease to `until` (None: to its bound), never past its bound, and note when
        its call was last seen alive."""
        ...

    def expired(self, tenant_id: str, now: datetime, limit: int) -> list[str]:
        """Contact ids of up to `limit` open sessions of the tenant whose lease ran out before `now`."""
        ...

    def active_calls(self, tenant_id: str) -> int:
        """How many counted sessions of the tenant are open now."""
        ...
