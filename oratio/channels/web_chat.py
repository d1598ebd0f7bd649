"""Starting a web chat for an agent (`POST /api/v1/agents/{agent_id}/chat`), so a vendor's site can embed one: the
vendor's backend asks, Amazon Connect's StartChatContact starts a chat contact on the tenant's chat flow with the
agent's id (and the customer, when the site knows them) as contact attributes, and the participant token goes back
for the site's chat widget (Amazon Connect Participant Service: CreateParticipantConnection with that token)."""

from __future__ import annotations

import asyncio
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from oratio.config.tenant import E164_PATTERN, Channel
from oratio.customers.identity import identity_key
from oratio.domain.agents import AgentStatus
from oratio.vendors.errors import NotFound, TenantNotDeployed, VendorApiError
from oratio.vendors.models import ChannelStatus
from oratio.vendors.ports import AgentRepository, TenantDirectory


class WebChatRequest(BaseModel):
    """Who is chatting: the name the chat shows, and who the customer is when the vendor's site knows (a signed-in
    shopper): their email, phone or the vendor's own customer id, so the agent sees their other conversations."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    display_name: str = Field(min_length=1, max_length=256)
    customer_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    customer_phone: str | None = Field(default=None, pattern=E164_PATTERN)
    customer_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="the vendor's own")


class WebChatSession(BaseModel):
    """What the site's chat widget needs: the participant token (for CreateParticipantConnection)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    agent_id: str
    contact_id: str
    participant_id: str
    participant_token: str


class ChatStartError(Exception):
    """StartChatContact failed; `retryable` when Connect throttled or was unavailable."""

    def __init__(self, message: str, *, retryable: bool = False, missing: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.missing = missing


class ChatStarter(Protocol):
    def start(
        self,
        *,
        instance_arn: str,
        flow_arn: str,
        attributes: dict[str, str],
        display_name: str,
        client_token: str | None,
    ) -> WebChatSession: ...


class ChatNotActive(VendorApiError):
    code = "chat_not_active"


class ChatUnavailable(VendorApiError):
    code = "platform_unavailable"


class WebChats:
    def __init__(self, *, agents: AgentRepository, tenants: TenantDirectory, starter: ChatStarter) -> None:
        self._agents = agents
        self._tenants = tenants
        self._starter = starter

    async def start(
        self, vendor_id: str, agent_id: str, body: WebChatRequest, *, client_token: str | None = None
    ) -> WebChatSession:
        record = await asyncio.to_thread(self._agents.get, vendor_id, agent_id)
        if record is None or record.status is AgentStatus.DELETED:
            raise NotFound("agent", agent_id)
        chat = record.channel(Channel.CHAT)
        if chat is None or chat.status is not ChannelStatus.ACTIVE:
            raise ChatNotActive(
                f"web chat is not active for agent {agent_id!r}; add the chat channel and provision the agent first"
            )
        deployment = await asyncio.to_thread(self._tenants.deployment, vendor_id)
        if deployment.connect_instance_arn is None or deployment.chat_flow_arn is None:
            raise TenantNotDeployed(
                f"tenant {vendor_id!r} publishes no chat flow; deploy its tenant stack "
                f"(cdk deploy -c tenant={vendor_id})"
            )
        attributes = {"agent_id": agent_id, "customer": _customer_key(body)}
        try:
            session = await asyncio.to_thread(
                self._starter.start,
                instance_arn=deployment.connect_instance_arn,
                flow_arn=deployment.chat_flow_arn,
                attributes=attributes,
                display_name=body.display_name,
                client_token=client_token,
            )
        except ChatStartError as e:
            if e.missing:
                raise TenantNotDeployed(f"the tenant's chat flow is not in Amazon Connect ({e}); redeploy it") from e
            raise ChatUnavailable("Amazon Connect could not start the chat just now; retry shortly") from e
        return session.model_copy(update={"agent_id": agent_id})


def _customer_key(body: WebChatRequest) -> str:
    """The customer as the code hook takes it (contact attribute `customer`), or "" for an anonymous visitor."""
    if body.customer_email:
        return identity_key("email", body.customer_email)
    if body.customer_phone:
        return identity_key("phone", body.customer_phone)
    if body.customer_id:
        return identity_key("chat", body.customer_id)
    return ""
