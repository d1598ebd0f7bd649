"""Meta (WhatsApp Cloud API, Messenger, Instagram) and X (Account Activity API) deliveries, shaped as the
platforms document them, become the events the worker answers: text, media, reactions, statuses — and echoes of
our own messages, reads and typing are dropped."""

from __future__ import annotations

import pytest

from oratio.channels.meta import DeliveryError, parse_meta
from oratio.channels.models import EventKind
from oratio.channels.x import parse_x
from oratio.config.tenant import Channel
from oratio_local.channel_events import (
    INSTAGRAM_ACCOUNT_ID,
    PAGE_ID,
    WHATSAPP_PHONE_NUMBER_ID,
    X_ACCOUNT_ID,
    messaging_delivery,
    messaging_message,
    messaging_reaction,
    messaging_read,
    whatsapp_delivery,
    whatsapp_message,
    whatsapp_status,
    x_dm_delivery,
)

CUSTOMER = "16505551234"


# ----------------------------------------------------------------------------------------- WhatsApp
def test_a_whatsapp_text_becomes_a_text_event_from_the_customers_e164_number() -> None:
    parsed = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, text="Do you have queen duvets?"))
    (event,) = parsed.events
    assert (event.kind, event.text, event.account_id) == (
        EventKind.TEXT,
        "Do you have queen duvets?",
        WHATSAPP_PHONE_NUMBER_ID,
    )
    assert (event.sender_id, event.sender_phone, event.sender_name) == (CUSTOMER, "+16505551234", "Sheena Nelson")
    assert event.message_id.startswith("wamid.")


def test_a_whatsapp_picture_keeps_its_caption_and_media_id() -> None:
    payload = whatsapp_message(CUSTOMER, kind="image", caption="Is this the grey one?", media_id="99")
    (event,) = parse_meta(Channel.WHATSAPP, payload).events
    assert event.kind is EventKind.MEDIA
    assert event.text == "Is this the grey one?"
    assert (event.attachments[0].type, event.attachments[0].media_id) == ("image", "99")


def test_a_whatsapp_reaction_names_the_emoji_and_the_message_it_reacts_to_and_a_removal_has_none() -> None:
    (added,) = parse_meta(
        Channel.WHATSAPP, whatsapp_message(CUSTOMER, kind="reaction", emoji="👍", reacted_to="wamid.A")
    ).events
    (removed,) = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, kind="reaction", reacted_to="wamid.A")).events
    assert (added.kind, added.reaction, added.reacted_to) == (EventKind.REACTION, "👍", "wamid.A")
    assert removed.reaction is None


@pytest.mark.parametrize("status", ["sent", "delivered", "read", "failed"])
def test_whatsapp_statuses_of_our_messages_are_status_events_with_their_errors(status: str) -> None:
    errors = [{"code": 131047, "title": "Re-engagement message"}] if status == "failed" else None
    (event,) = parse_meta(Channel.WHATSAPP, whatsapp_status(CUSTOMER, status, errors=errors)).events
    assert (event.kind, event.status, event.sender_id) == (EventKind.STATUS, status, CUSTOMER)
    assert event.status_errors == (("131047: Re-engagement message",) if errors else ())


def test_a_status_has_its_own_dedup_key_apart_from_the_message_it_reports() -> None:
    delivered = parse_meta(Channel.WHATSAPP, whatsapp_status(CUSTOMER, "delivered")).events[0]
    read = parse_meta(Channel.WHATSAPP, whatsapp_status(CUSTOMER, "read")).events[0]
    assert delivered.message_id == read.message_id
    assert delivered.dedup_key != read.dedup_key


def test_whatsapp_types_we_cannot_read_are_unsupported_and_system_notices_are_dropped() -> None:
    (unsupported,) = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, kind="order", catalog_id="1")).events
    system = parse_meta(Channel.WHATSAPP, whatsapp_message(CUSTOMER, kind="system", body="changed number"))
    assert unsupported.kind is EventKind.UNSUPPORTED
    assert (system.events, system.ignored) == ((), 1)


def test_a_button_reply_reads_as_the_text_on_the_button() -> None:
    payload = whatsapp_message(
        CUSTOMER, kind="interactive", type="button_reply", button_reply={"id": "b1", "title": "Track my order"}
    )
    (event,) = parse_meta(Channel.WHATSAPP, payload).events
    assert (event.kind, event.text) == (EventKind.TEXT, "Track my order")


