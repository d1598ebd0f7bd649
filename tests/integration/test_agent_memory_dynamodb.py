"""The agent's DynamoDB adapters against moto: cross-channel customers, unique turn numbers, budgets, workflow."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oratio.adapters.dynamodb import DataAccessError
from oratio.adapters.dynamodb_agent import (
    DynamoDBBudgetLedger,
    DynamoDBConversationRecorder,
    DynamoDBCustomerContextStore,
    DynamoDBWorkflowStateStore,
    ItemConflictError,
)
from oratio.adapters.memory_agent import RecordConflictError
from oratio.agent.ports import AgentEventRecord, ConversationSummary, CustomerContext, TurnRecord, WorkflowState
from oratio.tables import CONVERSATIONS, CUSTOMER_CONTEXT, USAGE
from tests.integration.conftest import table_name

TENANT = "cozy-comfort"
WHATSAPP = "whatsapp:15551234567"
PHONE = "phone:+15551234567"
T0 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def clock() -> datetime:
    return T0


class OneCallAtATime:
    """A moto client that serves one call at a time, as each DynamoDB request is applied atomically.

    moto's DynamoDB is not thread-safe: two UpdateItem ADDs from two threads can both read the old value.
    Real DynamoDB applies each update atomically; this lock gives moto that property, so the concurrency
    tests check what is ours to get right: every increment is one atomic request, never a read-then-write.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


def raw_items(client: Any, table: str) -> list[dict[str, Any]]:
    return list(client.scan(TableName=table)["Items"])


def summary(session: str, minutes: int, channel: str = "whatsapp") -> ConversationSummary:
    return ConversationSummary(
        channel=channel,
        session_id=session,
        at=T0 + timedelta(minutes=minutes),
        summary=f"asked about duvets ({session})",
    )


def turn_record(sequence: int, **changes: Any) -> TurnRecord:
    fields: dict[str, Any] = {
        "tenant_id": TENANT,
        "session_id": "call-1",
        "agent_id": "agent-1",
        "channel": "voice",
        "sequence": sequence,
        "user_text": "Do you have queen duvets?",
        "reply_text": "Yes, from $89.",
        "model_id": "nova-lite",
        "routing_reason": "simple question",
        "role": "sales",
        "input_tokens": 812,
        "output_tokens": 24,
        "cache_read_tokens": 700,
        "cache_write_tokens": 0,
        "cost_usd": 0.000123,
        "latency_ms": 412.5,
        "tools": ("knowledge_search",),
        "outcome": "ok",
        "at": T0 + timedelta(seconds=sequence),
    }
    return TurnRecord.model_validate(fields | changes)


# ---------------------------------------------------------------------------------------- customer context
def test_a_whatsapp_customer_is_recognised_when_their_phone_calls(dynamodb: Any) -> None:
    # Given a customer who talked on WhatsApp yesterday and gave their phone number
    store = DynamoDBCustomerContextStore(table_name(CUSTOMER_CONTEXT), client=dynamodb, clock=clock)
    context = CustomerContext(
        tenant_id=TENANT,
        customer_key=WHATSAPP,
        display_name="Jane",
        linked_identities=(PHONE,),
        recent_conversations=(summary("wa-1", 0),),
        lead={"signals": ["budget"], "budget_usd": 250.5},
        qualification_score=0.42,
        updated_at=T0,
    )
    asyncio.run(store.save(context))

    # When that phone number calls today
    found = asyncio.run(store.get(TENANT, PHONE))

    # Then the agent knows who it is and what was said on WhatsApp
    assert found == context
    assert asyncio.run(store.get(TENANT, WHATSAPP)) == context
    # And another tenant knows nothing about them
    assert asyncio.run(store.get("other-shop", PHONE)) is None
    assert asyncio.run(store.get(TENANT, "phone:+15550000000")) is None


