"""Amazon Connect contact events and what Oratio does with them: a contact's DISCONNECTED event closes its
call session and gives back its concurrent-call slot, once.

Event shape per the Amazon Connect administrator guide, "Amazon Connect contact events" (the contact events
data model and the sample event for a disconnected voice call), as EventBridge delivers it: the envelope
(`source` aws.connect, `detail-type` "Amazon Connect Contact Event") around a camel-case `detail`. AWS adds
fields and event types over time; unknown keys are ignored, and so are event types Oratio does not act on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.domain.calls import CallSession, CallStatus, CloseOutcome

if TYPE_CHECKING:
    from oratio.ports import CallSessionStore

CONTACT_EVENT_SOURCE = "aws.connect"
CONTACT_EVENT_DETAIL_TYPE = "Amazon Connect Contact Event"
DISCONNECTED = "DISCONNECTED"
METER_MINUTES_ACTION = "meter_minutes"

logger = logging.getLogger(__name__)

# Set by the CDK construct that deploys the call-events function.
TENANT_ID_ENV_VAR = "ORATIO_TENANT_ID"
CONNECT_INSTANCE_ARN_ENV_VAR = "ORATIO_CONNECT_INSTANCE_ARN"
PHONE_NUMBER_COUNTRY_ENV_VAR = "ORATIO_PHONE_NUMBER_COUNTRY"  # the claimed number, for telephony rates
PHONE_NUMBER_TYPE_ENV_VAR = "ORATIO_PHONE_NUMBER_TYPE"


class _AwsEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class ContactEventDetail(_AwsEvent):
    """`detail` of a contact event: which contact, in which instance, and what happened to it."""

    event_type: str = Field(min_length=1, alias="eventType", description="INITIATED, ..., DISCONNECTED, ...")
    contact_id: str = Field(min_length=1, max_length=256, alias="contactId")
    instance_arn: str = Field(min_length=1, alias="instanceArn")
    channel: str | None = Field(default=None, alias="channel", description="VOICE, CHAT, TASK (any case)")
    initiation_method: str | None = Field(default=None, alias="initiationMethod")
    initial_contact_id: str | None = Field(default=None, alias="initialContactId")
    previous_contact_id: str | None = Field(default=None, alias="previousContactId")
    initiation_timestamp: AwareDatetime | None = Field(default=None, alias="initiationTimestamp")
    connected_to_system_timestamp: AwareDatetime | None = Field(default=None, alias="connectedToSystemTimestamp")
    disconnect_timestamp: AwareDatetime | None = Field(default=None, alias="disconnectTimestamp")
    disconnect_reason: str | None = Field(default=None, alias="disconnectReason")


class ConnectContactEvent(_AwsEvent):
    """An Amazon Connect contact event as an EventBridge rule delivers it to a Lambda target."""

    id: str = Field(min_length=1, description="EventBridge event id; the same on a redelivery")
    source: Literal["aws.connect"]
    detail_type: Literal["Amazon Connect Contact Event"] = Field(alias="detail-type")
    time: AwareDatetime = Field(description="when EventBridge received the event")
    account: str | None = None
    region: str | None = None
    resources: list[str] = Field(default_factory=list)
    detail: ContactEventDetail

    @property
    def contact_id(self) -> str:
        """The contact the event is about: the call session's key and the log correlation id."""
        return self.detail.contact_id

    @property
    def ended_at(self) -> datetime:
        """When the contact ended: its disconnect timestamp, else the event's own time."""
        return self.detail.disconnect_timestamp or self.time


class ContactEventAction(StrEnum):
    """What handling one contact event did."""

    CLOSED = "closed"  # the session was open: now closed, its slot (if it held one) given back
    ALREADY_CLOSED = "already_closed"  # a redelivery, or another path ended it first: nothing changed
    UNKNOWN_CONTACT = "unknown_contact"  # the router never saw the contact (e.g. outbound, transferred)
    IGNORED_EVENT_TYPE = "ignored_event_type"  # not an end of contact
    OTHER_INSTANCE = "other_instance"  # another tenant's Connect instance: not ours to touch


@dataclass(frozen=True, slots=True)
class ContactEventResult:
    """Outcome of one contact event; `session` is the session as stored afterwards, when there is one."""

    action: ContactEventAction
    session: CallSession | None = None

    @property
    def released_slot(self) -> bool:
        """Whether this event gave a concurrent-call slot back to the tenant."""
        return (
            self.action is ContactEventAction.CLOSED and self.session is not None and self.session.counted_against_limit
        )


