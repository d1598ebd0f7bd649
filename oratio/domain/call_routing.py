"""Call routing policy: where an inbound contact goes, given the tenant snapshot, the agent and the time.

`RoutingProfile` is the deploy-time snapshot of a tenant that the call router needs (put in its environment
by the CDK app as `RoutingProfile.from_tenant(tenant).to_env()`); `decide_route` is the pure policy;
`RoutingDecision.to_connect_attributes()` is what Amazon Connect gets back.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oratio.budget import BudgetCheck, BudgetState
from oratio.config.tenant import TENANT_ID_PATTERN, BudgetSettings, BusinessHours, CallSlotSettings, TenantConfig
from oratio.domain.agents import Agent, AgentStatus

ROUTING_PROFILE_ENV_VAR = "ORATIO_ROUTING_PROFILE"
TEXT_CHANNELS = frozenset({"chat", "sms"})  # Connect chat contacts, web chat and the SMS subtype
DEFAULT_RETENTION_DAYS = 90

# Spoken when the router cannot even read its tenant profile (a deployment fault): there is no tenant
# wording to use, and the caller must still hear something rather than dead air.
FALLBACK_UNAVAILABLE_MESSAGE = "We're sorry, we can't take your call right now. Please try again later."


class Route(StrEnum):
    """Where the contact flow sends the caller."""

    AGENT = "agent"
    HUMAN = "human"  # straight to the human queue (the flow says the closed message if the team is closed)
    CLOSED = "closed"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"


class RouteReason(StrEnum):
    """Why a route was chosen; logged, stored on the session and returned to the flow."""

    ACCEPTED = "accepted"
    UNKNOWN_NUMBER = "unknown_number"
    AGENT_PAUSED = "agent_paused"
    AGENT_DRAFT = "agent_draft"
    AGENT_PROVISIONING = "agent_provisioning"
    AGENT_STOPPED = "agent_stopped"
    AGENT_DELETED = "agent_deleted"
    OUTSIDE_BUSINESS_HOURS = "outside_business_hours"
    OVER_CAPACITY = "over_capacity"
    BUDGET_EXHAUSTED = "budget_exhausted"  # the month's budget is spent: a person, or the budget message
    # A Twilio call the webhook accepted cannot be dialled through to Connect for its agent (the caller's number
    # is withheld, so Connect could not tell it apart; or that caller's previous call is still being handed over).
    DIAL_THROUGH_UNAVAILABLE = "dial_through_unavailable"
    # Failures of the router itself: the caller hears the unavailable message, never an error.
    INVALID_EVENT = "invalid_event"
    DATA_UNAVAILABLE = "data_unavailable"
    MISCONFIGURED = "misconfigured"
    INTERNAL_ERROR = "internal_error"


_INACTIVE_REASONS: dict[AgentStatus, RouteReason] = {
    AgentStatus.DRAFT: RouteReason.AGENT_DRAFT,
    AgentStatus.PROVISIONING: RouteReason.AGENT_PROVISIONING,
    AgentStatus.STOPPED: RouteReason.AGENT_STOPPED,
    AgentStatus.DELETED: RouteReason.AGENT_DELETED,
}


class RoutingProfile(BaseModel):
    """What the call router knows about its tenant, frozen at deploy time and carried in one env var."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    hours: BusinessHours
    max_concurrent_calls: int = Field(ge=1)
    greeting: str = Field(min_length=1)
    closed_message: str = Field(min_length=1)
    paused_message: str = Field(min_length=1)
    unavailable_message: str = Field(min_length=1)
    voice_id: str = Field(min_length=1)
    default_tier: str = Field(min_length=1)
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1)
    call_slots: CallSlotSettings = Field(default_factory=CallSlotSettings)
    monthly_budget_usd: float = Field(gt=0)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    budget_message: str = Field(min_length=1, description="said when the month's budget is spent")
    recording: bool = Field(default=False, description="the flow records the call (and says the notice)")
    recording_notice: str = ""
    text_paused_message: str | None = Field(default=None, description="chat and SMS wording; None: the spoken one")
    text_closed_message: str | None = Field(default=None, description="chat and SMS wording; None: the spoken one")

    @classmethod
    def from_tenant(cls, tenant: TenantConfig) -> RoutingProfile:
        """Take the router's slice of a validated tenant configuration."""
        from oratio.channels.lifecycle import MessagingWording

        text = MessagingWording.from_tenant(tenant)
        return cls(
            text_paused_message=text.paused_message,
            text_closed_message=text.closed_message,
            tenant_id=tenant.tenant_id,
            hours=tenant.business.hours,
            max_concurrent_calls=tenant.limits.max_concurrent_calls,
            greeting=tenant.greeting,
            closed_message=tenant.closed_message,
            paused_message=tenant.paused_message,
            unavailable_message=tenant.unavailable_message,
            voice_id=tenant.voice.voice_id,
            default_tier=tenant.voice.default_tier,
            call_slots=tenant.limits.call_slots,
            monthly_budget_usd=tenant.agent.monthly_budget_usd,
            budget=tenant.budget,
            budget_message=tenant.budget_voice_message,
            recording=tenant.recording.call_recording,
            recording_notice=tenant.recording.caller_notice if tenant.recording.call_recording else "",
        )

    def to_env(self) -> str:
        """Compact JSON for the `ORATIO_ROUTING_PROFILE` environment variable (4 KB budget for all vars)."""
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_env(cls, value: str) -> RoutingProfile:
        """Parse what `to_env` produced; raises pydantic's ValidationError on a bad value."""
        return cls.model_validate_json(value)

    def message_for(self, route: Route, reason: RouteReason | None = None, *, text: bool = False) -> str:
        """The sentence the caller hears (or a chat/SMS customer reads) first on a route."""
        if reason is RouteReason.BUDGET_EXHAUSTED:
            return self.budget_message
        match route:
            case Route.AGENT:
                return self.greeting
            case Route.HUMAN:
                return self.budget_message
            case Route.CLOSED:
                return self.closed_message
            case Route.PAUSED:
                return (self.text_paused_message if text else None) or self.paused_message
            case Route.UNAVAILABLE:
                return (self.text_closed_message if text else None) or self.unavailable_message