def test_a_link_beats_an_older_profile_of_the_same_identity(dynamodb: Any) -> None:
    store = DynamoDBCustomerContextStore(table_name(CUSTOMER_CONTEXT), client=dynamodb, clock=clock)
    asyncio.run(store.save(CustomerContext(tenant_id=TENANT, customer_key=PHONE, display_name="Caller")))
    asyncio.run(
        store.save(
            CustomerContext(tenant_id=TENANT, customer_key=WHATSAPP, display_name="Jane", linked_identities=(PHONE,))
        )
    )
    found = asyncio.run(store.get(TENANT, PHONE))
    assert found is not None
    assert found.display_name == "Jane"


def test_customer_context_keeps_the_newest_conversations_and_deletes_older_ones(dynamodb: Any) -> None:
    table = table_name(CUSTOMER_CONTEXT)
    store = DynamoDBCustomerContextStore(table, keep_conversations=3, client=dynamodb, clock=clock)
    for n in range(5):
        previous = asyncio.run(store.get(TENANT, WHATSAPP))
        summaries = (previous.recent_conversations if previous else ()) + (summary(f"wa-{n}", n),)
        asyncio.run(
            store.save(CustomerContext(tenant_id=TENANT, customer_key=WHATSAPP, recent_conversations=summaries))
        )

    found = asyncio.run(store.get(TENANT, WHATSAPP))

    assert found is not None
    assert [s.session_id for s in found.recent_conversations] == ["wa-4", "wa-3", "wa-2"]
    stored_summaries = [i for i in raw_items(dynamodb, table) if i["sk"]["S"].startswith("CONV#")]
    assert len(stored_summaries) == 3


def test_customer_items_are_keyed_by_tenant_and_expire(dynamodb: Any) -> None:
    table = table_name(CUSTOMER_CONTEXT)
    store = DynamoDBCustomerContextStore(table, retention_days=30, client=dynamodb, clock=clock)
    context = CustomerContext(
        tenant_id=TENANT, customer_key=WHATSAPP, linked_identities=(PHONE,), recent_conversations=(summary("wa", 0),)
    )
    asyncio.run(store.save(context))

    items = raw_items(dynamodb, table)

    assert {i["sk"]["S"].split("#")[0] for i in items} == {"PROFILE", "LINK", "CONV"}
    assert all(i["pk"]["S"].startswith(f"{TENANT}#") for i in items)
    assert {int(i["expires_at"]["N"]) for i in items} == {int((T0 + timedelta(days=30)).timestamp())}


# -------------------------------------------------------------------------------------------- recorder
def test_ten_concurrent_turns_never_share_a_sequence_number(dynamodb: Any) -> None:
    # Given one session and ten turns asking for a number at once
    recorder = DynamoDBConversationRecorder(table_name(CONVERSATIONS), client=OneCallAtATime(dynamodb), clock=clock)

    async def ten() -> list[int]:
        return list(await asyncio.gather(*(recorder.next_sequence(TENANT, "call-1") for _ in range(10))))

    # When they all run
    numbers = asyncio.run(ten())

    # Then each got its own number, 1 to 10, and another session starts at 1
    assert sorted(numbers) == list(range(1, 11))
    assert asyncio.run(recorder.next_sequence(TENANT, "call-2")) == 1


def test_a_turn_is_stored_with_every_field_and_read_back_in_order(dynamodb: Any) -> None:
    table = table_name(CONVERSATIONS)
    recorder = DynamoDBConversationRecorder(table, retention_days=90, client=dynamodb, clock=clock)
    second, first = turn_record(2, user_text=None, outcome="fallback", error="model timed out"), turn_record(1)
    asyncio.run(recorder.record_turn(second))
    asyncio.run(recorder.record_turn(first))

    assert asyncio.run(recorder.turns(TENANT, "call-1")) == [first, second]
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"{TENANT}#call-1"}, "sk": {"S": "TURN#000001"}})["Item"]
    stored_fields = {name for name, value in first.model_dump().items() if value is not None}
    assert stored_fields <= set(item)
    assert item["cost_usd"] == {"N": "0.000123"}
    assert int(item["expires_at"]["N"]) == int((first.at + timedelta(days=90)).timestamp())


