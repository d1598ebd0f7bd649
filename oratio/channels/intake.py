"""The webhook's use case: answer the platforms' verification checks, and take a signed delivery — signature
first, then parse, then queue — acknowledged as soon as the events are queued (the worker answers them).

The path names the channel (`/whatsapp`, `/facebook`, `/instagram`, `/x`), which names the secret whose key
checks the signature: nothing of the body is read before it is known to come from the platform.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic_core import from_json

from oratio.channels.credentials import ChannelSecret
from oratio.channels.meta import DeliveryError, parse_meta
from oratio.channels.models import WEBHOOK_CHANNELS, ParsedDelivery, QueuedEvent
from oratio.channels.ports import ChannelSecrets, MessageQueue
from oratio.channels.signatures import (
    META_SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
    SignatureError,
    meta_challenge,
    verify_meta_signature,
    verify_x_signature,
    x_crc_response,
)
from oratio.channels.x import parse_x
from oratio.config.tenant import Channel

MAX_BODY_BYTES = 1_024 * 1_024  # Meta batches up to 1,000 updates; deliveries are far below a megabyte


class MissingSignature(SignatureError):
    """No signature at all (401), as opposed to a wrong one (403)."""


class ChannelNotLinked(SignatureError):
    """No credentials are linked for this channel, so nothing from it can be verified (403)."""


@dataclass(frozen=True, slots=True)
class Acknowledged:
    channel: Channel
    queued: int
    echoes: int
    ignored: int


class WebhookIntake:
    """The signed front door of one tenant's social channels."""

    def __init__(
        self, tenant_id: str, *, secrets: ChannelSecrets, queue: MessageQueue, clock: Callable[[], datetime]
    ) -> None:
        self.tenant_id = tenant_id
        self._secrets = secrets
        self._queue = queue
        self._clock = clock

    async def meta_subscription(self, channel: Channel, query: Mapping[str, str]) -> str:
        """Meta's `GET` subscription check: the challenge to echo, when the verify token is ours."""
        secret = await self._secret(channel)
        if secret.verify_token is None:
            raise ChannelNotLinked(f"no verify token is linked for {channel.value}")
        return meta_challenge(secret.verify_token.get_secret_value(), query)

    async def x_crc(self, query: Mapping[str, str]) -> dict[str, str]:
        """X's `GET ?crc_token=` check: the response token."""
        key = (await self._secret(Channel.X)).signing_key()
        if key is None:
            raise ChannelNotLinked("no X consumer secret is linked")
        return x_crc_response(key, query.get("crc_token"))

    async def receive(self, channel: Channel, body: bytes, headers: Mapping[str, str]) -> Acknowledged:
        """Verify, parse and queue one delivery; raises `SignatureError` (nothing processed) or `DeliveryError`."""
        if channel not in WEBHOOK_CHANNELS:
            raise DeliveryError(f"{channel.value} is not answered through this webhook")
        lower = {k.lower(): v for k, v in headers.items()}
        header_name = X_SIGNATURE_HEADER if channel is Channel.X else META_SIGNATURE_HEADER
        if not lower.get(header_name):
            raise MissingSignature(f"the {header_name} header is missing")
        secret = await self._secret(channel)
        key = secret.signing_key()
        if key is None:
            raise ChannelNotLinked(f"no signing key is linked for {channel.value}")
        if channel is Channel.X:
            verify_x_signature(key, body, lower[header_name])
        else:
            verify_meta_signature(key, body, lower[header_name])
        parsed = self._parse(channel, body)
        now = self._clock()
        if parsed.events:
            await self._queue.enqueue(
                [QueuedEvent(tenant_id=self.tenant_id, event=event, received_at=now) for event in parsed.events]
            )
        return Acknowledged(channel, len(parsed.events), parsed.echoes, parsed.ignored)

    async def _secret(self, channel: Channel) -> ChannelSecret:
        secret = await self._secrets.get(self.tenant_id, channel)
        if secret is None:
            raise ChannelNotLinked(f"no credentials are linked for {channel.value}")
        return secret

    @staticmethod
    def _parse(channel: Channel, body: bytes) -> ParsedDelivery:
        if len(body) > MAX_BODY_BYTES:
            raise DeliveryError(f"the delivery is larger than {MAX_BODY_BYTES} bytes")
        try:
            # pydantic-core's parser refuses nesting past its recursion limit (json.loads would exhaust the stack).
            payload = from_json(body)
        except ValueError:
            raise DeliveryError("the delivery is not JSON") from None
        return parse_x(payload) if channel is Channel.X else parse_meta(channel, payload)
