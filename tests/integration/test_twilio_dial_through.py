"""A Twilio call the telephony webhook accepts is `<Dial>`ed to the tenant's Connect number, and Connect's call
router (the real Lambda, over moto) takes it over for the agent the Twilio number is bound to: the same decision,
the same slot (counted once), once, within the tenant's `dial_through_seconds`, only for the caller Twilio
presents. The webhook's router also checks the agent's own budget share, as Connect's router would."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from oratio.adapters.dynamodb import DynamoDBAgentDirectory, DynamoDBCallSessionStore, _serialize
from oratio.adapters.dynamodb_agent import DynamoDBBudgetLedger
from oratio.adapters.memory import FixedClock
from oratio.agent_definitions.dynamodb import version_to_item
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.config.tenant import CallSlotSettings
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR
from oratio.domain.calls import CallStatus
from oratio.domain.dial_through import DIALLED_THROUGH
from oratio.tables import AGENT_DEFINITIONS, AGENTS, CONVERSATIONS, TENANT_STATE, USAGE
from oratio_local.events import connect_contact_flow_event
from tests.events import lambda_context
from tests.integration.conftest import load_handler, table_name
from tests.integration.test_agent_share_at_dialling import _spec as share_spec
from tests.integration.test_call_router_dynamodb import OPEN_TIME, PROFILE, TENANT_ID, active_calls, seed_agent
from tests.integration.test_voice_webhook import (
    CONNECT_NUMBER,
    TWILIO_CALL,
    VONAGE_UUID,
    aws,  # noqa: F401 - the fixture
    call,
    twilio_event,
    twiml,
    vonage_answer,
    webhook,
)

CALLER = TWILIO_CALL["From"]
CALL_SID = TWILIO_CALL["CallSid"]
WINDOW = PROFILE.call_slots.dial_through_seconds


def connect_router(now: datetime) -> ModuleType:
    handler = load_handler("call_router")
    handler.clock = FixedClock(now)
    return handler


def connect_contact(
    contact_id: str, *, caller: str = CALLER, at: datetime = OPEN_TIME + timedelta(seconds=5)
) -> dict[str, str]:
    """Connect's inbound flow asking its router about a contact on the Connect number (what Twilio's Dial makes)."""
    event = connect_contact_flow_event(contact_id=contact_id, dialed=CONNECT_NUMBER, caller=caller)
    answer: dict[str, str] = connect_router(at).lambda_handler(event, lambda_context("oratio-cozy-comfort-call-router"))
    return answer


def sessions(client: Any) -> DynamoDBCallSessionStore:
    return DynamoDBCallSessionStore(table_name(CONVERSATIONS), table_name(TENANT_STATE), client=client)


def dial_through(client: Any, params: dict[str, str] = TWILIO_CALL) -> list[tuple[str, str | None]]:
    response = call(webhook(), twilio_event(params))
    return [(child.tag, child.text) for child in twiml(response)]


def test_a_twilio_caller_reaches_the_bound_agent_through_connect_counted_once(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    assert dial_through(aws) == [("Dial", CONNECT_NUMBER)]
    assert active_calls(aws) == 1  # the webhook's router took the slot

    answer = connect_contact("connect-1")

    assert (answer["route"], answer["reason"], answer["agent_id"]) == ("agent", "accepted", "front-desk")
    assert answer["greeting"] == PROFILE.greeting
    assert active_calls(aws) == 1  # the slot moved to the Connect contact: not counted again
    webhook_session = sessions(aws).get(TENANT_ID, CALL_SID)
    assert webhook_session is not None
    assert (webhook_session.status, webhook_session.outcome) == (CallStatus.CLOSED, DIALLED_THROUGH)
    contact = sessions(aws).get(TENANT_ID, "connect-1")
    assert contact is not None
    assert (contact.status, contact.agent_id, contact.counted_against_limit) == (CallStatus.OPEN, "front-desk", True)
    # Connect's disconnect closes the contact's session: the one slot the call held is given back.
    assert sessions(aws).close(TENANT_ID, "connect-1", OPEN_TIME + timedelta(minutes=4)).released_slot
    assert active_calls(aws) == 0


def test_a_hand_off_is_taken_once(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    dial_through(aws)
    assert connect_contact("connect-1")["route"] == "agent"

    second = connect_contact("connect-2", at=OPEN_TIME + timedelta(seconds=6))

    assert (second["route"], second["reason"]) == ("unavailable", "unknown_number")
    assert active_calls(aws) == 1


def test_connects_retry_of_the_contact_that_took_it_gets_the_same_answer(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    dial_through(aws)
    first = connect_contact("connect-1")
    retried = connect_contact("connect-1", at=OPEN_TIME + timedelta(seconds=9))
    assert (retried["route"], retried["agent_id"]) == (first["route"], first["agent_id"]) == ("agent", "front-desk")
    assert active_calls(aws) == 1


def test_another_caller_on_the_connect_number_does_not_take_it(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    dial_through(aws)

    stranger = connect_contact("connect-stranger", caller="+15559990000")

    assert (stranger["route"], stranger["reason"]) == ("unavailable", "unknown_number")
    assert connect_contact("connect-1")["agent_id"] == "front-desk"  # still there for the caller it is for


@pytest.mark.parametrize(
    ("window", "after", "route"),
    [(WINDOW, WINDOW - 1, "agent"), (WINDOW, WINDOW, "unavailable"), (20, 30, "unavailable"), (120, 90, "agent")],
    ids=["default-within", "default-expired", "short-window-expired", "long-window-within"],
)
def test_a_hand_off_expires_after_the_tenants_dial_through_seconds(
    aws: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    window: int,
    after: int,
    route: str,
) -> None:
    slots = CallSlotSettings(dial_through_seconds=window)
    monkeypatch.setenv(ROUTING_PROFILE_ENV_VAR, PROFILE.model_copy(update={"call_slots": slots}).to_env())
    seed_agent(aws)
    dial_through(aws)

    answer = connect_contact("connect-1", at=OPEN_TIME + timedelta(seconds=after))

    assert answer["route"] == route


def test_a_withheld_caller_hears_the_unavailable_message_rather_than_an_unknown_number(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    said = dial_through(aws, {**TWILIO_CALL, "From": "anonymous"})
    assert said == [("Say", PROFILE.unavailable_message), ("Hangup", None)]
    assert active_calls(aws) == 0  # its session is closed at once
    closed = sessions(aws).get(TENANT_ID, CALL_SID)
    assert closed is not None
    assert (closed.status, closed.outcome) == (CallStatus.CLOSED, "dial_through_unavailable")


def test_a_second_call_of_the_same_caller_while_the_first_is_handed_over_is_turned_away(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    dial_through(aws)
    second = dial_through(aws, {**TWILIO_CALL, "CallSid": "CA" + "2" * 32})
    assert second == [("Say", PROFILE.unavailable_message), ("Hangup", None)]
    assert active_calls(aws) == 1  # only the first still holds a slot
    assert connect_contact("connect-1")["agent_id"] == "front-desk"  # and the first is not lost


def test_a_webhook_session_whose_lease_ran_out_is_admitted_afresh_for_its_agent(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    dial_through(aws)
    # Its slot was given back meanwhile (reclaimed as abandoned): taking it over would count nothing.
    assert sessions(aws).close(TENANT_ID, CALL_SID, OPEN_TIME + timedelta(seconds=2), outcome="abandoned").released_slot

    answer = connect_contact("connect-1")

    assert (answer["route"], answer["agent_id"]) == ("agent", "front-desk")
    assert active_calls(aws) == 1  # admitted again, with a slot of its own


# ------------------------------------------------------------------ the agent's own share, at the webhook
SHARE = 50.0


@pytest.fixture
def spent_share(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The front desk's live definition gives it a share of the month that it has spent (the tenant has not)."""
    for table in (USAGE, AGENT_DEFINITIONS):
        monkeypatch.setenv(table.env_var, table_name(table))
    agent = seed_agent(aws).model_copy(update={"live_version": 2})
    DynamoDBAgentDirectory(table_name(AGENTS), client=aws).put_agent(agent)
    version = DefinitionVersion(
        vendor_id=TENANT_ID,
        agent_id="front-desk",
        version=2,
        spec=share_spec(SHARE),
        author="vendor",
        note="a share of the budget",
        created_at=OPEN_TIME - timedelta(days=1),
    )
    aws.put_item(TableName=table_name(AGENT_DEFINITIONS), Item=_serialize(version_to_item(version)))
    ledger = DynamoDBBudgetLedger(table_name(USAGE), client=aws)
    asyncio.run(ledger.add(TENANT_ID, OPEN_TIME, "model", "nova-lite", SHARE, agent_id="front-desk"))