class CallCosts(Protocol):
    """What a call cost: its conversation's cost breakdown, as every path metered it."""

    def total_usd(self, tenant_id: str, contact_id: str) -> float: ...


class ChargeOnce(Protocol):
    """Claims a one-time action of a contact (metering its minutes, analysing it) so a redelivered event
    cannot do it twice."""

    def claim(self, tenant_id: str, contact_id: str, action: str) -> bool:
        """True for the first claim of (contact, action), False ever after."""
        ...


class CallMinutesMeter(Protocol):
    """Books a voice call's Connect and telephony minutes (estimated from Connect's timestamps)."""

    def meter_minutes(
        self, tenant_id: str, contact_id: str, agent_id: str | None, seconds: float, at: datetime
    ) -> None: ...


class CallEndRecorder:
    """Closes a tenant's call sessions when Amazon Connect reports their contacts disconnected.

    Idempotent per contact: EventBridge and Lambda deliver at least once, and the store's `close` flips a
    session from open to closed (and releases its slot) only once, atomically. With `costs`, the closed
    session carries the call's total cost; a cost that cannot be read never keeps a session open.
    """

    def __init__(
        self,
        tenant_id: str,
        instance_arn: str,
        sessions: CallSessionStore,
        costs: CallCosts | None = None,
        *,
        minutes: CallMinutesMeter | None = None,
        once: ChargeOnce | None = None,
    ) -> None:
        self._tenant_id = tenant_id
        self._instance_arn = instance_arn
        self._sessions = sessions
        self._costs = costs
        self._minutes = minutes
        self._once = once

    @property
    def tenant_id(self) -> str:
        """The tenant whose sessions this recorder closes."""
        return self._tenant_id

    def handle(self, event: ConnectContactEvent) -> ContactEventResult:
        """Close the contact's session on DISCONNECTED for this tenant's instance; ignore anything else."""
        detail = event.detail
        if detail.event_type != DISCONNECTED:
            return ContactEventResult(ContactEventAction.IGNORED_EVENT_TYPE)
        if detail.instance_arn != self._instance_arn:
            return ContactEventResult(ContactEventAction.OTHER_INSTANCE)
        # Read first to tell a redelivery from the first delivery (and to skip summing its cost); the close
        # itself stays conditional, so of two deliveries racing, only the one that flips the session reports
        # CLOSED and gives the slot back: the other reports ALREADY_CLOSED, and the metrics count one close.
        stored = self._sessions.get(self._tenant_id, detail.contact_id)
        if stored is None:
            return ContactEventResult(ContactEventAction.UNKNOWN_CONTACT)
        if stored.status is CallStatus.CLOSED:
            return ContactEventResult(ContactEventAction.ALREADY_CLOSED, stored)
        self._meter_minutes(event, stored)
        result = self._sessions.close(
            self._tenant_id,
            detail.contact_id,
            event.ended_at,
            outcome=detail.disconnect_reason,
            total_cost_usd=self._total_cost(detail.contact_id),
        )
        match result.outcome:
            case CloseOutcome.CLOSED:
                return ContactEventResult(ContactEventAction.CLOSED, result.session)
            case CloseOutcome.UNKNOWN:
                return ContactEventResult(ContactEventAction.UNKNOWN_CONTACT)
            case _:
                return ContactEventResult(ContactEventAction.ALREADY_CLOSED, result.session)

    def _meter_minutes(self, event: ConnectContactEvent, session: CallSession) -> None:
        """Book the call's Connect voice and telephony minutes once (a redelivery finds the claim taken)."""
        if self._minutes is None or self._once is None or session.channel != "voice":
            return
        detail = event.detail
        start = detail.initiation_timestamp or session.started_at
        seconds = max(0.0, (event.ended_at - start).total_seconds())
        try:
            if self._once.claim(self._tenant_id, detail.contact_id, METER_MINUTES_ACTION):
                self._minutes.meter_minutes(
                    self._tenant_id, detail.contact_id, session.agent_id, seconds, event.ended_at
                )
        except Exception:
            logger.exception("the call's minutes could not be metered; closing without them")

    def _total_cost(self, contact_id: str) -> float | None:
        return summed_cost(self._costs, self._tenant_id, contact_id)


def summed_cost(costs: CallCosts | None, tenant_id: str, contact_id: str) -> float | None:
    """The call's total cost for its closed record; None without `costs`, or when it cannot be read (logged): a
    cost that cannot be summed never keeps a session open."""
    if costs is None:
        return None
    try:
        return round(costs.total_usd(tenant_id, contact_id), 8)
    except Exception:
        logger.exception("the call's cost could not be summed; closing without it")
        return None