class RoutingDecision(BaseModel):
    """The router's answer for one contact: the route, why, and what to say in which voice."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str
    route: Route
    reason: RouteReason
    agent_id: str | None = None
    message: str = Field(description="spoken first: the greeting on the agent route, else the route's message")
    greeting: str = Field(description="the tenant greeting, for the bot's opening turn on the agent route")
    voice_id: str
    voice_tier: str
    budget_state: BudgetState = BudgetState.OK
    closed_message: str = Field(default="", description="said if a transfer finds the human team closed")
    recording: bool = False
    recording_notice: str = ""
    month_to_date_usd: float | None = Field(default=None, description="the spend the budget check read")
    channel: str = Field(default="voice", description="voice, chat or sms: what the flow passes on to the bot")

    @classmethod
    def for_route(
        cls,
        profile: RoutingProfile,
        route: Route,
        reason: RouteReason,
        agent_id: str | None = None,
        budget_state: BudgetState = BudgetState.OK,
        *,
        channel: str = "voice",
    ) -> RoutingDecision:
        """Build the decision for a route with the tenant's wording (spoken, or written on chat and SMS) and voice."""
        return cls(
            tenant_id=profile.tenant_id,
            route=route,
            reason=reason,
            agent_id=agent_id,
            message=profile.message_for(route, reason, text=channel in TEXT_CHANNELS),
            greeting=profile.greeting,
            voice_id=profile.voice_id,
            voice_tier=profile.default_tier,
            budget_state=budget_state,
            closed_message=profile.closed_message,
            # Only a call that goes on to a conversation (with the agent or a person) is recorded.
            recording=profile.recording and route in (Route.AGENT, Route.HUMAN),
            recording_notice=profile.recording_notice,
            channel=channel,
        )

    @classmethod
    def failure(cls, reason: RouteReason, profile: RoutingProfile | None = None) -> RoutingDecision:
        """The unavailable answer given when the router itself fails; works even without a profile."""
        if profile is not None:
            return cls.for_route(profile, Route.UNAVAILABLE, reason)
        return cls(
            tenant_id="",
            route=Route.UNAVAILABLE,
            reason=reason,
            message=FALLBACK_UNAVAILABLE_MESSAGE,
            greeting="",
            voice_id="",
            voice_tier="",
        )

    def to_connect_attributes(self) -> dict[str, str]:
        """A flat map of strings: Amazon Connect rejects nested values and nulls in a Lambda response."""
        return {
            "route": self.route.value,
            "reason": self.reason.value,
            "agent_id": self.agent_id or "",
            "message": self.message,
            "greeting": self.greeting,
            "voice_id": self.voice_id,
            "voice_tier": self.voice_tier,
            "tenant_id": self.tenant_id,
            "budget_state": self.budget_state.value,
            "closed_prompt": self.closed_message,
            "recording": "on" if self.recording else "off",
            "recording_notice": self.recording_notice if self.recording else "",
            # A transfer the router decides carries its reason to the agent workspace and the whisper.
            "handoff_reason": "monthly budget reached" if self.route is Route.HUMAN else "",
            "channel": self.channel,
        }