def test_a_twilio_caller_of_an_agent_whose_share_is_spent_goes_to_a_person_as_on_connect(
    aws: Any,  # noqa: F811
    spent_share: None,
) -> None:
    # Connect's flow says the budget message (once) and queues the caller: Twilio only dials.
    assert dial_through(aws) == [("Dial", CONNECT_NUMBER)]

    answer = connect_contact("connect-1")
    assert answer["message"] == PROFILE.budget_message

    # What Connect's router answers a direct caller of that agent (test_agent_share_at_dialling).
    assert (answer["route"], answer["reason"], answer["budget_state"]) == ("human", "budget_exhausted", "exhausted")
    assert (answer["agent_id"], answer["handoff_reason"]) == ("front-desk", "monthly budget reached")
    assert active_calls(aws) == 0  # a person takes it: no AI slot


def test_a_vonage_caller_of_an_agent_whose_share_is_spent_goes_to_a_person_not_the_bridge(
    aws: Any,  # noqa: F811
    spent_share: None,
) -> None:
    ncco = call(webhook(), vonage_answer())["body"]
    assert "websocket" not in ncco
    assert PROFILE.budget_message in ncco
    assert CONNECT_NUMBER.lstrip("+") in ncco
    stored = sessions(aws).get(TENANT_ID, VONAGE_UUID)
    assert stored is not None
    assert (stored.route.value, stored.reason.value) == ("human", "budget_exhausted")


