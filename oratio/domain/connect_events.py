"""Amazon Connect's Lambda input (`ContactFlowEvent`) as pydantic models.

Shape per the Amazon Connect administrator guide ("Invoke Lambda functions", function input). AWS adds
fields over time, so unknown keys are ignored rather than rejected; only what Oratio reads is required.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.domain.calls import InboundCall

SUBTYPE_ATTRIBUTE = "connect:Subtype"
SMS_SUBTYPE = "connect:SMS"


class _AwsEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class ConnectEndpoint(_AwsEvent):
    """A customer or system endpoint, e.g. a phone number (`Type` TELEPHONE_NUMBER)."""

    address: str | None = Field(default=None, alias="Address")
    type: str | None = Field(default=None, alias="Type")


class ConnectQueue(_AwsEvent):
    """The contact's current queue, when it has one."""

    arn: str | None = Field(default=None, alias="ARN")
    name: str | None = Field(default=None, alias="Name")


class ConnectContactData(_AwsEvent):
    """`Details.ContactData`: who is calling, which number they dialed, and the contact's ids."""

    attributes: dict[str, str] = Field(default_factory=dict, alias="Attributes")
    channel: str = Field(alias="Channel", description="VOICE, CHAT, TASK, EMAIL, ...")
    contact_id: str = Field(min_length=1, alias="ContactId")
    customer_endpoint: ConnectEndpoint | None = Field(default=None, alias="CustomerEndpoint")
    initial_contact_id: str | None = Field(default=None, alias="InitialContactId")
    initiation_method: str | None = Field(default=None, alias="InitiationMethod")
    instance_arn: str | None = Field(default=None, alias="InstanceARN")
    previous_contact_id: str | None = Field(default=None, alias="PreviousContactId")
    queue: ConnectQueue | None = Field(default=None, alias="Queue")
    system_endpoint: ConnectEndpoint | None = Field(default=None, alias="SystemEndpoint")
    media_streams: dict[str, Any] | None = Field(default=None, alias="MediaStreams")
    language_code: str | None = Field(default=None, alias="LanguageCode")
    segment_attributes: dict[str, Any] | None = Field(default=None, alias="SegmentAttributes")

    @property
    def subtype(self) -> str | None:
        """The channel subtype (`connect:Subtype`, e.g. "connect:SMS" or "connect:Chat"), when Connect gives it."""
        value = (self.segment_attributes or {}).get(SUBTYPE_ATTRIBUTE)
        return str(value.get("ValueString")) if isinstance(value, dict) and value.get("ValueString") else None


class ConnectDetails(_AwsEvent):
    """`Details`: the contact plus the parameters the flow's Invoke Lambda block passes."""

    contact_data: ConnectContactData = Field(alias="ContactData")
    parameters: dict[str, str] = Field(default_factory=dict, alias="Parameters")


class ContactFlowEvent(_AwsEvent):
    """The event a contact flow's Invoke AWS Lambda function block sends."""

    name: Literal["ContactFlowEvent"] = Field(alias="Name")
    details: ConnectDetails = Field(alias="Details")

    @property
    def contact_id(self) -> str:
        """The contact's id: the idempotency key and log correlation id."""
        return self.details.contact_data.contact_id

    def to_inbound_call(self) -> InboundCall:
        """The router's view of the contact; raises ValueError if it names neither a number nor an agent.

        A call's dialed number is the system endpoint's address. A chat contact is either a web chat, which has
        no system endpoint (`SystemEndpoint` is null) and carries the agent it was started for (the flow passes
        it as the `agent_id` parameter, from the contact attribute the vendor API set), or an SMS (subtype
        `connect:SMS`, or a customer endpoint that is a phone number), whose system endpoint is the number texted.
        A flow may name a chat's number instead of an agent (the `dialed_number` parameter).
        """
        data = self.details.contact_data
        parameters = self.details.parameters
        system = data.system_endpoint.address if data.system_endpoint else None
        customer = data.customer_endpoint
        caller = customer.address if customer else None
        channel = data.channel.lower()
        agent_id: str | None = None
        if channel == "chat":
            texted = data.subtype == SMS_SUBTYPE or (customer is not None and customer.type == "TELEPHONE_NUMBER")
            channel = "sms" if texted and system else "chat"
            agent_id = parameters.get("agent_id") or data.attributes.get("agent_id") or None
            # A flow may also name the number the chat is for (the `dialed_number` parameter).
            dialed = system if channel == "sms" else parameters.get("dialed_number") or None
            if not dialed and not agent_id:
                raise ValueError("the chat contact names no agent (the flow's agent_id parameter) and no number")
        else:
            dialed = system or parameters.get("dialed_number")
            if not dialed:
                raise ValueError("the contact has no dialed number (SystemEndpoint.Address)")
        # pydantic's ValidationError is a ValueError: a malformed number or agent id surfaces the same way.
        return InboundCall(
            contact_id=data.contact_id,
            channel=channel,
            dialed_number=dialed,
            caller_number=caller or None,
            agent_id=agent_id,
        )
