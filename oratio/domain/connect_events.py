"""Amazon Connect's Lambda input (`ContactFlowEvent`) as pydantic models.

Shape per the Amazon Connect administrator guide ("Invoke Lambda functions", function input). AWS adds
fields over time, so unknown keys are ignored rather than rejected; only what Oratio reads is required.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.domain.calls import InboundCall


class _AwsEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


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
        """The router's view of the contact; raises ValueError if there is no valid dialed number.

        The dialed number is the system endpoint's address. Flows for channels without one (chat) may pass
        it as the `dialed_number` parameter of the Invoke Lambda block.
        """
        data = self.details.contact_data
        system = data.system_endpoint.address if data.system_endpoint else None
        dialed = system or self.details.parameters.get("dialed_number")
        if not dialed:
            raise ValueError("the contact has no dialed number (SystemEndpoint.Address)")
        caller = data.customer_endpoint.address if data.customer_endpoint else None
        # pydantic's ValidationError is a ValueError: a malformed number surfaces the same way.
        return InboundCall(
            contact_id=data.contact_id,
            channel=data.channel.lower(),
            dialed_number=dialed,
            caller_number=caller or None,
        )
