"""Linking a platform account to an agent (`PUT /api/v1/agents/{agent_id}/channels/{channel}`): the vendor sends the
account's ids and secrets; one cheap platform call proves the credentials can act for the account; then the secrets
go to Secrets Manager (never echoed, never stored anywhere else), the account is bound to the agent, and the agent's
channel moves from `pending_credentials` to `active`. A refusal answers 422 with what the platform refused.

SMS is linked the same way without secrets: the tenant's End User Messaging number (imported into Connect by the
tenant stack) is bound to the agent that answers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.ports import (
    AccountTaken,
    ChannelBindings,
    ChannelSecrets,
    PlatformClient,
    PlatformError,
    PlatformRefused,
)
from oratio.config.tenant import E164_PATTERN, Channel
from oratio.domain.agents import AgentStatus
from oratio.vendors.errors import NotFound, TenantNotDeployed, VendorApiError
from oratio.vendors.models import ChannelState, ChannelStatus, FieldProblem
from oratio.vendors.ports import AgentRecord, AgentRepository, TenantDirectory

SECRET_TEXT = 4_096
ACCOUNT_ID_PATTERN = r"^[0-9A-Za-z_.-]{1,128}$"
WEBHOOK_PATHS = {
    Channel.WHATSAPP: "whatsapp",
    Channel.FACEBOOK: "facebook",
    Channel.INSTAGRAM: "instagram",
    Channel.X: "x",
}
# What each channel's link needs (besides the path's agent and channel).
REQUIRED_FIELDS: dict[Channel, tuple[str, ...]] = {
    Channel.WHATSAPP: ("phone_number_id", "access_token", "app_secret", "verify_token"),
    Channel.FACEBOOK: ("page_id", "access_token", "app_secret", "verify_token"),
    Channel.INSTAGRAM: ("instagram_account_id", "page_id", "access_token", "app_secret", "verify_token"),
    Channel.X: ("user_id", "consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    Channel.SMS: ("phone_number",),
}


class ChannelLink(BaseModel):
    """`PUT /api/v1/agents/{agent_id}/channels/{channel}`: the account and its credentials. Which fields a channel
    needs: whatsapp `phone_number_id`, `access_token`, `app_secret`, `verify_token` (`business_account_id`
    optional); facebook `page_id` + the same three; instagram `instagram_account_id`, `page_id` (the Page it is
    linked to) + the same three; x `user_id`, `consumer_key`, `consumer_secret`, `access_token`,
    `access_token_secret`; sms `phone_number` (the tenant's SMS number). Secrets are stored, never returned."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    phone_number_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN, description="WhatsApp")
    business_account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN, description="WhatsApp")
    page_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN, description="Messenger, Instagram")
    instagram_account_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN, description="Instagram")
    user_id: str | None = Field(default=None, pattern=ACCOUNT_ID_PATTERN, description="X")
    consumer_key: str | None = Field(default=None, min_length=1, max_length=256, description="X")
    phone_number: str | None = Field(default=None, pattern=E164_PATTERN, description="SMS")
    access_token: SecretStr | None = Field(default=None, min_length=8, max_length=SECRET_TEXT)
    access_token_secret: SecretStr | None = Field(default=None, min_length=8, max_length=SECRET_TEXT, description="X")
    app_secret: SecretStr | None = Field(default=None, min_length=8, max_length=SECRET_TEXT, description="Meta")
    verify_token: SecretStr | None = Field(default=None, min_length=8, max_length=256, description="Meta")
    consumer_secret: SecretStr | None = Field(default=None, min_length=8, max_length=SECRET_TEXT, description="X")

    def account_id(self, channel: Channel) -> str:
        value = {
            Channel.WHATSAPP: self.phone_number_id,
            Channel.FACEBOOK: self.page_id,
            Channel.INSTAGRAM: self.instagram_account_id,
            Channel.X: self.user_id,
            Channel.SMS: self.phone_number,
        }[channel]
        assert value is not None  # `missing_fields` checked it
        return value

    def missing_fields(self, channel: Channel) -> list[str]:
        return [name for name in REQUIRED_FIELDS[channel] if getattr(self, name) is None]


# ----------------------------------------------------------------------------------------- errors
class ChannelNotLinkable(VendorApiError):
    """Voice and web chat are not linked with credentials: they come with the tenant's Connect instance."""

    code = "channel_not_linkable"


class ChannelFieldsMissing(VendorApiError):
    """The body lacks fields the channel needs; `details` names each one."""

    code = "validation_error"

    def __init__(self, channel: Channel, missing: list[str]) -> None:
        super().__init__(f"linking {channel.value} needs {', '.join(missing)}")
        self.details = [
            FieldProblem(field=f"body.{name}", message=f"required to link {channel.value}", type="missing")
            for name in missing
        ]


class CredentialsRefused(VendorApiError):
    """The platform refused the credentials for the account (its reason is in the message)."""

    code = "credentials_refused"


class PlatformUnavailable(VendorApiError):
    """The platform could not be asked right now; nothing was stored."""

    code = "platform_unavailable"


class AccountInUse(VendorApiError):
    code = "account_in_use"

    def __init__(self, channel: Channel, account_id: str, owner: str) -> None:
        super().__init__(
            f"{channel.value} account {account_id} already answers agent {owner!r}; unlink it there (or delete that "
            "agent) first"
        )


@dataclass(frozen=True, slots=True)
class Linked:
    state: ChannelState


