"""The webhook's use case: Meta's subscription check and X's CRC answered with the tenant's own keys; deliveries
signed as the platforms sign them are queued, unsigned or wrongly signed ones are refused before anything in
them is read, and a replayed message is queued once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from oratio.channels.adapters.memory import InMemoryChannelSecrets, InMemoryFifoQueue
from oratio.channels.credentials import ChannelSecret
from oratio.channels.intake import ChannelNotLinked, MissingSignature, WebhookIntake
from oratio.channels.meta import DeliveryError
from oratio.channels.signatures import SignatureError
from oratio.config.tenant import Channel
from oratio_local.channel_events import (
    body_of,
    messaging_delivery,
    messaging_message,
    meta_signed_headers,
    whatsapp_message,
    x_crc_expected,
    x_dm_delivery,
    x_signed_headers,
)

TENANT = "cozy-comfort"
APP_SECRET = "meta-app-secret-0123456789abcdef"
CONSUMER_SECRET = "x-consumer-secret-0123456789abcdef"
NOW = datetime(2026, 11, 30, 15, tzinfo=UTC)


def _intake(*channels: Channel) -> tuple[WebhookIntake, InMemoryFifoQueue]:
    secrets = InMemoryChannelSecrets()
    for channel in channels:
        if channel is Channel.X:
            secret = ChannelSecret(channel=channel, consumer_key="ck", consumer_secret=SecretStr(CONSUMER_SECRET))
        else:
            secret = ChannelSecret(
                channel=channel, app_secret=SecretStr(APP_SECRET), verify_token=SecretStr("v-token-42")
            )
        asyncio.run(secrets.put(TENANT, secret))
    queue = InMemoryFifoQueue(lambda: NOW)
    return WebhookIntake(TENANT, secrets=secrets, queue=queue, clock=lambda: NOW), queue


def test_meta_subscription_echoes_the_challenge_only_for_our_verify_token() -> None:
    intake, _ = _intake(Channel.WHATSAPP)
    query = {"hub.mode": "subscribe", "hub.verify_token": "v-token-42", "hub.challenge": "1158201444"}
    assert asyncio.run(intake.meta_subscription(Channel.WHATSAPP, query)) == "1158201444"
    for wrong in ({**query, "hub.verify_token": "guess"}, {**query, "hub.mode": "unsubscribe"}):
        with pytest.raises(SignatureError):
            asyncio.run(intake.meta_subscription(Channel.WHATSAPP, wrong))


def test_x_crc_answers_the_base64_hmac_of_the_token_with_the_consumer_secret() -> None:
    intake, _ = _intake(Channel.X)
    answer = asyncio.run(intake.x_crc({"crc_token": "9b4507b3-9040-4669-9ca3-6b94edb50553"}))
    assert answer == {"response_token": x_crc_expected(CONSUMER_SECRET, "9b4507b3-9040-4669-9ca3-6b94edb50553")}


def test_a_signed_whatsapp_delivery_is_queued_with_the_tenant_and_the_time_it_arrived() -> None:
    intake, queue = _intake(Channel.WHATSAPP)
    body = body_of(whatsapp_message("16505551234", text="Hello"))
    ack = asyncio.run(intake.receive(Channel.WHATSAPP, body, meta_signed_headers(body, APP_SECRET)))
    (queued,) = queue.receive()
    assert (ack.queued, queued.tenant_id, queued.received_at, queued.event.text) == (1, TENANT, NOW, "Hello")


def test_a_signed_x_delivery_is_queued_and_our_own_dm_is_not() -> None:
    intake, queue = _intake(Channel.X)
    for sender in ("4337869213", "3001969357"):
        body = body_of(x_dm_delivery(sender))
        asyncio.run(intake.receive(Channel.X, body, x_signed_headers(body, CONSUMER_SECRET)))
    assert [q.event.sender_id for q in queue.receive()] == ["4337869213"]


def test_a_missing_signature_is_refused_as_missing_and_nothing_is_queued() -> None:
    intake, queue = _intake(Channel.FACEBOOK)
    body = body_of(messaging_delivery(messaging_message("24488")))
    with pytest.raises(MissingSignature):
        asyncio.run(intake.receive(Channel.FACEBOOK, body, {"Content-Type": "application/json"}))
    assert len(queue) == 0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"queen", b"king!"), headers),  # body changed after signing
        lambda body, headers: (body, meta_signed_headers(body, "another-apps-secret")),  # someone else's key
        lambda body, headers: (body, {"X-Hub-Signature-256": "sha1=" + "0" * 40}),  # the old SHA-1 header form
    ],
    ids=["tampered-body", "wrong-key", "not-sha256"],
)
def test_a_wrong_signature_is_refused_before_the_body_is_parsed(tamper: object) -> None:
    intake, queue = _intake(Channel.FACEBOOK)
    body = body_of(messaging_delivery(messaging_message("24488")))
    body, headers = tamper(body, meta_signed_headers(body, APP_SECRET))  # type: ignore[operator]
    with pytest.raises(SignatureError):
        asyncio.run(intake.receive(Channel.FACEBOOK, body, headers))
    assert len(queue) == 0


def test_a_signed_body_that_is_not_json_is_a_delivery_error_and_an_unsigned_one_never_gets_that_far() -> None:
    intake, _ = _intake(Channel.INSTAGRAM)
    body = b"not json {"
    with pytest.raises(DeliveryError):
        asyncio.run(intake.receive(Channel.INSTAGRAM, body, meta_signed_headers(body, APP_SECRET)))
    with pytest.raises(SignatureError):
        asyncio.run(intake.receive(Channel.INSTAGRAM, body, {"X-Hub-Signature-256": "sha256=" + "0" * 64}))


def test_a_channel_with_no_linked_credentials_cannot_be_verified() -> None:
    intake, _ = _intake(Channel.WHATSAPP)
    body = body_of(x_dm_delivery("1"))
    with pytest.raises(ChannelNotLinked):
        asyncio.run(intake.receive(Channel.X, body, x_signed_headers(body, CONSUMER_SECRET)))


def test_a_replayed_delivery_is_queued_once() -> None:
    intake, queue = _intake(Channel.WHATSAPP)
    body = body_of(whatsapp_message("16505551234", message_id="wamid.same"))
    for _ in range(3):
        asyncio.run(intake.receive(Channel.WHATSAPP, body, meta_signed_headers(body, APP_SECRET)))
    assert len(queue.receive()) == 1