def test_a_retried_turn_is_harmless_but_a_different_turn_cannot_take_its_number(dynamodb: Any) -> None:
    recorder = DynamoDBConversationRecorder(table_name(CONVERSATIONS), client=dynamodb, clock=clock)
    asyncio.run(recorder.record_turn(turn_record(1)))
    asyncio.run(recorder.record_turn(turn_record(1)))

    with pytest.raises(ItemConflictError) as raised:
        asyncio.run(recorder.record_turn(turn_record(1, reply_text="something else")))
    assert isinstance(raised.value, DataAccessError)
    assert isinstance(raised.value, RecordConflictError)
    assert [t.reply_text for t in asyncio.run(recorder.turns(TENANT, "call-1"))] == ["Yes, from $89."]


def test_transitions_and_escalations_are_recorded_even_at_the_same_instant(dynamodb: Any) -> None:
    table = table_name(CONVERSATIONS)
    recorder = DynamoDBConversationRecorder(table, client=dynamodb, clock=clock)
    events = [
        AgentEventRecord(
            tenant_id=TENANT,
            session_id="call-1",
            kind="transition",
            at=T0,
            detail={"from": "greeter", "to": "qualifier", "trigger": "customer_spoke"},
        ),
        AgentEventRecord(
            tenant_id=TENANT,
            session_id="call-1",
            kind="escalation",
            at=T0,
            detail={"to_tier": "premium", "cost_usd": 0.063, "score": 0.71, "blocked_by_budget": False},
        ),
        AgentEventRecord(
            tenant_id=TENANT,
            session_id="call-1",
            kind="transition",
            at=T0,
            detail={"from": "sales", "to": "closer", "trigger": "qualified"},
        ),
    ]
    for event in events:
        asyncio.run(recorder.record_event(event))

    stored = asyncio.run(recorder.events(TENANT, "call-1"))

    assert sorted(stored, key=repr) == sorted(events, key=repr)
    sks = sorted(i["sk"]["S"] for i in raw_items(dynamodb, table))
    assert sks == [
        f"EVENT#{T0.isoformat()}#escalation",
        f"EVENT#{T0.isoformat()}#transition",
        f"EVENT#{T0.isoformat()}#transition#2",
    ]


def test_conversation_items_are_keyed_by_tenant(dynamodb: Any) -> None:
    table = table_name(CONVERSATIONS)
    recorder = DynamoDBConversationRecorder(table, client=dynamodb, clock=clock)
    asyncio.run(recorder.next_sequence(TENANT, "call-1"))
    asyncio.run(recorder.record_turn(turn_record(1)))
    asyncio.run(
        recorder.record_event(AgentEventRecord(tenant_id=TENANT, session_id="call-1", kind="routing", at=T0, detail={}))
    )
    states = DynamoDBWorkflowStateStore(table, client=dynamodb, clock=clock)
    asyncio.run(states.save(TENANT, "call-1", WorkflowState(role="greeter")))

    items = raw_items(dynamodb, table)

    assert len(items) == 4
    assert all(i["pk"]["S"] == f"{TENANT}#call-1" for i in items)
    assert all("expires_at" in i for i in items)


