"""ElizaOS interop: a vendor already running ElizaOS agents hands a conversation to Oratio.

`POST /api/v1/webhooks/elizaos` takes the product brief's message shape (`platform`, `agent_id`, `message`, `user_id`,
`timestamp`) and answers its response shape (`message`, `agent_id`, `channel`, `context_updated`) from the same agent
the vendor's other channels use — its lifecycle, its definition, the customer's cross-channel context.

There is no token on this route (ElizaOS cannot sign in to Cognito); each request is signed with a secret the vendor
set through the vendor API (`PUT /api/v1/webhooks/elizaos/secret`):

    X-Oratio-Vendor:    <vendor id>
    X-Oratio-Timestamp: <unix seconds>
    X-Oratio-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>", keyed with the secret>

A timestamp more than five minutes off is refused (a replay outside the window); a replay inside it is answered
with the first answer, the agent not run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import from_json

from oratio.channels.ports import LedgerState, MessageLedger
from oratio.channels.signatures import SHA256_PREFIX, SignatureError
from oratio.channels.turns import ChannelProfile, MessagingTurns, customer_identity, messaging_session_id
from oratio.config.tenant import TENANT_ID_PATTERN, Channel
from oratio.domain.agents import AGENT_ID_PATTERN, Agent
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.calls import CallSession
from oratio.ports import CallSessionStore

logger = logging.getLogger(__name__)

VENDOR_HEADER = "x-oratio-vendor"
TIMESTAMP_HEADER = "x-oratio-timestamp"
SIGNATURE_HEADER = "x-oratio-signature"
MAX_SKEW_SECONDS = 300
LEDGER_LEASE_SECONDS = 60.0
ELIZAOS_ENDPOINT = "elizaos"  # what the conversation record names as the address it came in on
PLATFORMS: dict[str, Channel] = {
    "instagram": Channel.INSTAGRAM,
    "whatsapp": Channel.WHATSAPP,
    "facebook": Channel.FACEBOOK,
    "twitter": Channel.X,
    "x": Channel.X,
}


class ElizaMessage(BaseModel):
    """The brief's ElizaOS webhook body. Extra fields an ElizaOS plugin adds are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, defer_build=True)

    platform: Literal["instagram", "whatsapp", "facebook", "twitter", "x"]
    agent_id: str = Field(pattern=AGENT_ID_PATTERN)
    message: str = Field(min_length=1, max_length=8_000)
    user_id: str = Field(min_length=1, max_length=128)
    timestamp: AwareDatetime | None = None

    @field_validator("platform", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class ElizaReply(BaseModel):
    """The brief's response: the agent's reply, for the ElizaOS plugin to send on its platform."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    message: str
    agent_id: str
    channel: Literal["instagram", "whatsapp", "facebook", "twitter", "x"]
    context_updated: bool


class UnknownAgent(Exception):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"agent {agent_id!r} was not found")
        self.agent_id = agent_id


class ReplayInProgress(Exception):
    """The same signed request is being answered right now."""


class ElizaTenants(Protocol):
    """Per vendor: its webhook secret, and what its messaging turns need (the tenant's profile, its agent)."""

    async def secret(self, vendor_id: str) -> str | None: ...

    async def turns(self, vendor_id: str) -> tuple[ChannelProfile, MessagingTurns] | None: ...


class AgentLookup(Protocol):
    def get_agent(self, vendor_id: str, agent_id: str) -> Agent | None: ...


def _session(vendor_id: str, session_id: str, message: ElizaMessage, channel: Channel, at: datetime) -> CallSession:
    return CallSession(
        tenant_id=vendor_id,
        contact_id=session_id,
        agent_id=message.agent_id,
        channel=channel.value,
        dialed_number=ELIZAOS_ENDPOINT,
        route=Route.AGENT,
        reason=RouteReason.ACCEPTED,
        voice_tier="",
        started_at=at,
        counted_against_limit=False,
    )


def eliza_signature(secret: str, timestamp: str, body: bytes) -> str:
    return SHA256_PREFIX + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class MissingElizaSignature(SignatureError):
    """One of the three headers is missing (401)."""


class ElizaInterop:
    """The ElizaOS webhook use case (platform-wide: the vendor comes from the signed header)."""

    def __init__(
        self,
        *,
        tenants: ElizaTenants,
        agents: AgentLookup,
        ledger: MessageLedger,
        sessions: CallSessionStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenants = tenants
        self._agents = agents
        self._ledger = ledger
        self._sessions = sessions
        self._clock = clock

    async def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """The vendor of a correctly signed request, else `SignatureError` (nothing of the body is read)."""
        lower = {k.lower(): v for k, v in headers.items()}
        vendor, stamp, signature = (
            lower.get(h, "").strip() for h in (VENDOR_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
        )
        if not (vendor and stamp and signature):
            raise MissingElizaSignature("X-Oratio-Vendor, X-Oratio-Timestamp and X-Oratio-Signature are required")
        if not re.fullmatch(TENANT_ID_PATTERN, vendor):
            raise SignatureError("X-Oratio-Vendor is not a vendor id")
        try:
            sent = float(stamp)
        except ValueError as e:
            raise SignatureError("X-Oratio-Timestamp is not unix seconds") from e
        if abs(self._clock().timestamp() - sent) > MAX_SKEW_SECONDS:
            raise SignatureError("X-Oratio-Timestamp is more than five minutes off")
        secret = await self._tenants.secret(vendor)
        if secret is None:
            raise SignatureError("no ElizaOS webhook secret is set for this vendor")
        if not hmac.compare_digest(eliza_signature(secret, stamp, body).encode(), signature.lower().encode()):
            raise SignatureError("X-Oratio-Signature does not match")
        return vendor

    async def handle(self, vendor_id: str, signature: str, message: ElizaMessage) -> ElizaReply:
        """Answer one verified message (once per signature: a replay gets the first answer)."""
        key = hashlib.sha256(f"elizaos|{signature}".encode()).hexdigest()
        now = self._clock()
        entry = await self._ledger.begin(vendor_id, key, now, LEDGER_LEASE_SECONDS)
        if entry.state is LedgerState.BUSY:
            raise ReplayInProgress("this request is being answered")
        if entry.state is not LedgerState.NEW and entry.parts:
            return ElizaReply.model_validate_json(entry.parts[0])
        try:
            reply = await self._answer(vendor_id, message, now)
        except BaseException:
            await self._ledger.release(vendor_id, key)
            raise
        await self._ledger.answered(vendor_id, key, [reply.model_dump_json()], now)
        await self._ledger.done(vendor_id, key, now)
        return reply

    async def _open_session(
        self, vendor_id: str, session_id: str, message: ElizaMessage, channel: Channel, at: datetime
    ) -> None:
        """The conversation's record, so it is listed with the agent's conversations (the first message opens it)."""
        if self._sessions is None:
            return
        try:
            await asyncio.to_thread(self._sessions.open, _session(vendor_id, session_id, message, channel, at), 1)
        except Exception:
            logger.exception("opening the ElizaOS conversation record failed")

    async def _answer(self, vendor_id: str, message: ElizaMessage, now: datetime) -> ElizaReply:
        resolved = await self._tenants.turns(vendor_id)
        agent = await asyncio.to_thread(self._agents.get_agent, vendor_id, message.agent_id)
        if resolved is None or agent is None:
            raise UnknownAgent(message.agent_id)
        _, turns = resolved
        channel = PLATFORMS[message.platform]
        at = message.timestamp or now
        session_id = messaging_session_id(channel, f"elizaos:{message.agent_id}", message.user_id, at)
        customer = customer_identity(channel, message.user_id)
        await self._open_session(vendor_id, session_id, message, channel, at)
        reply = await turns.reply(
            agent=agent,
            channel=channel,
            customer=customer,
            session_id=session_id,
            text=message.message,
            agent_id=message.agent_id,
        )
        return ElizaReply(
            message=reply.text,
            agent_id=message.agent_id,
            channel=message.platform,
            context_updated=reply.context_updated,
        )


class ElizaBodyError(ValueError):
    """The signed body is not the brief's message; `problems` name the failing fields."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        super().__init__("the body is not an ElizaOS message: " + ", ".join(field for field, _, _ in problems))
        self.problems = problems


def parse_message(body: bytes) -> ElizaMessage:
    """The body as the brief's message; `ElizaBodyError` names what is wrong."""
    try:
        # pydantic-core's parser refuses nesting past its recursion limit (json.loads would exhaust the stack).
        payload = from_json(body)
    except ValueError:
        raise ElizaBodyError([("body", "the body is not valid JSON", "json_invalid")]) from None
    if not isinstance(payload, dict):
        raise ElizaBodyError([("body", "the body must be a JSON object", "model_type")])
    try:
        return ElizaMessage.model_validate(payload)
    except ValidationError as e:
        raise ElizaBodyError(
            [
                ("body." + ".".join(str(p) for p in err["loc"]), str(err["msg"]), str(err["type"]))
                for err in e.errors(include_url=False, include_input=False)
            ]
        ) from e
