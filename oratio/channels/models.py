"""What the messaging channels carry, independent of each platform's wire format.

A webhook delivery from Meta (WhatsApp Cloud API, Messenger, Instagram) or X (Account Activity API) becomes a
list of `InboundEvent`s: one per customer message, reaction or status update of a message we sent. Echoes of
our own messages, read receipts and typing indicators never become events. The webhook queues each event in
a `QueuedEvent`; the worker answers it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.config.tenant import TENANT_ID_PATTERN, Channel

# The channels answered through the tenant's signed webhook (the others are Amazon Connect's).
WEBHOOK_CHANNELS = (Channel.WHATSAPP, Channel.INSTAGRAM, Channel.FACEBOOK, Channel.X)
MAX_TEXT_CHARS = 8_000  # the tenant agent's own input limit (oratio.agent.contracts.MAX_INPUT_CHARS)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class EventKind(StrEnum):
    TEXT = "text"  # a message with text (answered by the agent)
    MEDIA = "media"  # an image, video, audio, file, sticker or location, with or without a caption
    REACTION = "reaction"  # an emoji reaction to one of our messages (recorded, not answered)
    STATUS = "status"  # the platform reports what happened to a message we sent (failures are recorded)
    UNSUPPORTED = "unsupported"  # a message type we cannot read (the customer is told so)


class Attachment(_Model):
    type: str = Field(max_length=40, description="image, video, audio, document/file, sticker, location, ...")
    url: str | None = Field(default=None, max_length=2_048)
    media_id: str | None = Field(default=None, max_length=256)
    mime_type: str | None = Field(default=None, max_length=128)
    caption: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class InboundEvent(_Model):
    """One thing a customer did on a platform, addressed to one of the tenant's accounts there."""

    channel: Channel
    account_id: str = Field(min_length=1, max_length=128, description="the business account it reached")
    sender_id: str = Field(min_length=1, max_length=128, description="the customer's id on the platform")
    message_id: str = Field(min_length=1, max_length=512, description="the platform's id: the dedup key")
    kind: EventKind
    sent_at: AwareDatetime
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    attachments: tuple[Attachment, ...] = ()
    reaction: str | None = Field(default=None, max_length=64, description="the emoji; None when removed")
    reacted_to: str | None = Field(default=None, max_length=512)
    status: str | None = Field(default=None, max_length=32, description="sent, delivered, read, failed")
    status_errors: tuple[str, ...] = ()
    sender_name: str | None = Field(default=None, max_length=256)
    sender_phone: str | None = Field(default=None, description="E.164, when the platform shares it (WhatsApp)")

    @property
    def conversation(self) -> str:
        """The thread the event belongs to: one business account and one customer."""
        return f"{self.channel.value}:{self.account_id}:{self.sender_id}"

    @property
    def order_key(self) -> str:
        """SQS FIFO message group id: events of one conversation are processed in order, others in parallel."""
        return _digest(self.conversation)

    @property
    def dedup_key(self) -> str:
        """SQS FIFO deduplication id and the worker's ledger key: one per platform message (a status update has
        its own, since it shares the message id of what it reports on)."""
        suffix = f"#{self.status}" if self.kind is EventKind.STATUS else ""
        return _digest(f"{self.channel.value}:{self.message_id}{suffix}")


class QueuedEvent(_Model):
    """The body of one queue message: the event and where and when the webhook took it."""

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    event: InboundEvent
    received_at: AwareDatetime


class ParsedDelivery(_Model):
    """What one webhook delivery held: the events to queue, and how many items were skipped as ours or noise."""

    events: tuple[InboundEvent, ...] = ()
    echoes: int = Field(default=0, description="copies of messages we sent (is_echo, our own X DMs): ignored")
    ignored: int = Field(default=0, description="reads, deliveries, typing indicators and other fields")


def _digest(text: str) -> str:
    # SQS ids allow 128 characters; platform ids can be long, so both ids are a fixed-size digest.
    return hashlib.sha256(text.encode()).hexdigest()


def epoch_seconds(value: object) -> datetime:
    """A platform timestamp (seconds, as WhatsApp sends them) as an aware UTC datetime; `ValueError` for anything
    that is not a number of seconds a datetime can hold."""
    return _epoch(value, 1)


def epoch_millis(value: object) -> datetime:
    """A platform timestamp in milliseconds (Messenger, Instagram, X) as an aware UTC datetime; `ValueError` as
    `epoch_seconds`."""
    return _epoch(value, 1000)


def _epoch(value: object, per_second: int) -> datetime:
    from datetime import UTC

    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a timestamp must be a number")
    try:
        return datetime.fromtimestamp(float(value) / per_second, UTC)
    except (OverflowError, OSError, ValueError) as e:  # not a number, NaN, or past what a datetime holds
        raise ValueError("the timestamp is not a time a datetime can hold") from e
