"""The vendor API's channel and customer routes, registered on the vendor API app beside the agent, version and
resource routes (`register(app, ctx)` in lambdas/vendor_api/handler.py):

- `PUT  /api/v1/agents/{agent_id}/channels/{channel}`   link a platform account (secrets to Secrets Manager)
- `POST /api/v1/agents/{agent_id}/chat`                  start a web chat (StartChatContact) for a site's widget
- `GET  /api/v1/customers/{kind}/{value}`                a customer's profile: identities, recent conversations
- `POST /api/v1/customers/{kind}/{value}/identities`     link another identity to that customer (the vendor vouches)
- `PUT  /api/v1/webhooks/elizaos/secret`                 the secret ElizaOS signs its webhook calls with

`POST /api/v1/webhooks/elizaos` itself is `webhook_router`: it carries no token (ElizaOS signs instead), so API
Gateway routes it, without the Cognito authorizer, to its own function (lambdas/elizaos_webhook); the vendor API
includes it too only so the published OpenAPI document describes it.

The vendor id always comes from the authorizer (`ctx.vendor_id()`), never from a body. Routes are thin: validate,
call one use case; the channel errors' statuses are added to the API's one error table
(`oratio.vendors.api.responses`), and their documentation is the shared one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any, Literal, Protocol

import httpx
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from oratio.agent.ports import CustomerContext
from oratio.channels.activation import (
    AccountInUse,
    ChannelActivation,
    ChannelFieldsMissing,
    ChannelLink,
    ChannelNotLinkable,
    CredentialsRefused,
    PlatformUnavailable,
)
from oratio.channels.ports import ChannelBindings, ChannelSecrets, PlatformClient, SecretUnavailableError
from oratio.channels.web_chat import (
    ChatNotActive,
    ChatStarter,
    ChatUnavailable,
    WebChatRequest,
    WebChats,
    WebChatSession,
)
from oratio.config.tenant import Channel
from oratio.customers.identity import IdentityError, identity_key
from oratio.customers.ports import ClaimStore, CustomerLinks
from oratio.tables import CUSTOMER_CONTEXT
from oratio.vendors.api.context import (
    BASE,
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    SECURITY,
    AgentId,
    RouteContext,
)
from oratio.vendors.api.responses import json_error, ok, unavailable
from oratio.vendors.errors import NotFound, VendorApiError
from oratio.vendors.models import ChannelState, ErrorBody
from oratio.vendors.ports import AgentRepository, TenantDirectory

IdentityKind = Literal["phone", "whatsapp", "sms", "email", "instagram", "facebook", "x", "chat"]
LINKABLE_CHANNELS = Literal["whatsapp", "instagram", "facebook", "x", "twitter", "sms", "voice", "chat"]


# ------------------------------------------------------------------------------------ wire models
class CustomerIdentityBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=256)


class CustomerConversationView(BaseModel):
    """One of a customer's recent conversations, on any channel, with its summary."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    channel: str
    session_id: str
    at: datetime
    summary: str


