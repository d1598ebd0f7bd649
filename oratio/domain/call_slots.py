"""Leases on live-call slots: a slot counts only while its call shows it is alive.

A call session that holds one of the tenant's concurrent-call slots carries a lease: `lease_expires_at`, set when
the router opens it and renewed while the call is alive (by the voice bridge while it streams a call, by the
Connect code hook on each turn), never past `lease_bound_at` (the start plus the tenant's longest call). A call
whose end event is lost stops renewing; once its lease has run out the session is closed as `abandoned` and its
slot given back — by the router when the tenant looks full (`CallRouter.route`), and by the tenant's scheduled
reconciler for the rest (`SlotReclaimer`). A renewal after that finds the session closed and changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from oratio.config.tenant import CallSlotSettings

if TYPE_CHECKING:
    from oratio.domain.call_events import CallCosts
    from oratio.domain.calls import CallSession, CloseResult, LeaseRenewal
    from oratio.ports import CallSessionStore

logger = logging.getLogger(__name__)

ABANDONED = "abandoned"  # the outcome of a session closed because its lease ran out
# Sessions the router frees when a caller finds the tenant full: enough for that caller, little extra latency.
RECLAIM_AT_ADMISSION = 3
# A lease is renewed this many times in its length, so two lost renewals in a row do not let it run out.
RENEWALS_PER_LEASE = 4


def lease_bound(settings: CallSlotSettings, started_at: datetime) -> datetime:
    """The latest a session's lease may run: its start plus the longest call."""
    return started_at + timedelta(minutes=settings.max_call_minutes)


def first_lease(settings: CallSlotSettings, started_at: datetime) -> datetime:
    """The lease a session gets when the router opens it."""
    return min(started_at + timedelta(seconds=settings.lease_seconds), lease_bound(settings, started_at))


def renewed_until(settings: CallSlotSettings, now: datetime) -> datetime:
    """Until when a renewal at `now` keeps the slot (the store clamps it to the session's bound)."""
    return now + timedelta(seconds=settings.lease_seconds)


def renewal_interval_seconds(settings: CallSlotSettings) -> float:
    """How often a live call renews its lease."""
    return settings.lease_seconds / RENEWALS_PER_LEASE


class SlotReclaimer:
    """Closes a tenant's sessions whose lease ran out as `abandoned`, giving their slots back, each once.

    The close is conditioned on the lease still being expired, so a call that renewed meanwhile keeps its slot.
    The abandoned call's end is when it was last seen alive; with `costs`, its total cost is summed as at a
    normal end (a cost that cannot be read never keeps a slot leaked).
    """

    def __init__(self, tenant_id: str, sessions: CallSessionStore, costs: CallCosts | None = None) -> None:
        self._tenant_id = tenant_id
        self._sessions = sessions
        self._costs = costs

    def reclaim(self, now: datetime, limit: int) -> list[CallSession]:
        """Abandon up to `limit` sessions whose lease ran out before `now`; returns the sessions closed."""
        from oratio.domain.call_events import summed_cost
        from oratio.domain.calls import CloseOutcome

        closed: list[CallSession] = []
        for contact_id in self._sessions.expired(self._tenant_id, now, limit):
            stored = self._sessions.get(self._tenant_id, contact_id)
            if stored is None:
                continue
            result = self._sessions.close(
                self._tenant_id,
                contact_id,
                stored.last_seen_at or stored.started_at,
                outcome=ABANDONED,
                total_cost_usd=summed_cost(self._costs, self._tenant_id, contact_id),
                lease_expired_by=now,
            )
            if result.outcome is CloseOutcome.CLOSED and result.session is not None:
                closed.append(result.session)
        return closed


class CallLeases(Protocol):
    """A call's session as the voice paths keep it alive and end it (asynchronous: they run on event loops)."""

    async def renew(self, tenant_id: str, contact_id: str, seen_at: datetime, until: datetime | None) -> LeaseRenewal:
        """Extend the session's lease to `until` (None: as far as its bound allows), clamped to its bound."""
        ...

    async def end(
        self, tenant_id: str, contact_id: str, ended_at: datetime, *, outcome: str, total_cost_usd: float | None
    ) -> CloseResult:
        """Close the session (once) and give its slot back."""
        ...


class CallLeaseKeeper:
    """Keeps one bridge call's slot while the call streams: renews its lease four times per lease length, and
    closes its session when the call ends (the telephony provider's end event may never come).

    Renewal failures are logged with the call id and retried at the next interval: a few lost renewals do not
    let the lease run out. `clock` and `sleep` are injectable so tests replay time instead of waiting.
    """

    def __init__(
        self,
        leases: CallLeases,
        settings: CallSlotSettings,
        *,
        tenant_id: str,
        contact_id: str,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._leases = leases
        self._settings = settings
        self.tenant_id = tenant_id
        self.contact_id = contact_id
        self._clock = clock
        self._sleep = sleep
        self.renewals = 0
        self.last: LeaseRenewal | None = None

    async def keep(self) -> None:
        """Renew until the session cannot be renewed further (closed, unknown, or at its bound)."""
        from oratio.domain.calls import LeaseRenewal

        interval = renewal_interval_seconds(self._settings)
        while True:
            await self._sleep(interval)
            now = self._clock()
            try:
                self.last = await self._leases.renew(
                    self.tenant_id, self.contact_id, now, renewed_until(self._settings, now)
                )
            except Exception:
                logger.exception("call slot lease renewal failed; retried next interval", extra=self._log())
                continue
            self.renewals += 1
            if self.last is not LeaseRenewal.RENEWED:
                logger.info("call slot lease no longer renewed", extra={**self._log(), "renewal": self.last.value})
                return

    async def end(self, outcome: str, total_cost_usd: float | None = None) -> CloseResult | None:
        """Close the call's session now that the call is over; None if that failed (logged)."""
        try:
            return await self._leases.end(
                self.tenant_id, self.contact_id, self._clock(), outcome=outcome, total_cost_usd=total_cost_usd
            )
        except Exception:
            logger.exception("closing the call's session failed; its lease will free the slot", extra=self._log())
            return None

    def _log(self) -> dict[str, str]:
        return {"tenant_id": self.tenant_id, "call_id": self.contact_id}


class SessionStoreLeases:
    """`CallLeases` over a (blocking) call session store, each call run in a worker thread off the event loop."""

    def __init__(self, sessions: CallSessionStore) -> None:
        self._sessions = sessions

    async def renew(self, tenant_id: str, contact_id: str, seen_at: datetime, until: datetime | None) -> LeaseRenewal:
        return await asyncio.to_thread(self._sessions.renew_lease, tenant_id, contact_id, seen_at, until)

    async def end(
        self, tenant_id: str, contact_id: str, ended_at: datetime, *, outcome: str, total_cost_usd: float | None
    ) -> CloseResult:
        return await asyncio.to_thread(
            functools.partial(
                self._sessions.close, tenant_id, contact_id, ended_at, outcome=outcome, total_cost_usd=total_cost_usd
            )
        )