def _worst_state(*checks: BudgetCheck | None) -> BudgetState:
    order = list(BudgetState)
    return max((c.state for c in checks if c is not None), key=order.index, default=BudgetState.OK)


def decide_route(
    profile: RoutingProfile,
    agent: Agent | None,
    now: datetime,
    *,
    has_capacity: bool = True,
    budget: BudgetCheck | None = None,
    agent_budget: BudgetCheck | None = None,
    channel: str = "voice",
) -> RoutingDecision:
    """Apply the routing policy, in order: known number, agent status, business hours, budget, capacity.

    `agent` is the agent the dialed number resolves to (None when unknown or owned by another tenant);
    `now` must be timezone-aware. Capacity is enforced atomically by the session store, so the use case
    first decides with `has_capacity=True` and asks again with False when the store refuses the slot.
    `budget` is the month so far (None: unknown, and a call is never refused for a failed read): at the budget
    the caller goes to a person (or hears the budget message, per `budget.at_budget_voice`). `agent_budget` is
    the agent's own share of it (None: none of its own, or unread): whichever stands worse decides.
    Chat and SMS contacts are answered around the clock and hold no line, so hours and capacity apply to
    calls only; their notices are the written ones.
    """

    def route(
        to: Route, reason: RouteReason, agent_id: str | None = None, state: BudgetState = BudgetState.OK
    ) -> RoutingDecision:
        return RoutingDecision.for_route(profile, to, reason, agent_id, state, channel=channel)

    if agent is None or agent.vendor_id != profile.tenant_id:
        return route(Route.UNAVAILABLE, RouteReason.UNKNOWN_NUMBER)
    if agent.status is AgentStatus.PAUSED:
        return route(Route.PAUSED, RouteReason.AGENT_PAUSED, agent.agent_id)
    if agent.status is not AgentStatus.ACTIVE:
        return route(Route.UNAVAILABLE, _INACTIVE_REASONS[agent.status], agent.agent_id)
    text = channel in TEXT_CHANNELS
    if not text and not profile.hours.is_open(now):
        return route(Route.CLOSED, RouteReason.OUTSIDE_BUSINESS_HOURS, agent.agent_id)
    state = _worst_state(budget, agent_budget)
    if state is BudgetState.EXHAUSTED:
        # A chat or SMS has no human voice queue to go to: it reads the budget message.
        to_person = profile.budget.at_budget_voice == "human_queue" and not text
        to = Route.HUMAN if to_person else Route.UNAVAILABLE
        decision = route(to, RouteReason.BUDGET_EXHAUSTED, agent.agent_id, state)
    elif not text and not has_capacity:
        decision = route(Route.UNAVAILABLE, RouteReason.OVER_CAPACITY, agent.agent_id, state)
    else:
        decision = route(Route.AGENT, RouteReason.ACCEPTED, agent.agent_id, state)
    if budget is not None:
        decision = decision.model_copy(update={"month_to_date_usd": budget.month_to_date_usd})
    return decision
