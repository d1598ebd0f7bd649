"""Linking a social id to the customer it belongs to — confirmed, never guessed.

A customer writing on Instagram, Messenger, X or web chat who gives a phone number or an email address may be
the same person who called last week. Taking their word for it would show a stranger's conversations to anyone
who types someone else's number, so a claim is only a candidate: a one-time code goes to the number (SMS from
the tenant's End User Messaging number) or the address (SES), and the link is made when the customer writes the
code back on the channel they claimed it from. Until then the agent answers as usual, without the other
channels' history. Codes are random, stored only as an HMAC, expire, and allow a few attempts.

A vendor can also link identities it knows belong together through the vendor API (`link` without a code).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oratio.customers.claims import Claim, claims_in, display_address
from oratio.customers.identity import is_phone_key
from oratio.customers.ports import ClaimStore, CodeDeliveryError, CodeSender, CustomerLinks, PendingClaim

logger = logging.getLogger(__name__)


class LinkingSettings(BaseModel):
    """Codes and what the customer reads while linking; defaults in one place."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    code_digits: int = Field(default=6, ge=4, le=10)
    code_ttl_minutes: int = Field(default=10, ge=1, le=60)
    max_attempts: int = Field(default=3, ge=1, le=10)
    code_text: str = "{business}: your code is {code}. It expires in {minutes} minutes. Don't share it."
    sent_message: str = (
        "If you'd like me to connect this chat with your earlier conversations, I've sent a {digits}-digit code "
        "to {address}. Just reply here with it."
    )
    linked_message: str = "Thanks, that's confirmed: I can now see your earlier conversations with us."
    wrong_code_message: str = "That code doesn't match. Please check it and send it again."
    locked_message: str = (
        "That code didn't match a few times, so I've cancelled it; share your number again for a new one."
    )
    expired_message: str = "That code has expired; share your number or email again and I'll send a new one."
    not_sent_message: str = "I couldn't send a code just now, so I can't connect your earlier conversations yet."


class LinkStep(StrEnum):
    NONE = "none"  # nothing to do with identities in this message
    CODE_SENT = "code_sent"  # a claim was found and a code went out
    LINKED = "linked"  # the code matched: the identity now resolves to the customer
    WRONG_CODE = "wrong_code"
    LOCKED = "locked"  # too many wrong codes: the claim is gone
    EXPIRED = "expired"
    NOT_SENT = "not_sent"  # the code could not be delivered


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """What linking made of one message: `consumed` when the message was only a code (the agent never sees it);
    `reply` is what the customer reads (after the agent's reply when not consumed)."""

    step: LinkStep
    reply: str = ""
    consumed: bool = False
    customer_key: str | None = None


NOTHING = LinkOutcome(LinkStep.NONE)


class IdentityLinking:
    """Claims, codes and links for one tenant's customers."""

    def __init__(
        self,
        *,
        links: CustomerLinks,
        claims: ClaimStore,
        senders: Mapping[str, CodeSender],
        clock: Callable[[], datetime],
        settings: LinkingSettings | None = None,
        new_code: Callable[[int], str] | None = None,
    ) -> None:
        self._links = links
        self._claims = claims
        self._senders = dict(senders)  # by claim kind: "phone", "email"; a kind without a sender is never linked
        self._clock = clock
        self.settings = settings or LinkingSettings()
        self._new_code = new_code or _random_code

    async def handle(self, tenant_id: str, identity: str, text: str, *, region: str, business: str) -> LinkOutcome:
        """Read one customer message for a code (when a claim waits) or a new claim."""
        pending = await self._claims.get(tenant_id, identity)
        code = _code_in(text, self.settings.code_digits)
        if pending is not None and code is not None:
            return await self._confirm(tenant_id, pending, code)
        claim = await self._new_claim(tenant_id, identity, text, region)
        if claim is None:
            return NOTHING
        return await self._send(tenant_id, identity, claim, business)

    async def link(self, tenant_id: str, identity: str, customer_key: str) -> str:
        """Link without a code (the vendor vouches for it); returns the customer key the identity resolves to."""
        profile = await self._links.link(tenant_id, identity, customer_key)
        await self._claims.delete(tenant_id, identity)
        return profile.customer_key

    # ------------------------------------------------------------------------------------------ steps
    async def _new_claim(self, tenant_id: str, identity: str, text: str, region: str) -> Claim | None:
        current = await self._links.customer_key(tenant_id, identity)
        for claim in claims_in(text, region):
            if claim.kind == "phone" and is_phone_key(identity):
                continue  # a phone identity is already its own number; nothing to prove
            if claim.kind not in self._senders:
                continue
            if claim.key in (identity, current) or await self._links.customer_key(tenant_id, claim.key) == current:
                return None  # already the same customer
            return claim
        return None

    async def _send(self, tenant_id: str, identity: str, claim: Claim, business: str) -> LinkOutcome:
        settings = self.settings
        code = self._new_code(settings.code_digits)
        salt = secrets.token_hex(16)
        now = self._clock()
        pending = PendingClaim(
            identity=identity,
            claimed_kind=claim.kind,
            claimed_key=claim.key,
            address=claim.address,
            salt=salt,
            digest=_digest(salt, identity, claim.key, code),
            expires_at=now + timedelta(minutes=settings.code_ttl_minutes),
        )
        text = settings.code_text.format(business=business, code=code, minutes=settings.code_ttl_minutes)
        try:
            await self._senders[claim.kind].send_code(claim.address, text, at=now)
        except CodeDeliveryError as e:
            logger.warning("identity code not sent", extra={"kind": claim.kind, "error": str(e)})
            return LinkOutcome(LinkStep.NOT_SENT, settings.not_sent_message)
        await self._claims.put(tenant_id, pending)
        reply = settings.sent_message.format(digits=settings.code_digits, address=display_address(claim))
        return LinkOutcome(LinkStep.CODE_SENT, reply)

    async def _confirm(self, tenant_id: str, pending: PendingClaim, code: str) -> LinkOutcome:
        settings = self.settings
        if self._clock() >= pending.expires_at:
            await self._claims.delete(tenant_id, pending.identity)
            return LinkOutcome(LinkStep.EXPIRED, settings.expired_message, consumed=True)
        expected = _digest(pending.salt, pending.identity, pending.claimed_key, code)
        if not hmac.compare_digest(expected, pending.digest):
            if pending.attempts + 1 >= settings.max_attempts:
                await self._claims.delete(tenant_id, pending.identity)
                return LinkOutcome(LinkStep.LOCKED, settings.locked_message, consumed=True)
            await self._claims.count_attempt(tenant_id, pending)
            return LinkOutcome(LinkStep.WRONG_CODE, settings.wrong_code_message, consumed=True)
        customer = await self.link(tenant_id, pending.identity, pending.claimed_key)
        return LinkOutcome(LinkStep.LINKED, settings.linked_message, consumed=True, customer_key=customer)


def _random_code(digits: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def _digest(salt: str, identity: str, claimed_key: str, code: str) -> str:
    message = f"{identity}|{claimed_key}|{code}".encode()
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()


def _code_in(text: str, digits: int) -> str | None:
    """The code when the message is just a code (spaces and dashes allowed: "482 913", "482-913")."""
    compact = re.sub(r"[\s-]", "", text)
    return compact if re.fullmatch(rf"\d{{{digits}}}", compact) else None
