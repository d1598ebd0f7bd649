"""One customer across channels: phone identities are one key whatever the channel; a social id joins a
customer's profile only once the customer proves the number or address they gave with a one-time code."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from oratio.adapters.memory_agent import InMemoryCustomerContextStore
from oratio.agent.contracts import CustomerIdentity
from oratio.agent.ports import ConversationSummary, CustomerContext
from oratio.customers.adapters.memory import InMemoryClaimStore, OutboxCodeSender
from oratio.customers.claims import claims_in
from oratio.customers.identity import IdentityError, e164, identity_key
from oratio.customers.linking import IdentityLinking, LinkingSettings, LinkStep

TENANT = "cozy-comfort"
IG = "instagram:17841400000000001"
PHONE = "phone:+16505551234"
T0 = datetime(2026, 11, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "value", "key"),
    [
        ("phone", "+16505551234", PHONE),
        ("whatsapp", "16505551234", PHONE),  # WhatsApp's wa_id has no plus
        ("sms", "+1 (650) 555-1234", PHONE),
        ("email", " Ana@Example.COM", "email:ana@example.com"),
        ("instagram", "17841400000000001", IG),
    ],
)
def test_identity_keys_join_phone_kinds_by_e164(kind: str, value: str, key: str) -> None:
    assert identity_key(kind, value) == key
    if kind != "sms":
        assert CustomerIdentity(kind=kind, value=value.strip()).key == key  # type: ignore[arg-type]


def test_a_caller_id_that_is_not_a_number_keeps_its_own_key_instead_of_failing_the_call() -> None:
    assert CustomerIdentity(kind="phone", value="anonymous").key == "phone:anonymous"
    with pytest.raises(IdentityError):
        e164("anonymous")


def test_numbers_and_addresses_are_found_in_what_customers_write_in_the_tenants_country() -> None:
    found = claims_in("sure! it's (650) 555-1234, or mail me at Ana@Example.com. Order 123456 btw", "US")
    assert [(c.kind, c.key) for c in found] == [("phone", PHONE), ("email", "email:ana@example.com")]
    assert [c.key for c in claims_in("call 020 7946 0958", "GB")] == ["phone:+442079460958"]


# ------------------------------------------------------------------------------------------- linking
class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def linking(
    *, senders: dict[str, OutboxCodeSender] | None = None, settings: LinkingSettings | None = None
) -> tuple[IdentityLinking, InMemoryCustomerContextStore, OutboxCodeSender, Clock]:
    store = InMemoryCustomerContextStore()
    outbox = OutboxCodeSender()
    clock = Clock()
    codes = iter(["482913", "111111", "222222"])
    service = IdentityLinking(
        links=store,
        claims=InMemoryClaimStore(),
        senders=senders if senders is not None else {"phone": outbox, "email": outbox},
        clock=clock,
        settings=settings,
        new_code=lambda digits: next(codes),
    )
    return service, store, outbox, clock


def handle(service: IdentityLinking, text: str, identity: str = IG):  # type: ignore[no-untyped-def]
    return asyncio.run(service.handle(TENANT, identity, text, region="US", business="Cozy Comfort Bedding"))


def _phone_profile(store: InMemoryCustomerContextStore) -> None:
    voice = ConversationSummary(
        channel="voice", session_id="call-1", at=T0 - timedelta(days=2), summary="Asked about duvets."
    )
    asyncio.run(store.save(CustomerContext(tenant_id=TENANT, customer_key=PHONE, recent_conversations=(voice,))))


def test_a_number_given_on_instagram_gets_a_code_by_sms_and_is_not_linked_until_the_code_comes_back() -> None:
    service, store, outbox, _ = linking()
    _phone_profile(store)
    outcome = handle(service, "my number is 650 555 1234")
    assert outcome.step is LinkStep.CODE_SENT
    assert not outcome.consumed
    assert "+1 650-555-1234" in outcome.reply
    assert outbox.sent[0].address == "+16505551234"
    assert "482913" in outbox.sent[0].text
    assert "Cozy Comfort Bedding" in outbox.sent[0].text
    assert asyncio.run(store.get(TENANT, IG)) is None  # not guessed: no link yet


def test_the_right_code_links_the_instagram_id_to_the_phone_customer_and_its_conversations() -> None:
    service, store, _, _ = linking()
    _phone_profile(store)
    handle(service, "my number is 650 555 1234")
    outcome = handle(service, "482 913")
    assert (outcome.step, outcome.consumed, outcome.customer_key) == (LinkStep.LINKED, True, PHONE)
    profile = asyncio.run(store.get(TENANT, IG))
    assert profile is not None
    assert profile.customer_key == PHONE
    assert [c.channel for c in profile.recent_conversations] == ["voice"]
    assert IG in profile.linked_identities


def test_what_was_known_under_the_instagram_id_moves_into_the_customer_profile() -> None:
    service, store, _, _ = linking()
    _phone_profile(store)
    chat = ConversationSummary(channel="instagram", session_id="ig-1", at=T0, summary="Asked about pillows.")
    asyncio.run(
        store.save(
            CustomerContext(tenant_id=TENANT, customer_key=IG, recent_conversations=(chat,), lead={"size": "queen"})
        )
    )
    handle(service, "650-555-1234")
    handle(service, "482913")
    profile = asyncio.run(store.get(TENANT, PHONE))
    assert profile is not None
    assert {c.channel for c in profile.recent_conversations} == {"voice", "instagram"}
    assert profile.lead == {"size": "queen"}


def test_a_wrong_code_is_refused_and_too_many_cancel_the_claim() -> None:
    service, store, _, _ = linking(settings=LinkingSettings(max_attempts=2))
    handle(service, "650 555 1234")
    assert handle(service, "000000").step is LinkStep.WRONG_CODE
    assert handle(service, "000001").step is LinkStep.LOCKED
    assert handle(service, "482913").step is LinkStep.NONE  # nothing pending any more: just a message
    assert asyncio.run(store.customer_key(TENANT, IG)) == IG


def test_an_expired_code_links_nothing() -> None:
    service, store, _, clock = linking()
    handle(service, "650 555 1234")
    clock.now = T0 + timedelta(minutes=11)
    assert handle(service, "482913").step is LinkStep.EXPIRED
    assert asyncio.run(store.customer_key(TENANT, IG)) == IG


def test_an_email_is_confirmed_the_same_way() -> None:
    service, store, outbox, _ = linking()
    handle(service, "it's ana@example.com")
    assert outbox.sent[0].address == "ana@example.com"
    assert handle(service, "482913").step is LinkStep.LINKED
    assert asyncio.run(store.customer_key(TENANT, IG)) == "email:ana@example.com"


def test_without_a_way_to_send_a_code_nothing_is_claimed() -> None:
    service, _store, _, _ = linking(senders={})
    assert handle(service, "650 555 1234").step is LinkStep.NONE


def test_a_code_that_cannot_be_delivered_says_so_and_stores_no_claim() -> None:
    failing = OutboxCodeSender(fail=True)
    service, _, _, _ = linking(senders={"phone": failing})
    outcome = handle(service, "650 555 1234")
    assert outcome.step is LinkStep.NOT_SENT
    assert handle(service, "482913").step is LinkStep.NONE


def test_a_whatsapp_customer_giving_their_own_number_is_not_asked_for_a_code() -> None:
    service, _, outbox, _ = linking()
    assert handle(service, "call me on 650 555 1234", identity=PHONE).step is LinkStep.NONE
    assert outbox.sent == []


def test_an_identity_already_linked_to_that_customer_is_not_asked_again() -> None:
    service, _, outbox, _ = linking()
    handle(service, "650 555 1234")
    handle(service, "482913")
    assert handle(service, "as I said, 650 555 1234").step is LinkStep.NONE
    assert len(outbox.sent) == 1


def test_a_vendor_link_needs_no_code() -> None:
    service, store, _, _ = linking()
    _phone_profile(store)
    assert asyncio.run(service.link(TENANT, "x:4337869213", PHONE)) == PHONE
    assert asyncio.run(store.customer_key(TENANT, "x:4337869213")) == PHONE


def test_a_link_to_an_identity_that_is_itself_linked_lands_on_the_customer() -> None:
    service, store, _, _ = linking()
    asyncio.run(service.link(TENANT, "email:ana@example.com", PHONE))
    asyncio.run(service.link(TENANT, IG, "email:ana@example.com"))
    assert asyncio.run(store.customer_key(TENANT, IG)) == PHONE
