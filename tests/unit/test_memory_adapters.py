"""In-memory adapters of the agent ports: the semantics the local mode relies on (and DynamoDB mirrors)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from oratio.adapters.memory_agent import (
    InMemoryBudgetLedger,
    InMemoryConversationRecorder,
    InMemoryCustomerContextStore,
    InMemorySessionMemory,
    InMemoryWorkflowStateStore,
    RecordConflictError,
)
from oratio.agent.ports import (
    AgentEventRecord,
    ConversationSummary,
    ConversationTurn,
    CustomerContext,
    TurnRecord,
    WorkflowState,
)

T0 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
TENANT = "cozy-comfort"
WHATSAPP = "whatsapp:15551234567"
PHONE = "phone:+15551234567"


def turns(n: int, channel: str = "voice") -> list[ConversationTurn]:
    return [
        ConversationTurn(
            role="user" if i % 2 == 0 else "assistant", text=f"line {i}", at=T0 + timedelta(seconds=i), channel=channel
        )
        for i in range(n)
    ]


def summary(session: str, minutes: int) -> ConversationSummary:
    return ConversationSummary(
        channel="whatsapp", session_id=session, at=T0 + timedelta(minutes=minutes), summary=f"talked in {session}"
    )


def turn_record(sequence: int, text: str = "hello") -> TurnRecord:
    return TurnRecord(
        tenant_id=TENANT,
        session_id="call-1",
        agent_id="agent-1",
        channel="voice",
        sequence=sequence,
        user_text=text,
        reply_text="hi",
        model_id="nova-lite",
        routing_reason="simple",
        role="greeter",
        at=T0,
    )


# ------------------------------------------------------------------------------------------ session memory
def test_session_memory_returns_the_newest_turns_oldest_first() -> None:
    memory = InMemorySessionMemory()
    asyncio.run(memory.append("s1", PHONE, turns(6)))

    recent = asyncio.run(memory.recent_turns("s1", PHONE, 3))

    assert [t.text for t in recent] == ["line 3", "line 4", "line 5"]


def test_session_memory_keeps_sessions_and_actors_apart() -> None:
    memory = InMemorySessionMemory()
    asyncio.run(memory.append("s1", PHONE, turns(2)))
    assert asyncio.run(memory.recent_turns("s2", PHONE, 5)) == []
    assert asyncio.run(memory.recent_turns("s1", "phone:+15550000000", 5)) == []


def test_session_memory_files_unknown_customers_under_anonymous() -> None:
    memory = InMemorySessionMemory()
    asyncio.run(memory.append("s1", "", turns(2)))
    assert len(asyncio.run(memory.recent_turns("s1", "anonymous", 5))) == 2


# ---------------------------------------------------------------------------------------- customer context
def test_a_customer_who_messaged_on_whatsapp_is_recognised_on_the_phone() -> None:
    # Given a WhatsApp customer whose profile lists their phone number
    store = InMemoryCustomerContextStore()
    context = CustomerContext(
        tenant_id=TENANT,
        customer_key=WHATSAPP,
        display_name="Jane",
        linked_identities=(PHONE,),
        recent_conversations=(summary("wa-1", 0),),
    )
    asyncio.run(store.save(context))

    # When the phone number calls
    found = asyncio.run(store.get(TENANT, PHONE))

    # Then the WhatsApp profile comes back
    assert found is not None
    assert found.customer_key == WHATSAPP
    assert found.display_name == "Jane"
    assert asyncio.run(store.get("other-tenant", PHONE)) is None


def test_customer_context_keeps_only_the_newest_conversations() -> None:
    store = InMemoryCustomerContextStore(keep_conversations=2)
    summaries = tuple(summary(f"s{i}", i) for i in range(4))
    asyncio.run(store.save(CustomerContext(tenant_id=TENANT, customer_key=PHONE, recent_conversations=summaries)))

    found = asyncio.run(store.get(TENANT, PHONE))

    assert found is not None
    assert [s.session_id for s in found.recent_conversations] == ["s3", "s2"]


# -------------------------------------------------------------------------------------------- recorder
def test_concurrent_sequences_are_unique() -> None:
    recorder = InMemoryConversationRecorder()

    async def ten() -> list[int]:
        return list(await asyncio.gather(*(recorder.next_sequence(TENANT, "call-1") for _ in range(10))))

    assert sorted(asyncio.run(ten())) == list(range(1, 11))
    assert asyncio.run(recorder.next_sequence(TENANT, "call-2")) == 1


def test_recorder_keeps_turns_in_order_and_refuses_a_reused_number() -> None:
    recorder = InMemoryConversationRecorder()
    asyncio.run(recorder.record_turn(turn_record(2)))
    asyncio.run(recorder.record_turn(turn_record(1)))
    asyncio.run(recorder.record_turn(turn_record(1)))  # a retried write of the same turn is harmless

    with pytest.raises(RecordConflictError):
        asyncio.run(recorder.record_turn(turn_record(1, text="something else")))
    assert [t.sequence for t in recorder.turns(TENANT, "call-1")] == [1, 2]


def test_recorder_lists_events_by_kind() -> None:
    recorder = InMemoryConversationRecorder()
    for kind in ("transition", "escalation", "transition"):
        event = AgentEventRecord(tenant_id=TENANT, session_id="call-1", kind=kind, at=T0, detail={"k": kind})
        asyncio.run(recorder.record_event(event))
    assert len(recorder.events(TENANT, "call-1", "transition")) == 2
    assert len(recorder.events(TENANT, "call-1")) == 3


# ---------------------------------------------------------------------------------------------- budget
def test_budget_ledger_totals_the_month_and_starts_over_next_month() -> None:
    ledger = InMemoryBudgetLedger()
    asyncio.run(ledger.add(TENANT, T0, "model", "nova-lite", 0.25))
    asyncio.run(ledger.add(TENANT, T0, "audio", "polly-neural", 0.5))
    asyncio.run(ledger.add(TENANT, datetime(2026, 12, 1, tzinfo=UTC), "model", "nova-lite", 1.0))

    assert asyncio.run(ledger.month_to_date_usd(TENANT, T0)) == pytest.approx(0.75)
    assert asyncio.run(ledger.month_to_date_usd(TENANT, datetime(2026, 12, 15, tzinfo=UTC))) == pytest.approx(1.0)
    assert asyncio.run(ledger.month_to_date_usd("other-tenant", T0)) == 0.0
    assert ledger.breakdown(TENANT, T0) == {("model", "nova-lite"): 0.25, ("audio", "polly-neural"): 0.5}


@pytest.mark.parametrize(
    ("category", "item", "usd"),
    [("model", "x", -1.0), ("model", "x", float("nan")), ("mo#del", "x", 1.0), ("total", "x", 1.0), ("", "x", 1.0)],
)
def test_budget_ledger_refuses_spend_that_would_corrupt_it(category: str, item: str, usd: float) -> None:
    with pytest.raises(ValueError, match=r"usage"):
        asyncio.run(InMemoryBudgetLedger().add(TENANT, T0, category, item, usd))


# -------------------------------------------------------------------------------------------- workflow
def test_workflow_state_round_trips_and_a_stale_state_cannot_overwrite_a_newer_one() -> None:
    store = InMemoryWorkflowStateStore()
    newer = WorkflowState(role="sales", qualification_score=0.5, turns=3, lead={"signals": ["budget"]})
    asyncio.run(store.save(TENANT, "call-1", newer))

    with pytest.raises(RecordConflictError):
        asyncio.run(store.save(TENANT, "call-1", WorkflowState(role="greeter", turns=1)))
    assert asyncio.run(store.get(TENANT, "call-1")) == newer
    assert asyncio.run(store.get(TENANT, "call-2")) is None