def test_a_delivery_of_another_object_than_the_path_serves_yields_nothing() -> None:
    parsed = parse_meta(Channel.FACEBOOK, whatsapp_message(CUSTOMER))
    assert (parsed.events, parsed.ignored) == ((), 1)


@pytest.mark.parametrize("payload", [[], "text", {"entry": []}, {"object": 3}])
def test_a_signed_body_that_is_not_a_meta_envelope_is_a_delivery_error(payload: object) -> None:
    with pytest.raises(DeliveryError):
        parse_meta(Channel.WHATSAPP, payload)


def test_a_change_without_metadata_is_skipped_not_fatal() -> None:
    parsed = parse_meta(
        Channel.WHATSAPP,
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {}}]}],
        },
    )
    assert (parsed.events, parsed.ignored) == ((), 1)


def test_several_messages_of_one_delivery_keep_their_order() -> None:
    payload = whatsapp_delivery(
        value={
            "contacts": [{"profile": {"name": "A"}, "wa_id": CUSTOMER}],
            "messages": [
                {
                    "from": CUSTOMER,
                    "id": f"wamid.{n}",
                    "timestamp": "1750000000",
                    "type": "text",
                    "text": {"body": str(n)},
                }
                for n in range(3)
            ],
        }
    )
    assert [e.text for e in parse_meta(Channel.WHATSAPP, payload).events] == ["0", "1", "2"]


# -------------------------------------------------------------------------------- Messenger, Instagram
@pytest.mark.parametrize(
    ("channel", "object_", "account"),
    [(Channel.FACEBOOK, "page", PAGE_ID), (Channel.INSTAGRAM, "instagram", INSTAGRAM_ACCOUNT_ID)],
)
def test_messenger_and_instagram_texts_become_text_events_for_the_page_or_account(
    channel: Channel, object_: str, account: str
) -> None:
    payload = messaging_delivery(messaging_message("24488", account_id=account), object_=object_, account_id=account)
    (event,) = parse_meta(channel, payload).events
    assert (event.channel, event.kind, event.account_id, event.sender_id) == (channel, EventKind.TEXT, account, "24488")
    assert event.text == "Hi! I'm looking for a new comforter set for my queen bed"


def test_echoes_of_our_own_messages_are_counted_and_dropped() -> None:
    payload = messaging_delivery(
        messaging_message("24488", is_echo=True, text="Here's our comforter range"), messaging_message("24488")
    )
    parsed = parse_meta(Channel.FACEBOOK, payload)
    assert parsed.echoes == 1
    assert [e.sender_id for e in parsed.events] == ["24488"]