class CustomerView(BaseModel):
    """A customer as the tenant's agents know them on every channel."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    customer_key: str = Field(description="the profile key: phone:+<E.164>, email:…, or a platform id")
    identities: list[str] = Field(description="every identity that resolves to this customer")
    display_name: str | None
    recent_conversations: list[CustomerConversationView]
    qualification_score: float
    updated_at: datetime | None


class ElizaSecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    secret: SecretStr = Field(min_length=32, max_length=512, description="random, at least 32 characters")


class Stored(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    status: Literal["stored"] = "stored"


# ------------------------------------------------------------------------------------- composition
class VendorSecret(Protocol):
    """One secret per vendor (the ElizaOS webhook secret): read and write."""

    async def get(self, vendor_id: str) -> str | None: ...

    async def put(self, vendor_id: str, value: str) -> None: ...


@dataclass
class ChannelServices:
    """What the routes stand on; built once per container (`services`), replaced whole in tests."""

    agents: AgentRepository
    tenants: TenantDirectory
    secrets: ChannelSecrets
    bindings: ChannelBindings
    customers: CustomerLinks
    claims: ClaimStore
    chats: ChatStarter
    eliza_secret: VendorSecret
    platforms: Callable[[httpx.AsyncClient], Mapping[Channel, PlatformClient]]
    http_transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@cache
def build_services() -> ChannelServices:
    """The vendor API's channel services over DynamoDB, SSM, Secrets Manager, Connect and the platforms' HTTP APIs."""
    from oratio.adapters.dynamodb import dynamodb_client
    from oratio.adapters.dynamodb_agent import DynamoDBCustomerContextStore
    from oratio.adapters.dynamodb_vendor import DynamoDBAgentRepository
    from oratio.adapters.vendor_aws import SsmTenantDirectory
    from oratio.channels.adapters.aws import (
        DynamoDBChannelBindings,
        SecretsManagerChannelSecrets,
        SecretsManagerVendorSecret,
    )
    from oratio.channels.adapters.connect_chat import ConnectChatStarter
    from oratio.customers.adapters.dynamodb import DynamoDBClaimStore
    from oratio.vendors.settings import ApiSettings

    settings = ApiSettings.from_environ()
    customer_table = os.environ.get(CUSTOMER_CONTEXT.env_var, "")
    client = dynamodb_client()
    return ChannelServices(
        agents=DynamoDBAgentRepository(
            settings.agents_table,
            settings.tenant_state_table,
            settings.agent_definitions_table,
            deleted_retention_days=settings.deleted_retention_days,
            client=client,
        ),
        tenants=SsmTenantDirectory(settings.tenant_parameter_prefix),
        secrets=SecretsManagerChannelSecrets(max_age_seconds=0),  # the API reads what it is about to change
        bindings=DynamoDBChannelBindings(settings.tenant_state_table, client=client),
        customers=DynamoDBCustomerContextStore(customer_table, client=client),
        claims=DynamoDBClaimStore(customer_table, client=client),
        chats=ConnectChatStarter(),
        eliza_secret=SecretsManagerVendorSecret(),
        platforms=platform_clients,
    )


def platform_clients(http: httpx.AsyncClient) -> dict[Channel, PlatformClient]:
    from oratio.channels.adapters.meta_graph import MetaGraphClient
    from oratio.channels.adapters.x_api import XApiClient

    clients: dict[Channel, PlatformClient] = {
        channel: MetaGraphClient(channel, http) for channel in (Channel.WHATSAPP, Channel.FACEBOOK, Channel.INSTAGRAM)
    }
    clients[Channel.X] = XApiClient(http)
    return clients


# Tests replace this to run the routes over other adapters (moto, stubbed platforms).
services: Callable[[], ChannelServices] = build_services


def _run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


# ------------------------------------------------------------------------------------------ routes
class InvalidIdentity(VendorApiError):
    code = "validation_error"


def _customer_key(kind: str, value: str) -> str:
    try:
        return identity_key(kind, value)
    except IdentityError as e:
        raise InvalidIdentity(str(e)) from e


def _customer_view(profile: CustomerContext) -> CustomerView:
    return CustomerView(
        customer_key=profile.customer_key,
        identities=[profile.customer_key, *profile.linked_identities],
        display_name=profile.display_name,
        recent_conversations=[
            CustomerConversationView(channel=c.channel, session_id=c.session_id, at=c.at, summary=c.summary)
            for c in profile.recent_conversations
        ],
        qualification_score=profile.qualification_score,
        updated_at=profile.updated_at,
    )


# The channel errors' statuses (the API's other errors map in oratio.vendors.api.responses).
CHANNEL_STATUS: dict[type[VendorApiError], HTTPStatus] = {
    InvalidIdentity: HTTPStatus.UNPROCESSABLE_ENTITY,
    ChannelFieldsMissing: HTTPStatus.UNPROCESSABLE_ENTITY,
    ChannelNotLinkable: HTTPStatus.UNPROCESSABLE_ENTITY,
    CredentialsRefused: HTTPStatus.UNPROCESSABLE_ENTITY,
    PlatformUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ChatUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    AccountInUse: HTTPStatus.CONFLICT,
    ChatNotActive: HTTPStatus.CONFLICT,
}
PLATFORM_RETRY_AFTER_SECONDS = "5"


def channel_error(error: VendorApiError) -> Response[dict[str, Any]]:
    """The API's JSON error, with the missing fields listed and a longer Retry-After for a platform outage."""
    status = next(s for kind, s in CHANNEL_STATUS.items() if isinstance(error, kind))
    body = ErrorBody(error=error.code, message=error.message)
    if isinstance(error, ChannelFieldsMissing):
        body.details = error.details
    retry = {"Retry-After": PLATFORM_RETRY_AFTER_SECONDS} if status is HTTPStatus.SERVICE_UNAVAILABLE else {}
    return json_error(status, body, retry)


