"""Meta's webhook deliveries as `InboundEvent`s: WhatsApp Cloud API, Messenger and Instagram messaging.

Shapes per Meta's webhook references (WhatsApp "messages" webhook: `object: whatsapp_business_account`,
`entry[].changes[].value` with `metadata.phone_number_id`, `contacts[]`, `messages[]` and `statuses[]`;
Messenger and Instagram: `object: page` / `instagram`, `entry[].messaging[]` with `sender`, `recipient`,
`timestamp` and one of `message`, `reaction`, `postback`, `read`, `delivery`). Meta adds fields over time, so
unknown keys are ignored; a delivery whose `object` is not the one the path serves yields no event.

Echoes (`message.is_echo`: what our page or Instagram account sent) are counted and dropped, as are reads,
deliveries, deletions and typing. WhatsApp statuses of our messages are kept (a `failed` one is recorded with
the conversation); Messenger and Instagram report delivery only as `delivery`/`read` marks, which are dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oratio.channels.models import (
    MAX_TEXT_CHARS,
    Attachment,
    EventKind,
    InboundEvent,
    ParsedDelivery,
    epoch_millis,
    epoch_seconds,
)
from oratio.config.tenant import Channel
from oratio.customers.identity import IdentityError, e164

# The `object` of a delivery for each channel the Meta paths serve.
META_OBJECTS = {Channel.WHATSAPP: "whatsapp_business_account", Channel.FACEBOOK: "page", Channel.INSTAGRAM: "instagram"}
WHATSAPP_MEDIA = frozenset({"image", "video", "audio", "document", "sticker"})


class DeliveryError(ValueError):
    """A signed delivery that is not JSON of the expected envelope (answered 400; Meta shows it in its logs)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


# ------------------------------------------------------------------------------------------ WhatsApp
class _WaProfile(_Lenient):
    name: str | None = None


class _WaContact(_Lenient):
    wa_id: str | None = None
    user_id: str | None = None  # business-scoped user id (username-only users have no wa_id)
    profile: _WaProfile = Field(default_factory=_WaProfile)


class _WaMetadata(_Lenient):
    phone_number_id: str
    display_phone_number: str | None = None


class _WaError(_Lenient):
    code: int | str | None = None
    title: str | None = None


class _WaStatus(_Lenient):
    id: str
    status: str
    timestamp: str
    recipient_id: str | None = None
    errors: list[_WaError] = Field(default_factory=list)


class _WaValue(_Lenient):
    messaging_product: str | None = None
    metadata: _WaMetadata
    contacts: list[_WaContact] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    statuses: list[_WaStatus] = Field(default_factory=list)


class _Change(_Lenient):
    field: str | None = None
    value: dict[str, Any] = Field(default_factory=dict)


class _Entry(_Lenient):
    id: str | None = None
    changes: list[_Change] = Field(default_factory=list)
    messaging: list[dict[str, Any]] = Field(default_factory=list)
    standby: list[dict[str, Any]] = Field(default_factory=list)


class _Envelope(_Lenient):
    object: str
    entry: list[_Entry] = Field(default_factory=list)


def parse_meta(channel: Channel, payload: Any) -> ParsedDelivery:
    """The events of one Meta delivery to the `channel` path (WhatsApp, Messenger or Instagram)."""
    try:
        envelope = _Envelope.model_validate(payload)
    except ValidationError as e:
        raise DeliveryError("the delivery is not a Meta webhook envelope (object, entry)") from e
    if envelope.object != META_OBJECTS[channel]:
        return ParsedDelivery(ignored=len(envelope.entry))
    events: list[InboundEvent] = []
    echoes = ignored = 0
    for entry in envelope.entry:
        if channel is Channel.WHATSAPP:
            for change in entry.changes:
                found, skipped = _whatsapp_change(change)
                events += found
                ignored += skipped
            continue
        ignored += len(entry.changes) + len(entry.standby)  # comments, mentions; another app's thread
        for item in entry.messaging:
            try:
                event, echo = _messaging_item(channel, item)
            except ValueError:
                # A field that is not Meta's (a timestamp that is no number, an id past its limit): the item is
                # skipped and the rest of the delivery queued (a 400 would have Meta redeliver it all for days).
                ignored += 1
                continue
            if event is not None:
                events.append(event)
            elif echo:
                echoes += 1
            else:
                ignored += 1
    return ParsedDelivery(events=tuple(events), echoes=echoes, ignored=ignored)


def _whatsapp_change(change: _Change) -> tuple[list[InboundEvent], int]:
    if change.field not in (None, "messages"):
        return [], 1
    try:
        value = _WaValue.model_validate(change.value)
    except ValidationError:
        return [], 1
    account = value.metadata.phone_number_id
    contact = value.contacts[0] if value.contacts else _WaContact()
    events: list[InboundEvent] = []
    skipped = 0
    for raw in value.messages:
        try:
            event = _whatsapp_message(account, contact, raw)
        except ValueError:  # skipped, as a malformed messaging item is (parse_meta)
            event = None
        if event is None:
            skipped += 1
        else:
            events.append(event)
    for status in value.statuses:
        if not status.recipient_id:
            skipped += 1
            continue
        try:
            reported = InboundEvent(
                channel=Channel.WHATSAPP,
                account_id=account,
                sender_id=status.recipient_id,
                message_id=status.id,
                kind=EventKind.STATUS,
                sent_at=epoch_seconds(status.timestamp),
                status=status.status[:32],
                status_errors=tuple(f"{e.code}: {e.title}"[:200] for e in status.errors),
            )
        except ValueError:  # skipped, as a malformed messaging item is (parse_meta)
            skipped += 1
            continue
        events.append(reported)
    return events, skipped


