"""How a customer identity becomes the key of their profile, and how identities are found in what they write.

Phone identities are one identity whatever the channel: a caller's number, an SMS sender and a WhatsApp
user (`wa_id`, the number without its plus) are all keyed `phone:+<E.164>`, so the same person on the phone
and on WhatsApp is one customer. Email addresses are keyed lower-cased. Social ids (Instagram, Messenger, X,
web chat) stay `kind:value`; they join a profile only through a confirmed link (`oratio.customers.linking`).

Reading identities out of what a customer writes is `oratio.customers.claims` (it loads libphonenumber, which
costs ~40 ms of import: only the messaging paths pay for it).
"""

from __future__ import annotations

import re
from typing import Literal

from oratio.config.tenant import E164_PATTERN

IdentityKind = Literal["phone", "whatsapp", "sms", "instagram", "facebook", "x", "chat", "email"]
# Kinds whose value is a phone number: one customer key for all of them.
PHONE_KINDS = frozenset({"phone", "whatsapp", "sms"})
PHONE = "phone"
EMAIL = "email"
_E164 = re.compile(E164_PATTERN)


class IdentityError(ValueError):
    """A value is not a valid identity of its kind; the message says what is expected."""


def e164(value: str) -> str:
    """A phone number as E.164 ("+" and digits): WhatsApp's `wa_id` and Vonage-style numbers lack the plus."""
    cleaned = re.sub(r"[\s().-]", "", value.strip())
    if not cleaned.startswith("+"):
        cleaned = f"+{cleaned}"
    if not _E164.fullmatch(cleaned):
        raise IdentityError(f"{value!r} is not a phone number in E.164 form (+ and 7-15 digits)")
    return cleaned


def identity_key(kind: str, value: str) -> str:
    """The profile key of an identity: `phone:+<E.164>` for every phone kind, `email:<lower>`, else `kind:value`."""
    if kind in PHONE_KINDS:
        return f"{PHONE}:{e164(value)}"
    if kind == EMAIL:
        return f"{EMAIL}:{value.strip().lower()}"
    return f"{kind}:{value.strip()}"


def is_phone_key(key: str) -> bool:
    return key.startswith(f"{PHONE}:")
