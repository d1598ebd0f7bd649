"""Call sessions and the call router use case: resolve, decide, record the session and take a slot, once.

`CallRouter.route` is idempotent per contact: Amazon Connect retries a Lambda that timed out, and a retry
must neither open a second session nor count the call twice against the tenant's concurrent-call limit.
The session store opens the session and takes the slot in one atomic step (`CallSessionStore.open`).

Every session holds a lease (`oratio.domain.call_slots`): renewed while its call is alive, bounded by the
longest call. A slot whose lease ran out (its call's end event was lost) stops counting: when the tenant looks
full, the router first closes such sessions as `abandoned`, then admits the caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.budget import BudgetCheck, BudgetState, check_budget
from oratio.config.tenant import E164_PATTERN, TENANT_ID_PATTERN
from oratio.domain.agents import AGENT_ID_PATTERN, Agent, AgentStatus
from oratio.domain.call_routing import TEXT_CHANNELS, Route, RouteReason, RoutingDecision, RoutingProfile, decide_route
from oratio.domain.call_slots import RECLAIM_AT_ADMISSION, first_lease, lease_bound
from oratio.domain.dial_through import TakeOver

if TYPE_CHECKING:
    from oratio.domain.call_slots import SlotReclaimer
    from oratio.domain.dial_through import DialThroughs
    from oratio.domain.numbers import NumberOwnership
    from oratio.ports import AgentDirectory, AgentShares, CallSessionStore, ChannelAgentLookup, Clock, MonthToDate


logger = logging.getLogger(__name__)


class CallStatus(StrEnum):
    """Whether the call is still live (holding a slot if it was counted)."""

    OPEN = "open"
    CLOSED = "closed"


class InboundCall(BaseModel):
    """An inbound contact as the router needs it, independent of the Connect wire format."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    contact_id: str = Field(min_length=1, max_length=256)
    channel: str = Field(min_length=1, description="voice, chat (web chat) or sms (a chat contact of SMS subtype)")
    dialed_number: str | None = Field(
        default=None, pattern=E164_PATTERN, description="the number called or texted; a web chat has none"
    )
    caller_number: str | None = Field(default=None, description="as Connect gives it; may be withheld")
    agent_id: str | None = Field(
        default=None,
        pattern=AGENT_ID_PATTERN,
        description="the agent a web chat was started for (no number), or a dialled-through call is admitted for",
    )

    @property
    def is_text(self) -> bool:
        """A chat or SMS contact: answered around the clock, holding no line against the call limit."""
        return self.channel in TEXT_CHANNELS


class CallSession(BaseModel):
    """The record of one contact, opened by the router and closed when Amazon Connect reports it disconnected."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    contact_id: str = Field(min_length=1, max_length=256)
    agent_id: str | None = None
    channel: str
    dialed_number: str
    caller_number: str | None = None
    route: Route
    reason: RouteReason
    voice_tier: str
    started_at: AwareDatetime
    counted_against_limit: bool = Field(description="holds one of the tenant's concurrent-call slots")
    status: CallStatus = CallStatus.OPEN
    ended_at: AwareDatetime | None = None
    duration_seconds: int | None = Field(default=None, ge=0, description="whole seconds from start to end")
    outcome: str | None = Field(default=None, description="why it ended, e.g. Connect's disconnect reason")
    total_cost_usd: float | None = Field(default=None, ge=0, description="the call's recorded turn costs, at close")
    lease_expires_at: AwareDatetime | None = Field(
        default=None, description="until when the session counts as alive without news of its call"
    )
    lease_bound_at: AwareDatetime | None = Field(
        default=None, description="the latest its lease may run: the start plus the longest call"
    )
    last_seen_at: AwareDatetime | None = Field(default=None, description="when its call last showed it was alive")

    def closed(
        self, ended_at: datetime, outcome: str | None = None, total_cost_usd: float | None = None
    ) -> CallSession:
        """This session as it is once closed at `ended_at` (aware), with its duration.

        The end comes from another clock (Amazon Connect's) than the start (the router's), so a skew that
        would make the duration negative is clamped to zero.
        """
        if ended_at.tzinfo is None:
            raise ValueError("ended_at must be timezone-aware")
        duration = max(0, round((ended_at - self.started_at).total_seconds()))
        return self.model_copy(
            update={
                "status": CallStatus.CLOSED,
                "ended_at": ended_at,
                "duration_seconds": duration,
                "outcome": outcome,
                "total_cost_usd": total_cost_usd,
            }
        )


class CloseOutcome(StrEnum):
    """What closing a session did."""

    CLOSED = "closed"  # this close flipped it from open to closed (and gave its slot back, if it held one)
    ALREADY_CLOSED = "already_closed"  # closed before (a redelivered end, or another path ended it first)
    UNKNOWN = "unknown"  # no such session
    STILL_ALIVE = "still_alive"  # an abandonment found the lease renewed: the call is alive, nothing changed


@dataclass(frozen=True, slots=True)
class CloseResult:
    """Outcome of closing a session; `session` is the session as stored afterwards, when there is one."""

    outcome: CloseOutcome
    session: CallSession | None = None

    @property
    def released_slot(self) -> bool:
        """Whether this close gave a concurrent-call slot back to the tenant."""
        return self.outcome is CloseOutcome.CLOSED and self.session is not None and self.session.counted_against_limit


class LeaseRenewal(StrEnum):
    """What renewing a session's lease did."""

    RENEWED = "renewed"
    AT_BOUND = "at_bound"  # renewed, but only up to the longest call: it cannot be renewed further
    CLOSED = "closed"  # the session is closed (ended, or abandoned after its lease ran out)
    UNKNOWN = "unknown"  # no such session (a call the router never saw), or one from before leases


