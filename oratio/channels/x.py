"""X's Account Activity API deliveries as `InboundEvent`s: direct messages to a subscribed account.

Shape per X's Account Activity reference: a JSON object with `for_user_id` (the subscribed account: ours)
and, for direct messages, `direct_message_events[]` of `type: message_create` with `id`, `created_timestamp`
(milliseconds) and `message_create: {target: {recipient_id}, sender_id, message_data: {text, attachment}}`,
plus a `users` map. A DM whose `sender_id` is the subscribed account is the copy of one we sent: dropped.
Posts, likes, follows, typing and read events arrive on the same webhook and are dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oratio.channels.meta import DeliveryError
from oratio.channels.models import MAX_TEXT_CHARS, Attachment, EventKind, InboundEvent, ParsedDelivery, epoch_millis
from oratio.config.tenant import Channel

DM_EVENTS = "direct_message_events"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class _Activity(_Lenient):
    for_user_id: str
    direct_message_events: list[dict[str, Any]] = Field(default_factory=list)
    users: dict[str, dict[str, Any]] = Field(default_factory=dict)


def parse_x(payload: Any) -> ParsedDelivery:
    """The DM events of one Account Activity delivery."""
    if not isinstance(payload, dict):
        raise DeliveryError("the delivery is not an Account Activity JSON object")
    try:
        activity = _Activity.model_validate(payload)
    except ValidationError as e:
        raise DeliveryError("the delivery has no for_user_id") from e
    ours = activity.for_user_id
    events: list[InboundEvent] = []
    echoes = 0
    ignored = sum(1 for key in payload if key.endswith("_events") and key != DM_EVENTS)
    for raw in activity.direct_message_events:
        create = raw.get("message_create") if isinstance(raw.get("message_create"), dict) else None
        if raw.get("type") != "message_create" or create is None or not raw.get("id"):
            ignored += 1
            continue
        sender = str(create.get("sender_id") or "")
        if sender == ours:
            echoes += 1
            continue
        if not sender or raw.get("created_timestamp") is None:
            ignored += 1
            continue
        data = create.get("message_data") if isinstance(create.get("message_data"), dict) else {}
        raw_text = data.get("text")
        text = raw_text.strip()[:MAX_TEXT_CHARS] if isinstance(raw_text, str) else None
        attachment = _attachment(data.get("attachment"))
        profile = activity.users.get(sender, {})
        try:
            event = InboundEvent(
                channel=Channel.X,
                account_id=ours,
                sender_id=sender,
                message_id=str(raw["id"]),
                kind=EventKind.MEDIA if attachment else (EventKind.TEXT if text else EventKind.UNSUPPORTED),
                sent_at=epoch_millis(raw["created_timestamp"]),
                text=text or None,
                attachments=(attachment,) if attachment else (),
                sender_name=str(profile["name"])[:256] if profile.get("name") else None,
            )
        except ValueError:  # a field that is not X's (a timestamp that is no number, an id past its limit): skipped
            ignored += 1
            continue
        events.append(event)
    return ParsedDelivery(events=tuple(events), echoes=echoes, ignored=ignored)


def _attachment(raw: Any) -> Attachment | None:
    if not isinstance(raw, dict) or raw.get("type") != "media" or not isinstance(raw.get("media"), dict):
        return None
    media = raw["media"]
    url = media.get("media_url_https") or media.get("media_url")
    return Attachment(type=str(media.get("type") or "photo")[:40], url=str(url)[:2_048] if url else None)
