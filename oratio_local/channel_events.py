"""Real-shaped social platform deliveries, signed the way each platform signs them: what the tests, the demo and
the benchmarks send the channel webhook in place of Meta and X.

Shapes follow the platforms' documented webhook references and samples:
- WhatsApp Cloud API "messages" webhook: `object: whatsapp_business_account`, `entry[].changes[].value` with
  `messaging_product`, `metadata {display_phone_number, phone_number_id}`, `contacts[] {profile.name, wa_id}`,
  `messages[] {from, id, timestamp, type, <type>: {...}}` or `statuses[] {id, status, timestamp, recipient_id,
  conversation, pricing, errors[]}`, `field: messages`;
- Messenger Platform and Instagram messaging: `object: page | instagram`, `entry[] {id, time, messaging[]}` with
  `sender.id`, `recipient.id`, `timestamp` (ms) and `message {mid, text, attachments[], is_echo}` or `reaction
  {mid, action, reaction, emoji}`;
- X Account Activity API: `for_user_id`, `direct_message_events[]` of `message_create` with `sender_id`,
  `target.recipient_id`, `message_data {text, attachment}`, and `users`.

Signatures are computed here with `hmac` directly (not with `oratio.channels.signatures`), so a test signing with
these helpers checks the webhook against the platforms' schemes, not against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

WHATSAPP_BUSINESS_ACCOUNT_ID = "102290129340398"
WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
WHATSAPP_DISPLAY_NUMBER = "15550783881"
PAGE_ID = "1067280970047460"
INSTAGRAM_ACCOUNT_ID = "17841405822304914"
X_ACCOUNT_ID = "3001969357"


def _now_s() -> int:
    return int(time.time())


# ------------------------------------------------------------------------------------------ WhatsApp
def whatsapp_delivery(*, value: dict[str, Any], phone_number_id: str = WHATSAPP_PHONE_NUMBER_ID) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WHATSAPP_BUSINESS_ACCOUNT_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": WHATSAPP_DISPLAY_NUMBER,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def whatsapp_message(
    wa_id: str,
    *,
    kind: str = "text",
    text: str = "Does it come in another color?",
    name: str = "Sheena Nelson",
    message_id: str | None = None,
    timestamp: int | None = None,
    phone_number_id: str = WHATSAPP_PHONE_NUMBER_ID,
    **content: Any,
) -> dict[str, Any]:
    """A customer's message: `kind` text (with `text`), image/video/audio/document/sticker (media id, mime type,
    sha256, caption from `content`), location, reaction (`emoji`, `message_id` reacted to) or any other type."""
    message: dict[str, Any] = {
        "from": wa_id,
        "id": message_id or f"wamid.{base64.b64encode(uuid.uuid4().bytes).decode()}",
        "timestamp": str(timestamp or _now_s()),
        "type": kind,
    }
    if kind == "text":
        message["text"] = {"body": text}
    elif kind in ("image", "video", "audio", "document", "sticker"):
        message[kind] = {
            "mime_type": content.get("mime_type", "image/jpeg"),
            "sha256": hashlib.sha256(b"media").hexdigest(),
            "id": content.get("media_id", "1479537139650973"),
            **({"caption": content["caption"]} if content.get("caption") else {}),
        }
    elif kind == "reaction":
        message["reaction"] = {
            "message_id": content["reacted_to"],
            **({"emoji": content["emoji"]} if content.get("emoji") else {}),
        }
    else:
        message[kind] = content
    return whatsapp_delivery(
        value={"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [message]},
        phone_number_id=phone_number_id,
    )


def whatsapp_status(
    recipient_id: str,
    status: str = "delivered",
    *,
    message_id: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MjBFQkVBQzY0RkZBQ0QzNjgA",
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A status of a message we sent (`sent`, `delivered`, `read`, `failed` with `errors`)."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(_now_s()),
        "recipient_id": recipient_id,
    }
    if status in ("sent", "delivered"):
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
    if errors:
        item["errors"] = errors
    return whatsapp_delivery(value={"statuses": [item]})


# --------------------------------------------------------------------------------- Messenger, Instagram
def messaging_delivery(*items: dict[str, Any], object_: str = "page", account_id: str = PAGE_ID) -> dict[str, Any]:
    return {"object": object_, "entry": [{"id": account_id, "time": int(time.time() * 1000), "messaging": list(items)}]}


def messaging_message(
    sender_id: str,
    *,
    account_id: str = PAGE_ID,
    text: str | None = "Hi! I'm looking for a new comforter set for my queen bed",
    attachments: list[dict[str, Any]] | None = None,
    mid: str | None = None,
    is_echo: bool = False,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """One `messaging[]` item with a message from `sender_id` (or, with `is_echo`, our own copy: sender and
    recipient swapped, as Meta sends echoes)."""
    message: dict[str, Any] = {"mid": mid or f"m_{uuid.uuid4().hex}"}
    if text is not None:
        message["text"] = text
    if attachments:
        message["attachments"] = attachments
    if is_echo:
        message["is_echo"] = True
        message["app_id"] = 1517776481860111
    sender, recipient = (account_id, sender_id) if is_echo else (sender_id, account_id)
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": timestamp_ms or int(time.time() * 1000),
        "message": message,
    }


def messaging_reaction(
    sender_id: str, reacted_to: str, *, account_id: str = PAGE_ID, emoji: str = "\u2764\ufe0f", unreact: bool = False
) -> dict[str, Any]:
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": account_id},
        "timestamp": int(time.time() * 1000),
        "reaction": {
            "mid": reacted_to,
            "action": "unreact" if unreact else "react",
            "reaction": "love",
            "emoji": emoji,
        },
    }


def messaging_read(sender_id: str, *, account_id: str = PAGE_ID) -> dict[str, Any]:
    return {
        "sender": {"id": sender_id},
        "recipient": {"id": account_id},
        "timestamp": int(time.time() * 1000),
        "read": {"mid": "m_read"},
    }


# ------------------------------------------------------------------------------------------------ X
def x_dm_delivery(
    sender_id: str,
    text: str = "Do you ship to Canada?",
    *,
    for_user_id: str = X_ACCOUNT_ID,
    event_id: str | None = None,
    media_url: str | None = None,
) -> dict[str, Any]:
    """An Account Activity delivery with one DM from `sender_id` to `for_user_id` (sender = for_user_id: our own)."""
    data: dict[str, Any] = {"text": text, "entities": {"hashtags": [], "symbols": [], "urls": [], "user_mentions": []}}
    if media_url:
        data["attachment"] = {"type": "media", "media": {"id": 1, "media_url_https": media_url, "type": "photo"}}
    recipient = X_ACCOUNT_ID if sender_id != for_user_id else "4337869213"
    return {
        "for_user_id": for_user_id,
        "direct_message_events": [
            {
                "type": "message_create",
                "id": event_id or str(uuid.uuid4().int)[:19],
                "created_timestamp": str(int(time.time() * 1000)),
                "message_create": {"target": {"recipient_id": recipient}, "sender_id": sender_id, "message_data": data},
            }
        ],
        "users": {
            sender_id: {
                "id": sender_id,
                "created_timestamp": "1422556069340",
                "name": "Ana",
                "screen_name": "ana_sleeps",
            }
        },
    }


# ----------------------------------------------------------------------------------------- signing
def body_of(payload: dict[str, Any]) -> bytes:
    """The raw body as a platform sends it (compact JSON, UTF-8, emoji escaped the way Meta escapes them)."""
    return json.dumps(payload, separators=(",", ":")).encode()


def meta_signed_headers(body: bytes, app_secret: str) -> dict[str, str]:
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


def x_signed_headers(body: bytes, consumer_secret: str) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "x-twitter-webhooks-signature": f"sha256={digest}"}


def x_crc_expected(consumer_secret: str, crc_token: str) -> str:
    digest = hmac.new(consumer_secret.encode(), crc_token.encode(), hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()