def test_attachments_make_a_media_event_with_their_urls() -> None:
    attachment = {"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}
    item = messaging_message("24488", account_id=INSTAGRAM_ACCOUNT_ID, text=None, attachments=[attachment])
    (event,) = parse_meta(
        Channel.INSTAGRAM, messaging_delivery(item, object_="instagram", account_id=INSTAGRAM_ACCOUNT_ID)
    ).events
    assert event.kind is EventKind.MEDIA
    assert event.attachments[0].url == attachment["payload"]["url"]


def test_reactions_and_unreactions_are_reaction_events_reads_are_dropped() -> None:
    payload = messaging_delivery(
        messaging_reaction("24488", "m_ours"),
        messaging_reaction("24488", "m_ours", unreact=True),
        messaging_read("24488"),
    )
    parsed = parse_meta(Channel.FACEBOOK, payload)
    assert [(e.kind, e.reaction, e.reacted_to) for e in parsed.events] == [
        (EventKind.REACTION, "\u2764\ufe0f", "m_ours"),
        (EventKind.REACTION, None, "m_ours"),
    ]
    assert parsed.ignored == 1


def test_two_reactions_to_one_message_are_two_events_with_their_own_keys() -> None:
    first, second = messaging_reaction("24488", "m_ours"), messaging_reaction("24488", "m_ours")
    second["timestamp"] += 1
    events = parse_meta(Channel.FACEBOOK, messaging_delivery(first, second)).events
    assert events[0].dedup_key != events[1].dedup_key


# ------------------------------------------------------------------------------------------------ X
def test_an_x_dm_becomes_a_text_event_for_the_subscribed_account() -> None:
    (event,) = parse_x(x_dm_delivery("4337869213", "Do you ship to Canada?", event_id="1861")).events
    assert (event.channel, event.account_id, event.sender_id, event.message_id) == (
        Channel.X,
        X_ACCOUNT_ID,
        "4337869213",
        "1861",
    )
    assert (event.text, event.sender_name) == ("Do you ship to Canada?", "Ana")


def test_an_x_dm_we_sent_ourselves_is_an_echo() -> None:
    parsed = parse_x(x_dm_delivery(X_ACCOUNT_ID, "Thanks for your message"))
    assert (parsed.events, parsed.echoes) == ((), 1)


def test_an_x_dm_with_a_picture_is_media_and_other_activity_is_ignored() -> None:
    payload = x_dm_delivery("4337869213", "this one", media_url="https://pbs.twimg.com/dm/1.jpg")
    payload["favorite_events"] = [{"id": "1"}]
    parsed = parse_x(payload)
    assert parsed.events[0].kind is EventKind.MEDIA
    assert parsed.events[0].attachments[0].url == "https://pbs.twimg.com/dm/1.jpg"
    assert parsed.ignored == 1


@pytest.mark.parametrize("payload", [[], {"direct_message_events": []}])
def test_an_x_body_without_for_user_id_is_a_delivery_error(payload: object) -> None:
    with pytest.raises(DeliveryError):
        parse_x(payload)


def test_events_of_one_conversation_share_an_order_key_and_other_conversations_do_not() -> None:
    a1 = parse_x(x_dm_delivery("1", "a")).events[0]
    a2 = parse_x(x_dm_delivery("1", "b")).events[0]
    b = parse_x(x_dm_delivery("2", "c")).events[0]
    assert a1.order_key == a2.order_key != b.order_key
    assert len(a1.order_key) <= 128
    assert len(a1.dedup_key) <= 128


# ------------------------------------------------------------------ malformed items (found by the handler fuzz)
NOT_TIMESTAMPS = ["", "soon", [], {}, "nan", "1e400", True]


@pytest.mark.parametrize("timestamp", NOT_TIMESTAMPS)
def test_a_messenger_item_whose_timestamp_is_no_time_is_skipped_and_the_rest_of_the_delivery_kept(
    timestamp: object,
) -> None:
    bad = {**messaging_message("24680135792468013", text="first"), "timestamp": timestamp}
    payload = messaging_delivery(bad, messaging_message("24680135792468013", text="second"))
    parsed = parse_meta(Channel.FACEBOOK, payload)
    assert ([e.text for e in parsed.events], parsed.ignored) == (["second"], 1)


def test_a_message_id_past_its_limit_skips_that_whatsapp_message_and_status_only() -> None:
    payload = whatsapp_delivery(
        value={
            "contacts": [{"profile": {"name": "A"}, "wa_id": CUSTOMER}],
            "messages": [
                {"from": CUSTOMER, "id": "w" * 600, "timestamp": "1750000000", "type": "text", "text": {"body": "x"}},
                {"from": CUSTOMER, "id": "wamid.ok", "timestamp": "1750000000", "type": "text", "text": {"body": "y"}},
            ],
            "statuses": [{"id": "wamid.s", "status": "failed", "timestamp": "not a time", "recipient_id": CUSTOMER}],
        }
    )
    parsed = parse_meta(Channel.WHATSAPP, payload)
    assert ([e.text for e in parsed.events], parsed.ignored) == (["y"], 2)


@pytest.mark.parametrize("sender", ["", "9" * 300])
def test_an_x_dm_from_no_valid_sender_or_to_no_valid_account_is_skipped(sender: str) -> None:
    good = x_dm_delivery("4337869213", "kept")
    bad = x_dm_delivery("4337869213", "dropped")["direct_message_events"][0]
    bad["message_create"]["sender_id"] = sender
    bad["created_timestamp"] = "not a time"
    payload = {**good, "direct_message_events": [bad, *good["direct_message_events"]]}
    parsed = parse_x(payload)
    assert [e.text for e in parsed.events] == ["kept"]
    huge_account = parse_x({**good, "for_user_id": "1" * 300})
    assert huge_account.events == ()
