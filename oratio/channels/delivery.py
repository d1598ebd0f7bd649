"""Sending a reply through a platform's send API: cut to the platform's length limit, retried on 429 and 5xx
(and Meta's throttling codes) for as long as the platform asks — within what one worker invocation may spend;
past that, the message goes back to the queue until the platform's wait is over."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.ports import PlatformClient, PlatformError
from oratio.config.tenant import Channel

# Longest text one message may carry: WhatsApp 4,096 characters, Messenger 2,000, Instagram 1,000 (bytes, UTF-8),
# an X DM 10,000 characters.
TEXT_LIMITS: dict[Channel, int] = {
    Channel.WHATSAPP: 4_096,
    Channel.FACEBOOK: 2_000,
    Channel.INSTAGRAM: 1_000,
    Channel.X: 10_000,
}
BYTE_LIMITED = frozenset({Channel.INSTAGRAM})


class RetryPolicy(BaseModel):
    """How long a reply is retried inside one invocation, and the backoff when the platform names no wait."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    max_attempts: int = Field(default=4, ge=1)
    base_delay_seconds: float = Field(default=0.5, gt=0)
    max_delay_seconds: float = Field(default=8.0, gt=0)
    budget_seconds: float = Field(default=20.0, gt=0, description="waiting longer defers the message to the queue")


class DeliveryDeferred(Exception):
    """The platform asked to wait longer than this invocation may: retry the message after `delay_seconds`."""

    def __init__(self, delay_seconds: float, parts_sent: int, cause: PlatformError) -> None:
        super().__init__(f"deferred {delay_seconds:.0f} s after {parts_sent} part(s): {cause}")
        self.delay_seconds = delay_seconds
        self.parts_sent = parts_sent
        self.cause = cause


class DeliveryFailed(Exception):
    """The platform refused the message for good (or kept failing); `parts_sent` went out before."""

    def __init__(self, parts_sent: int, cause: PlatformError) -> None:
        super().__init__(f"failed after {parts_sent} part(s): {cause}")
        self.parts_sent = parts_sent
        self.cause = cause


def split_reply(text: str, channel: Channel) -> list[str]:
    """The reply as messages within the platform's limit: whole sentences packed together, a sentence longer
    than a message cut between words, a word longer than a message (a long URL) cut where it must."""
    limit = TEXT_LIMITS[channel]

    def size(part: str) -> int:
        return len(part.encode()) if channel in BYTE_LIMITED else len(part)

    pieces: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if size(sentence) <= limit:
            pieces.append(sentence)
            continue
        for word in sentence.split():
            while size(word) > limit:
                cut = limit
                while size(word[:cut]) > limit:
                    cut -= 1
                pieces.append(word[:cut])
                word = word[cut:]
            pieces.append(word)
    parts: list[str] = []
    for piece in (p for p in pieces if p):
        if parts and size(f"{parts[-1]} {piece}") <= limit:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


async def deliver(
    client: PlatformClient,
    secret: ChannelSecret,
    account_id: str,
    account: AccountCredentials,
    recipient_id: str,
    parts: Sequence[str],
    *,
    already_sent: int = 0,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
    on_sent: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Send `parts[already_sent:]` in order; returns how many parts have gone out (all of them).

    Raises `DeliveryDeferred` when the platform asks for a longer wait than the policy's budget leaves, and
    `DeliveryFailed` for a refusal or when the attempts run out.
    """
    started = monotonic()
    sent = already_sent
    for part in parts[already_sent:]:
        attempt = 0
        while True:
            attempt += 1
            try:
                await client.send_text(secret, account_id, account, recipient_id, part)
                break
            except PlatformError as e:
                if not e.retryable or attempt >= policy.max_attempts:
                    raise DeliveryFailed(sent, e) from e
                delay = e.retry_after if e.retry_after is not None else _backoff(attempt, policy, rand)
                if monotonic() - started + delay > policy.budget_seconds:
                    raise DeliveryDeferred(delay, sent, e) from e
                await sleep(delay)
        sent += 1
        if on_sent is not None:
            await on_sent(sent)
    return sent


def _backoff(attempt: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    ceiling: float = min(policy.max_delay_seconds, policy.base_delay_seconds * 2.0 ** (attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2  # jitter keeps many workers from retrying in step


# ------------------------------------------------------------------------------ rate-limit headers
def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait a response asks for: `Retry-After` (seconds or an HTTP date), X's `x-rate-limit-reset` (epoch
    seconds) when `x-rate-limit-remaining` is 0, or Meta's `X-Business-Use-Case-Usage` /`X-App-Usage`
    `estimated_time_to_regain_access` (minutes). None when the response names no wait."""
    lower = {k.lower(): v for k, v in headers.items()}
    now = now or datetime.now(UTC)
    value = lower.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None:
                return max(0.0, (parsed - now).total_seconds())
    reset = lower.get("x-rate-limit-reset")
    if reset and lower.get("x-rate-limit-remaining", "0") == "0":
        try:
            return max(0.0, float(reset) - now.timestamp())
        except ValueError:
            pass
    minutes = [
        _number(usage.get("estimated_time_to_regain_access"))
        for name in ("x-business-use-case-usage", "x-app-usage")
        for usage in _usage_entries(lower.get(name))
    ]
    return max(minutes) * 60 if minutes and max(minutes) > 0 else None


def _number(value: object) -> float:
    try:
        return float(value) if isinstance(value, int | float | str) else 0.0
    except ValueError:
        return 0.0


def _usage_entries(raw: str | None) -> list[dict[str, object]]:
    """Meta's usage headers: `{"<id>": [{...}]}` (business use case) or a flat `{...}` (app usage)."""
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    if all(isinstance(v, list) for v in data.values()):
        return [entry for entries in data.values() for entry in entries if isinstance(entry, dict)]
    return [data]