class ChannelActivation:
    """The vendor API's channel-linking use case over its ports."""

    def __init__(
        self,
        *,
        agents: AgentRepository,
        tenants: TenantDirectory,
        secrets: ChannelSecrets,
        bindings: ChannelBindings,
        platforms: Mapping[Channel, PlatformClient],
        clock: Callable[[], datetime],
    ) -> None:
        self._agents = agents
        self._tenants = tenants
        self._secrets = secrets
        self._bindings = bindings
        self._platforms = dict(platforms)
        self._clock = clock

    async def link(self, vendor_id: str, agent_id: str, channel: Channel, body: ChannelLink) -> ChannelState:
        record = await asyncio.to_thread(self._agents.get, vendor_id, agent_id)
        if record is None or record.status is AgentStatus.DELETED:
            raise NotFound("agent", agent_id)
        if channel in (Channel.VOICE, Channel.CHAT):
            raise ChannelNotLinkable(
                f"{channel.value} needs no credentials: it answers on the tenant's Amazon Connect instance once the "
                "agent is provisioned (POST /api/v1/agents/{agent_id}/start)"
            )
        missing = body.missing_fields(channel)
        if missing:
            raise ChannelFieldsMissing(channel, missing)
        deployment = await asyncio.to_thread(self._tenants.deployment, vendor_id)
        account_id = body.account_id(channel)
        take_from = await self._owner_to_replace(vendor_id, channel, account_id, agent_id)
        if channel is Channel.SMS:
            if deployment.sms_number is None:
                raise TenantNotDeployed(
                    f"tenant {vendor_id!r} has no SMS number in Amazon Connect: name one in connect.sms of its tenant "
                    f"file and deploy it (cdk deploy -c tenant={vendor_id})"
                )
            if deployment.sms_number != account_id:
                raise CredentialsRefused(
                    f"{account_id} is not the tenant's SMS number; the number imported into Connect is "
                    f"{deployment.sms_number}"
                )
            state = ChannelState(
                channel_type=channel,
                status=ChannelStatus.ACTIVE,
                phone_number=account_id,
                account_id=account_id,
                aws_connect_instance_id=deployment.connect_instance_arn,
                detail=f"texts to {account_id} are answered by this agent (Amazon Connect chat, SMS subtype)",
            )
        else:
            if deployment.channels_webhook_url is None:
                raise TenantNotDeployed(
                    f"tenant {vendor_id!r} publishes no channel webhook; deploy its tenant stack (cdk deploy -c "
                    f"tenant={vendor_id}) first"
                )
            webhook = deployment.channels_webhook_url.rstrip("/") + "/" + WEBHOOK_PATHS[channel]
            display = await self._store_credentials(vendor_id, agent_id, channel, account_id, body)
            state = ChannelState(
                channel_type=channel,
                status=ChannelStatus.ACTIVE,
                account_id=account_id,
                webhook_url=webhook,
                detail=f"answering as {display}; point the platform's webhook at {webhook}"
                + (" with the verify token you sent" if channel is not Channel.X else " (CRC answered automatically)"),
            )
        try:
            await self._bindings.bind(vendor_id, channel, account_id, agent_id, take_from=take_from)
        except AccountTaken as e:  # linked meanwhile by another request
            raise AccountInUse(channel, account_id, e.owner_agent_id) from e
        await asyncio.to_thread(self._save_state, record, state)
        return state

    async def _store_credentials(
        self, vendor_id: str, agent_id: str, channel: Channel, account_id: str, body: ChannelLink
    ) -> str:
        current = await self._secrets.get(vendor_id, channel, fresh=True)
        account = AccountCredentials(
            agent_id=agent_id,
            access_token=body.access_token or SecretStr(""),
            access_token_secret=body.access_token_secret,
            page_id=body.page_id if channel is Channel.INSTAGRAM else None,
        )
        accounts = dict(current.accounts) if current else {}
        accounts[account_id] = account
        secret = ChannelSecret(
            channel=channel,
            app_secret=body.app_secret,
            verify_token=body.verify_token,
            consumer_key=body.consumer_key,
            consumer_secret=body.consumer_secret,
            accounts=accounts,
        )
        try:
            verified = await self._platforms[channel].verify(secret, account_id, account)
        except PlatformRefused as e:
            raise CredentialsRefused(str(e)) from e
        except PlatformError as e:
            if e.retryable:
                raise PlatformUnavailable(
                    f"{channel.value} could not be reached to check the credentials; retry"
                ) from e
            raise CredentialsRefused(str(e)) from e
        await self._secrets.put(vendor_id, secret)
        return verified.display or account_id

    async def _owner_to_replace(self, vendor_id: str, channel: Channel, account_id: str, agent_id: str) -> str | None:
        """Checked before anything is verified or stored: an account answering another live agent stays there; one
        held by an agent that no longer exists (or was deleted) may move to this one."""
        owner = await self._bindings.agent_for(vendor_id, channel, account_id)
        if owner in (None, agent_id):
            return None
        held_by = await asyncio.to_thread(self._agents.get, vendor_id, str(owner))
        if held_by is not None and held_by.status is not AgentStatus.DELETED:
            raise AccountInUse(channel, account_id, str(owner))
        return owner

    def _save_state(self, record: AgentRecord, state: ChannelState) -> None:
        channels = [c for c in record.channels if c.channel_type is not state.channel_type]
        order = [c.channel_type for c in record.channels]
        channels.append(state)
        channels.sort(key=lambda c: order.index(c.channel_type) if c.channel_type in order else len(order))
        updated = record.model_copy(
            update={"channels": tuple(channels), "version": record.version + 1, "updated_at": self._clock()}
        )
        self._agents.update(updated, expected_version=record.version)