def _whatsapp_message(account: str, contact: _WaContact, raw: dict[str, Any]) -> InboundEvent | None:
    kind = str(raw.get("type") or "")
    sender = str(raw.get("from") or contact.wa_id or contact.user_id or "")
    message_id, timestamp = raw.get("id"), raw.get("timestamp")
    if not sender or not message_id or timestamp is None or kind == "system":
        return None  # a system notice (number changed) or a malformed item
    base: dict[str, Any] = {
        "channel": Channel.WHATSAPP,
        "account_id": account,
        "sender_id": sender,
        "message_id": str(message_id),
        "sent_at": epoch_seconds(timestamp),
        "sender_name": contact.profile.name,
        "sender_phone": _phone(raw.get("from") or contact.wa_id),
    }
    body = _dict(raw.get(kind))
    if kind == "text":
        return InboundEvent(kind=EventKind.TEXT, text=_text(body.get("body")), **base)
    if kind in WHATSAPP_MEDIA:
        attachment = Attachment(
            type=kind,
            media_id=_opt(body.get("id")),
            mime_type=_opt(body.get("mime_type")),
            caption=_text(body.get("caption")),
        )
        return InboundEvent(kind=EventKind.MEDIA, text=attachment.caption, attachments=(attachment,), **base)
    if kind == "location":
        place = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        attachment = Attachment(type="location", caption=place or None)
        return InboundEvent(kind=EventKind.MEDIA, text=place or None, attachments=(attachment,), **base)
    if kind == "reaction":
        return InboundEvent(
            kind=EventKind.REACTION, reaction=_opt(body.get("emoji")), reacted_to=_opt(body.get("message_id")), **base
        )
    if kind == "interactive":  # a reply button or list row the customer tapped
        choice = _dict(body.get("button_reply") or body.get("list_reply"))
        return InboundEvent(kind=EventKind.TEXT, text=_text(choice.get("title")), **base)
    if kind == "button":  # a quick-reply button of a template message
        return InboundEvent(kind=EventKind.TEXT, text=_text(body.get("text")), **base)
    return InboundEvent(kind=EventKind.UNSUPPORTED, **base)


# -------------------------------------------------------------------------------- Messenger, Instagram
def _messaging_item(channel: Channel, item: dict[str, Any]) -> tuple[InboundEvent | None, bool]:
    """The event of one `messaging[]` item, or (None, is_echo)."""
    sender = _id_of(item.get("sender"))
    account = _id_of(item.get("recipient"))
    timestamp = item.get("timestamp")
    message = item.get("message") if isinstance(item.get("message"), dict) else None
    message = _dict(message) if message is not None else None
    if message is not None and message.get("is_echo"):
        return None, True
    if not sender or not account or timestamp is None:
        return None, False
    base: dict[str, Any] = {
        "channel": channel,
        "account_id": account,
        "sender_id": sender,
        "sent_at": epoch_millis(timestamp),
    }
    if message is not None:
        mid = message.get("mid")
        if not mid or message.get("is_deleted"):
            return None, False
        if message.get("is_unsupported"):
            return InboundEvent(kind=EventKind.UNSUPPORTED, message_id=str(mid), **base), False
        attachments = tuple(_attachment(a) for a in message.get("attachments") or [] if isinstance(a, dict))
        text = _text(message.get("text"))
        if attachments:
            return InboundEvent(
                kind=EventKind.MEDIA, message_id=str(mid), text=text, attachments=attachments, **base
            ), False
        if text:
            return InboundEvent(kind=EventKind.TEXT, message_id=str(mid), text=text, **base), False
        return None, False
    reaction = _dict(item["reaction"]) if isinstance(item.get("reaction"), dict) else None
    if reaction is not None and reaction.get("mid"):
        removed = reaction.get("action") == "unreact"
        # A reaction has no id of its own: who reacted to which message, when.
        reaction_id = f"reaction:{reaction['mid']}:{sender}:{timestamp}"
        return (
            InboundEvent(
                kind=EventKind.REACTION,
                message_id=reaction_id,
                reaction=None if removed else _opt(reaction.get("emoji") or reaction.get("reaction")),
                reacted_to=str(reaction["mid"]),
                **base,
            ),
            False,
        )
    postback = _dict(item["postback"]) if isinstance(item.get("postback"), dict) else None
    if postback is not None and postback.get("title"):
        postback_id = str(postback.get("mid") or f"postback:{sender}:{timestamp}")
        return InboundEvent(kind=EventKind.TEXT, message_id=postback_id, text=_text(postback["title"]), **base), False
    return None, False  # read, delivery, optin, referral, typing


def _attachment(raw: dict[str, Any]) -> Attachment:
    payload = _dict(raw.get("payload"))
    return Attachment(type=str(raw.get("type") or "file")[:40], url=_opt(payload.get("url"), 2_048))


# ------------------------------------------------------------------------------------------- helpers
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("id"):
        return str(value["id"])[:128]
    return None


def _opt(value: Any, limit: int = 256) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_TEXT_CHARS]


def _phone(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return e164(value)
    except IdentityError:
        return None