def register(app: APIGatewayRestResolver, ctx: RouteContext) -> None:
    """The channel, web chat, customer and ElizaOS-secret routes, and their errors' answers."""
    for kind in CHANNEL_STATUS:
        app.exception_handler(kind)(channel_error)

    @app.exception_handler(SecretUnavailableError)  # type: ignore[untyped-decorator]
    def _secrets_unavailable(error: SecretUnavailableError) -> Response[dict[str, Any]]:
        return unavailable()

    @app.put(
        f"{BASE}/agents/<agent_id>/channels/<channel>",
        summary="Link a platform account to an agent (verifies it; secrets are stored, never returned)",
        responses=ok(200, "The channel, now active", 404, 409),
        security=SECURITY,
        tags=["channels"],
    )
    def link_channel(
        agent_id: AgentId,
        channel: Annotated[LINKABLE_CHANNELS, Path(description="whatsapp, instagram, facebook, x (or twitter), sms")],
        body: Annotated[ChannelLink, Body()],
    ) -> ChannelState:
        target = Channel("x" if channel == "twitter" else channel)
        vendor = ctx.vendor_id()
        s = services()

        async def link() -> ChannelState:
            async with httpx.AsyncClient(transport=s.http_transport) as http:
                activation = ChannelActivation(
                    agents=s.agents,
                    tenants=s.tenants,
                    secrets=s.secrets,
                    bindings=s.bindings,
                    platforms=s.platforms(http),
                    clock=s.clock,
                )
                return await activation.link(vendor, agent_id, target, body)

        return _run(link())

    @app.post(
        f"{BASE}/agents/<agent_id>/chat",
        summary="Start a web chat with the agent (Amazon Connect StartChatContact); answers the participant token",
        status_code=201,
        responses=ok(201, "The chat contact and the participant token", 404, 409),
        security=SECURITY,
        tags=["channels"],
    )
    def start_web_chat(
        agent_id: AgentId,
        body: Annotated[WebChatRequest, Body()],
        idempotency_key: Annotated[
            str | None,
            Header(alias=IDEMPOTENCY_HEADER, pattern=IDEMPOTENCY_KEY_PATTERN, description="passed as ClientToken"),
        ] = None,
    ) -> WebChatSession:
        s = services()
        chats = WebChats(agents=s.agents, tenants=s.tenants, starter=s.chats)
        return _run(chats.start(ctx.vendor_id(), agent_id, body, client_token=idempotency_key))

    @app.get(
        f"{BASE}/customers/<kind>/<value>",
        summary="A customer's profile across channels (by any of their identities)",
        responses=ok(200, "OK", 404),
        security=SECURITY,
        tags=["customers"],
    )
    def get_customer(
        kind: Annotated[IdentityKind, Path()], value: Annotated[str, Path(min_length=1, max_length=256)]
    ) -> CustomerView:
        key = _customer_key(kind, value)
        profile = _run(services().customers.get(ctx.vendor_id(), key))
        if profile is None:
            raise NotFound("customer", key)
        return _customer_view(profile)

    @app.post(
        f"{BASE}/customers/<kind>/<value>/identities",
        summary="Link another identity (a social id, an email) to this customer; their conversations join the profile",
        responses=ok(200, "The customer, with the identity linked", 404),
        security=SECURITY,
        tags=["customers"],
    )
    def link_identity(
        kind: Annotated[IdentityKind, Path()],
        value: Annotated[str, Path(min_length=1, max_length=256)],
        body: Annotated[CustomerIdentityBody, Body()],
    ) -> CustomerView:
        vendor, s = ctx.vendor_id(), services()
        customer = _customer_key(kind, value)
        identity = _customer_key(body.kind, body.value)

        async def link() -> CustomerContext:
            profile = await s.customers.link(vendor, identity, customer)
            await s.claims.delete(vendor, identity)  # a pending code for this identity means nothing now
            return profile

        return _customer_view(_run(link()))

    @app.put(
        f"{BASE}/webhooks/elizaos/secret",
        summary="Set the secret ElizaOS signs POST /api/v1/webhooks/elizaos with (never returned)",
        responses=ok(200, "Stored"),
        security=SECURITY,
        tags=["elizaos"],
    )
    def set_eliza_secret(body: Annotated[ElizaSecretBody, Body()]) -> Stored:
        _run(services().eliza_secret.put(ctx.vendor_id(), body.secret.get_secret_value()))
        return Stored()