# -------------------------------------------------------------- the take-over's own guards (races with the read)
def _read_then_taken_by_another(aws: Any, *, at: datetime) -> tuple[Any, Any]:  # noqa: F811
    """A hand-off read by one contact's router, and the session it would open; returns (dial_throughs, take)."""
    from oratio.adapters.dynamodb_dial_through import DynamoDBDialThroughs
    from oratio.domain.calls import InboundCall

    seed_agent(aws)
    dial_through(aws)
    store = DynamoDBDialThroughs(table_name(TENANT_STATE), sessions(aws), client=aws)
    hand_off = store.pending(TENANT_ID, CALLER, CONNECT_NUMBER, OPEN_TIME)
    assert hand_off is not None
    router = connect_router(at).build_router()

    def take(contact_id: str, when: datetime = at) -> Any:
        contact = InboundCall(
            contact_id=contact_id, channel="voice", dialed_number=CONNECT_NUMBER, caller_number=CALLER
        )
        session = router._session_for(contact, hand_off.decision(PROFILE, "voice"), when)
        return store.take_over(hand_off, session, when)

    return store, take


def test_of_two_contacts_that_read_the_same_hand_off_only_the_first_takes_it(aws: Any) -> None:  # noqa: F811
    from oratio.domain.dial_through import TakeOver

    store, take = _read_then_taken_by_another(aws, at=OPEN_TIME + timedelta(seconds=5))
    assert take("connect-1") is TakeOver.TAKEN
    assert store.pending(TENANT_ID, CALLER, CONNECT_NUMBER, OPEN_TIME + timedelta(seconds=6)) is None  # no write tried
    assert take("connect-2") is TakeOver.GONE
    assert sessions(aws).get(TENANT_ID, "connect-2") is None
    assert active_calls(aws) == 1


def test_a_hand_off_read_in_time_but_taken_after_its_window_is_not_taken(aws: Any) -> None:  # noqa: F811
    from oratio.domain.dial_through import TakeOver

    store, take = _read_then_taken_by_another(aws, at=OPEN_TIME + timedelta(seconds=5))
    late = OPEN_TIME + timedelta(seconds=WINDOW + 1)
    assert store.pending(TENANT_ID, CALLER, CONNECT_NUMBER, late) is None  # DynamoDB's TTL may not have deleted it
    assert take("connect-1", late) is TakeOver.GONE
    assert sessions(aws).get(TENANT_ID, "connect-1") is None
    webhook_session = sessions(aws).get(TENANT_ID, CALL_SID)
    assert webhook_session is not None
    assert webhook_session.status is CallStatus.OPEN  # nothing changed: its lease frees the slot


def test_a_hand_off_whose_webhook_session_ended_is_still_used_up_by_the_first_contact(aws: Any) -> None:  # noqa: F811
    seed_agent(aws)
    dial_through(aws)
    sessions(aws).close(TENANT_ID, CALL_SID, OPEN_TIME + timedelta(seconds=2), outcome="abandoned")
    assert connect_contact("connect-1")["route"] == "agent"  # admitted afresh

    second = connect_contact("connect-2", at=OPEN_TIME + timedelta(seconds=6))

    assert (second["route"], second["reason"]) == ("unavailable", "unknown_number")
    assert active_calls(aws) == 1