# ---------------------------------------------------------------------------------------------- budget
def test_budget_ledger_adds_atomically_and_totals_each_month(dynamodb: Any) -> None:
    # Given spend from many concurrent turns at the end of November and the start of December
    table = table_name(USAGE)
    ledger = DynamoDBBudgetLedger(table, client=OneCallAtATime(dynamodb), clock=clock)
    late_november = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    early_december = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)

    async def spend() -> None:
        await asyncio.gather(
            *(ledger.add(TENANT, late_november, "model", "nova-lite", 0.1) for _ in range(10)),
            ledger.add(TENANT, late_november, "audio", "polly-neural", 0.05),
            ledger.add(TENANT, early_december, "model", "nova-lite", 2.0),
        )

    asyncio.run(spend())

    # Then every cent is counted, in the right month, and nothing leaks to another tenant
    assert asyncio.run(ledger.month_to_date_usd(TENANT, datetime(2026, 11, 1, tzinfo=UTC))) == pytest.approx(1.05)
    assert asyncio.run(ledger.month_to_date_usd(TENANT, early_december)) == pytest.approx(2.0)
    assert asyncio.run(ledger.month_to_date_usd(TENANT, datetime(2027, 1, 1, tzinfo=UTC))) == 0.0
    assert asyncio.run(ledger.month_to_date_usd("other-shop", late_november)) == 0.0
    items = {(i["pk"]["S"], i["sk"]["S"]): Decimal(i["usd"]["N"]) for i in raw_items(dynamodb, table) if "usd" in i}
    assert items == {
        (TENANT, "2026-11#total"): Decimal("1.05"),
        (TENANT, "2026-11#model#nova-lite"): Decimal("1.0"),
        (TENANT, "2026-11#audio#polly-neural"): Decimal("0.05"),
        (TENANT, "2026-12#total"): Decimal("2.0"),
        (TENANT, "2026-12#model#nova-lite"): Decimal("2.0"),
        (TENANT, "DAY#2026-11-30#total"): Decimal("1.05"),
        (TENANT, "DAY#2026-11-30#category#model"): Decimal("1.0"),
        (TENANT, "DAY#2026-11-30#category#audio"): Decimal("0.05"),
        (TENANT, "DAY#2026-12-01#total"): Decimal("2.0"),
        (TENANT, "DAY#2026-12-01#category#model"): Decimal("2.0"),
    }


def test_budget_ledger_books_the_agent_and_the_conversation_breakdown(dynamodb: Any) -> None:
    # Given a ledger that also knows the conversations table
    usage, conversations = table_name(USAGE), table_name(CONVERSATIONS)
    ledger = DynamoDBBudgetLedger(
        usage, conversations_table=conversations, client=OneCallAtATime(dynamodb), clock=clock
    )
    at = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)

    # When two turns of one call and a turn of another agent spend
    async def spend() -> None:
        await asyncio.gather(
            ledger.add(TENANT, at, "model", "nova-lite", 0.25, agent_id="front-desk", session_id="call-1"),
            ledger.add(TENANT, at, "lex", "speech_request", 0.004, agent_id="front-desk", session_id="call-1"),
            ledger.add(TENANT, at, "model", "nova-lite", 1.0, agent_id="sales", session_id="call-2"),
        )

    asyncio.run(spend())

    # Then each agent's month and day, and each call's own breakdown, hold exactly their spend
    rows = _usage_rows(dynamodb)
    assert rows["2026-11#agent#front-desk"] == Decimal("0.254")
    assert rows["DAY#2026-11-12#agent#sales"] == Decimal("1.0")
    assert rows["2026-11#total"] == Decimal("1.254")
    costs = {
        i["pk"]["S"]: {k: v["N"] for k, v in i.items() if k.startswith("cost#") or k == "total_usd"}
        for i in raw_items(dynamodb, conversations)
        if i["sk"]["S"] == "COST"
    }
    assert costs == {
        f"{TENANT}#call-1": {"cost#model#nova-lite": "0.25", "cost#lex#speech_request": "0.004", "total_usd": "0.254"},
        f"{TENANT}#call-2": {"cost#model#nova-lite": "1.0", "total_usd": "1.0"},
    }


def _usage_rows(client: Any) -> dict[str, Decimal]:
    return {i["sk"]["S"]: Decimal(i["usd"]["N"]) for i in raw_items(client, table_name(USAGE)) if "usd" in i}


