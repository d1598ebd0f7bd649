"""Twilio calls dialled through to Amazon Connect: the hand-off from the telephony webhook's router to Connect's.

Twilio's `<Stream>` cannot carry the bridge's presigned URL, so the webhook answers a call it accepted for an agent
with `<Dial callerId=caller>` to the tenant's Connect number (`oratio/voice_bridge/webhooks.py`). Connect's inbound
flow then asks its own call router about a contact on the Connect number, which no agent may be bound to, and
from a caller it has never seen. Connect gives the router nothing from Twilio but the two numbers: the caller's
(`$.CustomerEndpoint.Address`, what Twilio presents: the `callerId`) and the one dialled
(`$.SystemEndpoint.Address`, the Connect number); there is no SIP header ingress from a PSTN `<Dial>`.

So the webhook records a hand-off keyed by exactly those two numbers: the agent, the routing decision and the
call session its router opened (which holds the call's concurrent-call slot). Connect's router takes it once,
within `CallSlotSettings.dial_through_seconds`, and in the same transaction opens the Connect contact's session in
place of the webhook's, moving the slot from one to the other: the agent, its budget share and the tenant's
concurrency are checked and counted once, at the webhook.

What the design accepts: anyone who rings the Connect number directly, presenting the accepted caller's number,
within the window and before that caller's `<Dial>` arrives, takes the hand-off; the real caller then hears the
unknown-number message. The taker gets only what the Twilio number would have given them (the same agent,
answered as that caller number, which a spoofed caller ID gets on any number). A hand-off is single-use,
short-lived and bound to one caller number and one Connect number.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.budget import BudgetState
from oratio.config.tenant import E164_PATTERN, TENANT_ID_PATTERN
from oratio.domain.call_routing import Route, RouteReason, RoutingDecision, RoutingProfile

if TYPE_CHECKING:
    from oratio.domain.calls import CallSession

# The webhook session's outcome once Connect's router took its call over.
DIALLED_THROUGH = "dialled_through_to_connect"


class DialThrough(BaseModel):
    """A call the telephony webhook's router accepted and dialled through to the Connect number."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    caller_number: str = Field(pattern=E164_PATTERN, description="as Twilio presents it to Connect (the callerId)")
    connect_number: str = Field(pattern=E164_PATTERN, description="the tenant's Connect number it is dialled to")
    provider_call_id: str = Field(min_length=1, max_length=256, description="the webhook's call session (CallSid)")
    route: Route
    reason: RouteReason
    agent_id: str | None = None
    voice_tier: str
    budget_state: BudgetState = BudgetState.OK
    expires_at: AwareDatetime = Field(description="Connect's router takes it only before this instant")

    @classmethod
    def of(
        cls,
        decision: RoutingDecision,
        profile: RoutingProfile,
        *,
        caller_number: str,
        connect_number: str,
        provider_call_id: str,
        now: datetime,
    ) -> DialThrough:
        """The hand-off of a call routed by `decision`, open for the profile's `dial_through_seconds` from `now`."""
        return cls(
            tenant_id=decision.tenant_id,
            caller_number=caller_number,
            connect_number=connect_number,
            provider_call_id=provider_call_id,
            route=decision.route,
            reason=decision.reason,
            agent_id=decision.agent_id,
            voice_tier=decision.voice_tier,
            budget_state=decision.budget_state,
            expires_at=now + timedelta(seconds=profile.call_slots.dial_through_seconds),
        )

    def decision(self, profile: RoutingProfile, channel: str) -> RoutingDecision:
        """The webhook router's decision, as Connect's router answers it for the dialled-through contact."""
        decision = RoutingDecision.for_route(
            profile, self.route, self.reason, self.agent_id, self.budget_state, channel=channel
        )
        return decision.model_copy(update={"voice_tier": self.voice_tier})


class TakeOver(StrEnum):
    """What taking a hand-off over did."""

    TAKEN = "taken"  # the contact's session replaced the webhook's, with its slot; the hand-off is used up
    GONE = "gone"  # taken meanwhile (by another contact) or expired: nothing changed
    CONTACT_EXISTS = "contact_exists"  # this contact already has a session (a retried invocation): nothing changed
    PROVIDER_CALL_ENDED = "provider_call_ended"  # the webhook's session is closed (its slot given back): unchanged


class DialThroughs(Protocol):
    """The hand-offs of dialled-through calls, shared by the webhook's router and Connect's."""

    def hand_off(self, hand_off: DialThrough, now: datetime) -> bool:
        """Record it; False when a live, untaken hand-off holds the same caller and Connect number."""
        ...

    def pending(self, tenant_id: str, caller_number: str, connect_number: str, now: datetime) -> DialThrough | None:
        """The live, untaken hand-off of this caller to this Connect number, or None."""
        ...

    def take_over(self, hand_off: DialThrough, session: CallSession, now: datetime) -> TakeOver:
        """Use the hand-off up and put `session` in place of the webhook's, atomically (the slot moves over)."""
        ...