class OpenOutcome(StrEnum):
    """What `CallSessionStore.open` did."""

    CREATED = "created"
    ALREADY_EXISTS = "already_exists"
    OVER_CAPACITY = "over_capacity"


@dataclass(frozen=True, slots=True)
class OpenResult:
    """Outcome of opening a session; `session` is the stored one (the earlier one on a retry)."""

    outcome: OpenOutcome
    session: CallSession


class CallRouter:
    """The call router use case: one inbound contact in, one routing decision out (idempotent per contact)."""

    def __init__(
        self,
        profile: RoutingProfile,
        agents: AgentDirectory,
        sessions: CallSessionStore,
        clock: Clock,
        numbers: NumberOwnership,
        reclaimer: SlotReclaimer | None = None,
        spend: MonthToDate | None = None,
        channel_agents: ChannelAgentLookup | None = None,
        shares: AgentShares | None = None,
        dial_throughs: DialThroughs | None = None,
    ) -> None:
        self._profile = profile
        self._numbers = numbers
        self._agents = agents
        self._sessions = sessions
        self._clock = clock
        self._reclaimer = reclaimer
        self._spend = spend
        self._channel_agents = channel_agents
        self._shares = shares
        self._dial_throughs = dial_throughs

    @property
    def profile(self) -> RoutingProfile:
        """The tenant snapshot this router decides with."""
        return self._profile

    def route(self, call: InboundCall) -> RoutingDecision:
        """Decide where the contact goes and record its session; a retry returns the first decision. A call the
        telephony webhook dialled through to this number continues as the webhook's router decided it."""
        dialled_through = self._dialled_through(call)
        return dialled_through if dialled_through is not None else self._admit(call)

    def _dialled_through(self, call: InboundCall) -> RoutingDecision | None:
        """The webhook router's decision for a call it dialled through from this caller to this number, with its
        session (and slot) taken over by this contact; None when there is no such hand-off to take."""
        if self._dial_throughs is None or call.is_text or call.agent_id is not None:
            return None
        if not call.caller_number or not call.dialed_number:
            return None
        now = self._clock.now()
        hand_off = self._dial_throughs.pending(self._profile.tenant_id, call.caller_number, call.dialed_number, now)
        if hand_off is None:
            return None
        decision = hand_off.decision(self._profile, call.channel)
        outcome = self._dial_throughs.take_over(hand_off, self._session_for(call, decision, now), now)
        logger.info(
            "dialled-through call",
            extra={"outcome": outcome.value, "agent_id": hand_off.agent_id, "route": hand_off.route.value},
        )
        if outcome is TakeOver.TAKEN:
            return decision
        if outcome is TakeOver.PROVIDER_CALL_ENDED and hand_off.agent_id is not None:
            # Its slot was given back meanwhile (its lease ran out): admit it afresh, for the same agent.
            return self._admit(call.model_copy(update={"agent_id": hand_off.agent_id}))
        return None  # taken or expired meanwhile, or a retry of a contact already recorded: route as usual

    def _admit(self, call: InboundCall) -> RoutingDecision:
        agent = self._resolve(call)
        now = self._clock.now()
        budget = self._budget(now)
        agent_budget = self._agent_budget(agent, now, budget)
        decision = decide_route(
            self._profile, agent, now, budget=budget, agent_budget=agent_budget, channel=call.channel
        )
        session = self._session_for(call, decision, now)
        result = self._sessions.open(session, self._profile.max_concurrent_calls)
        # Slots whose lease ran out (their calls' end events were lost) do not count: free them, try again.
        if (
            result.outcome is OpenOutcome.OVER_CAPACITY
            and self._reclaimer is not None
            and self._reclaimer.reclaim(now, RECLAIM_AT_ADMISSION)
        ):
            result = self._sessions.open(session, self._profile.max_concurrent_calls)
        if result.outcome is OpenOutcome.CREATED:
            return decision
        if result.outcome is OpenOutcome.ALREADY_EXISTS:
            return self._decision_from(result.session)
        # No slot left: the caller is turned away, but the contact is still recorded (uncounted) so
        # that retries and reports see the same answer.
        return self._turn_away_over_capacity(call, agent, now, budget, agent_budget)

    def record_failure(self, call: InboundCall, reason: RouteReason) -> RoutingDecision:
        """The unavailable answer for a contact the router could not route (the data layer failed), recorded
        as an uncounted session so every contact it answered has a record; a retry returns the first answer
        (which may be the agent route, if the failed attempt had in fact been stored)."""
        decision = RoutingDecision.failure(reason, self._profile)
        result = self._sessions.open(
            self._session_for(call, decision, self._clock.now()), self._profile.max_concurrent_calls
        )
        if result.outcome is OpenOutcome.ALREADY_EXISTS:
            return self._decision_from(result.session)
        return decision

    def live_calls(self) -> int:
        """The tenant's calls in progress now (for the live-calls metric)."""
        return self._sessions.active_calls(self._profile.tenant_id)

    def _budget(self, now: datetime) -> BudgetCheck | None:
        if self._spend is None:
            return None
        try:
            spent = self._spend.month_to_date_usd(self._profile.tenant_id, now)
        except Exception:
            # The caller is answered either way: a failed read never refuses a call (the agent checks again).
            logger.exception("month-to-date spend unreadable; routing without the budget check")
            return None
        return check_budget(spent, self._profile.monthly_budget_usd, self._profile.budget)

    def _agent_budget(self, agent: Agent | None, now: datetime, tenant: BudgetCheck | None) -> BudgetCheck | None:
        """The agent's own share of the month (one extra read), when it could change the answer: an active agent
        with a published definition, and the tenant's month not already spent. A failed read falls back to the
        tenant's budget alone (the caller reaches the agent, whose first turn checks the share again)."""
        if self._shares is None or agent is None or agent.status is not AgentStatus.ACTIVE:
            return None
        if agent.live_version is None or (tenant is not None and tenant.state is BudgetState.EXHAUSTED):
            return None
        try:
            share = self._shares.share(self._profile.tenant_id, agent.agent_id, agent.live_version, now)
        except Exception:
            logger.exception(
                "agent's budget share unreadable; routing on the tenant's budget alone",
                extra={"agent_id": agent.agent_id},
            )
            return None
        if share is None:
            return None
        return check_budget(share.month_to_date_usd, share.monthly_budget_usd, self._profile.budget)

    def _resolve(self, call: InboundCall) -> Agent | None:
        """The agent a contact is for: the one a web chat names, the one an SMS number is bound to (vendor API,
        `PUT .../channels/sms`), else the one answering the dialed number."""
        tenant = self._profile.tenant_id
        agent_id = call.agent_id
        if agent_id is None and call.channel == "sms" and call.dialed_number and self._channel_agents is not None:
            agent_id = self._channel_agents.agent_for_address(tenant, call.channel, call.dialed_number)
            if agent_id is None:
                return None
        if agent_id is not None:
            return self._agents.get_agent(tenant, agent_id)
        return self._agent_for(call.dialed_number) if call.dialed_number else None

    def _agent_for(self, number: str) -> Agent | None:
        """The tenant's agent on the number -- only when the platform's number registry says the tenant owns it,
        so a number can never be answered by a tenant it does not belong to."""
        tenant_id = self._profile.tenant_id
        if not self._numbers.owns(tenant_id, number):
            return None
        return self._agents.find_by_number(tenant_id, number)

    def _turn_away_over_capacity(
        self,
        call: InboundCall,
        agent: Agent | None,
        now: datetime,
        budget: BudgetCheck | None,
        agent_budget: BudgetCheck | None,
    ) -> RoutingDecision:
        decision = decide_route(
            self._profile,
            agent,
            now,
            has_capacity=False,
            budget=budget,
            agent_budget=agent_budget,
            channel=call.channel,
        )
        result = self._sessions.open(self._session_for(call, decision, now), self._profile.max_concurrent_calls)
        if result.outcome is OpenOutcome.ALREADY_EXISTS:
            # A concurrent retry of the same contact recorded it first; its answer stands.
            return self._decision_from(result.session)
        return decision

    def _session_for(self, call: InboundCall, decision: RoutingDecision, now: datetime) -> CallSession:
        slots = self._profile.call_slots
        return CallSession(
            tenant_id=self._profile.tenant_id,
            contact_id=call.contact_id,
            agent_id=decision.agent_id,
            channel=call.channel,
            dialed_number=call.dialed_number or "",
            caller_number=call.caller_number,
            route=decision.route,
            reason=decision.reason,
            voice_tier=decision.voice_tier,
            started_at=now,
            counted_against_limit=decision.route is Route.AGENT and not call.is_text,
            # A chat or SMS holds no line and may stay quiet for hours: no lease, never reclaimed as abandoned.
            lease_expires_at=None if call.is_text else first_lease(slots, now),
            lease_bound_at=None if call.is_text else lease_bound(slots, now),
            last_seen_at=now,
        )

    def _decision_from(self, session: CallSession) -> RoutingDecision:
        decision = RoutingDecision.for_route(
            self._profile, session.route, session.reason, session.agent_id, channel=session.channel
        )
        return decision.model_copy(update={"voice_tier": session.voice_tier})