class CommitsThenLosesTheAnswer:
    """A client whose first TransactWriteItems is applied by DynamoDB but answered with throttling (the answer
    lost, as after a timeout): the ledger tries again, exactly the case that double-counted ADDs."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        response = self._client.transact_write_items(**kwargs)
        if self.transactions == 1:
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}}
            raise ClientError(error, "TransactWriteItems")
        return response


def test_a_retried_charge_counts_once_in_every_row_and_the_calls_breakdown(dynamodb: Any) -> None:
    from oratio.metering import Charge, CostCategory, record_charges

    usage, conversations = table_name(USAGE), table_name(CONVERSATIONS)
    flaky = CommitsThenLosesTheAnswer(dynamodb)
    ledger = DynamoDBBudgetLedger(usage, conversations_table=conversations, client=flaky, clock=clock)
    at = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)
    charge = Charge(CostCategory.SPEECH_TO_SPEECH, "amazon.nova-2-sonic-v1:0", 1000, "tokens", 0.5)

    async def charge_with_caller_retries() -> None:
        # The adapter's own retry after the lost answer, then the caller retrying the whole write twice more.
        for _ in range(3):
            await record_charges(
                ledger, [charge], tenant_id=TENANT, at=at, agent_id="desk", session_id="call-9", event_id="usage-1"
            )

    asyncio.run(charge_with_caller_retries())

    assert flaky.transactions >= 2  # it was applied, answered with an error, and tried again
    rows = _usage_rows(dynamodb)
    assert rows["2026-11#total"] == Decimal("0.5")
    assert rows["2026-11#agent#desk"] == Decimal("0.5")
    assert rows["DAY#2026-11-12#total"] == Decimal("0.5")
    (cost,) = [i for i in raw_items(dynamodb, conversations) if i["sk"]["S"] == "COST"]
    assert cost["total_usd"]["N"] == "0.5"
    # A different event is a different charge, and counts.
    asyncio.run(record_charges(ledger, [charge], tenant_id=TENANT, at=at, event_id="usage-2"))
    assert _usage_rows(dynamodb)["2026-11#total"] == Decimal("1.0")


def test_a_charge_that_fails_adds_to_no_row_at_all(dynamodb: Any) -> None:
    from oratio.adapters.dynamodb import DataAccessError

    ledger = DynamoDBBudgetLedger(table_name(USAGE), conversations_table="no-such-table", client=dynamodb, clock=clock)
    at = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)
    with pytest.raises(DataAccessError):
        asyncio.run(ledger.add(TENANT, at, "model", "nova-lite", 0.25, agent_id="desk", session_id="call-1"))
    assert _usage_rows(dynamodb) == {}  # all or nothing: the month, day and agent rows are untouched


def test_month_boundaries_follow_utc(dynamodb: Any) -> None:
    from zoneinfo import ZoneInfo

    ledger = DynamoDBBudgetLedger(table_name(USAGE), client=dynamodb, clock=clock)
    # 20:00 on 30 November in New York is already 1 December in UTC
    new_york_evening = datetime(2026, 11, 30, 20, 0, tzinfo=ZoneInfo("America/New_York"))
    asyncio.run(ledger.add(TENANT, new_york_evening, "telephony", "connect-inbound", 0.02))
    assert asyncio.run(ledger.month_to_date_usd(TENANT, datetime(2026, 12, 2, tzinfo=UTC))) == pytest.approx(0.02)


# -------------------------------------------------------------------------------------------- workflow
def test_workflow_state_round_trips(dynamodb: Any) -> None:
    table = table_name(CONVERSATIONS)
    store = DynamoDBWorkflowStateStore(table, client=dynamodb, clock=clock)
    state = WorkflowState(
        role="closer",
        qualification_score=0.7312,
        turns=6,
        voice_tier="premium",
        lead={"signals": ["budget", "timeline"], "products": ["duvets"], "negative_turns": 1},
    )

    asyncio.run(store.save(TENANT, "call-1", state))

    assert asyncio.run(store.get(TENANT, "call-1")) == state
    assert asyncio.run(store.get(TENANT, "call-2")) is None
    assert asyncio.run(store.get("other-shop", "call-1")) is None
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"{TENANT}#call-1"}, "sk": {"S": "WORKFLOW"}})["Item"]
    assert item["role"] == {"S": "closer"}
    assert item["qualification_score"] == {"N": "0.7312"}


def test_a_stale_workflow_state_cannot_overwrite_a_newer_one(dynamodb: Any) -> None:
    store = DynamoDBWorkflowStateStore(table_name(CONVERSATIONS), client=dynamodb, clock=clock)
    newer = WorkflowState(role="sales", turns=4)
    asyncio.run(store.save(TENANT, "call-1", newer))

    with pytest.raises(ItemConflictError):
        asyncio.run(store.save(TENANT, "call-1", WorkflowState(role="greeter", turns=2)))
    assert asyncio.run(store.get(TENANT, "call-1")) == newer
