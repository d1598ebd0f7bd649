"""Call sessions and the call router use case: resolve, decide, record the session and take a slot, once.

`CallRouter.route` is idempotent per contact: Amazon Connect retries a Lambda that timed out, and a retry
must neither open a second session nor count the call twice against the tenant's concurrent-call limit.
The session store opens the session and takes the slot in one atomic step (`CallSessionStore.open`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.config.tenant import E164_PATTERN, TENANT_ID_PATTERN
from oratio.domain.agents import AGENT_ID_PATTERN, Agent
from oratio.domain.routing import TEXT_CHANNELS, Route, RouteReason, RoutingDecision, RoutingProfile, decide_route

if TYPE_CHECKING:
    from oratio.ports import AgentDirectory, CallSessionStore, ChannelAgentLookup, Clock


class CallStatus(StrEnum):
    """Whether the call is still live (holding a slot if it was counted)."""

    OPEN = "open"
    CLOSED = "closed"


class InboundCall(BaseModel):
    """An inbound contact as the router needs it, independent of the Connect wire format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact_id: str = Field(min_length=1, max_length=256)
    channel: str = Field(min_length=1, description="voice, chat (web chat) or sms (a chat contact of SMS subtype)")
    dialed_number: str | None = Field(
        default=None, pattern=E164_PATTERN, description="the number called or texted; a web chat has none"
    )
    caller_number: str | None = Field(default=None, description="as Connect gives it; may be withheld")
    agent_id: str | None = Field(
        default=None, pattern=AGENT_ID_PATTERN, description="the agent a web chat was started for (no number)"
    )

    @property
    def is_text(self) -> bool:
        """A chat or SMS contact: answered around the clock, holding no line against the call limit."""
        return self.channel in TEXT_CHANNELS


class CallSession(BaseModel):
    """The record of one contact, opened by the router and closed when Amazon Connect reports it disconnected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
        channel_agents: ChannelAgentLookup | None = None,
    ) -> None:
        self._profile = profile
        self._agents = agents
        self._sessions = sessions
        self._clock = clock
        self._channel_agents = channel_agents

    @property
    def profile(self) -> RoutingProfile:
        """The tenant snapshot this router decides with."""
        return self._profile

    def route(self, call: InboundCall) -> RoutingDecision:
        """Decide where the contact goes and record its session; a retry returns the first decision."""
        agent = self._resolve(call)
        now = self._clock.now()
        decision = decide_route(self._profile, agent, now, channel=call.channel)
        result = self._sessions.open(self._session_for(call, decision, now), self._profile.max_concurrent_calls)
        if result.outcome is OpenOutcome.CREATED:
            return decision
        if result.outcome is OpenOutcome.ALREADY_EXISTS:
            return self._decision_from(result.session)
        # No slot left: the caller is turned away, but the contact is still recorded (uncounted) so
        # that retries and reports see the same answer.
        return self._turn_away_over_capacity(call, agent, now)

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
        return self._agents.find_by_number(call.dialed_number) if call.dialed_number else None

    def _turn_away_over_capacity(self, call: InboundCall, agent: Agent | None, now: datetime) -> RoutingDecision:
        decision = decide_route(self._profile, agent, now, has_capacity=False, channel=call.channel)
        result = self._sessions.open(self._session_for(call, decision, now), self._profile.max_concurrent_calls)
        if result.outcome is OpenOutcome.ALREADY_EXISTS:
            # A concurrent retry of the same contact recorded it first; its answer stands.
            return self._decision_from(result.session)
        return decision

    def _session_for(self, call: InboundCall, decision: RoutingDecision, now: datetime) -> CallSession:
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
        )

    def _decision_from(self, session: CallSession) -> RoutingDecision:
        decision = RoutingDecision.for_route(
            self._profile, session.route, session.reason, session.agent_id, channel=session.channel
        )
        return decision.model_copy(update={"voice_tier": session.voice_tier})
