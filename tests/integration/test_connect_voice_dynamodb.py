"""The Connect voice path's DynamoDB adapters against moto: breaker records written with compare-and-set
(concurrent Lambdas cannot corrupt them), and the turn mailbox (written once, read consistently)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oratio.adapters.dynamodb import CorruptItemError
from oratio.adapters.dynamodb_breaker import DynamoDBBreakerStore
from oratio.adapters.dynamodb_voice import DynamoDBTurnMailbox
from oratio.adapters.memory_agent import InMemoryConversationRecorder
from oratio.adapters.memory_voice import InMemoryBreakerStore
from oratio.agent.contracts import Handoff, InvocationRequest, ReplyEvent, TextChunk, TurnComplete, UserMessage
from oratio.config.tenant import Channel, CircuitBreakerSettings
from oratio.connect_voice.outcome import TurnJob, TurnOutcome
from oratio.connect_voice.ports import Delivery
from oratio.connect_voice.worker import AgentTurnRunner
from oratio.domain.circuit_breaker import BreakerPolicy, BreakerRecord, BreakerState, CircuitBreakers, Dependency
from oratio.tables import CONVERSATIONS, TENANT_STATE
from oratio_local.faults import FailingClient
from tests.integration.conftest import table_name

TENANT = "cozy-comfort"
CONTACT = "5fb2c1a4-7d0e-4e1b-9a43-0123456789ab"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
POLICY = BreakerPolicy(CircuitBreakerSettings(failure_threshold=3, cooldown_seconds=60, trial_seconds=20))


@pytest.fixture
def store(dynamodb: Any) -> DynamoDBBreakerStore:
    return DynamoDBBreakerStore(table_name(TENANT_STATE), client=dynamodb)


def test_a_breaker_record_round_trips_with_every_field(store: DynamoDBBreakerStore) -> None:
    record = BreakerRecord(
        dependency="speech_to_speech",
        state=BreakerState.OPEN,
        failures=4,
        opened_at=NOW,
        trial_until=NOW + timedelta(seconds=80),
        last_error="bot error in the contact flow",
        updated_at=NOW,
        version=1,
    )
    assert asyncio.run(store.save(TENANT, record, expected_version=0)) is True
    assert asyncio.run(store.load(TENANT, "speech_to_speech")) == record
    assert asyncio.run(store.load_all(TENANT)) == {"speech_to_speech": record}


def test_a_write_based_on_a_stale_version_is_refused_and_changes_nothing(store: DynamoDBBreakerStore) -> None:
    first = BreakerRecord(dependency="agent", failures=1, version=1)
    assert asyncio.run(store.save(TENANT, first, 0)) is True
    # Two Lambdas read version 1; the first write wins, the second (also based on 1) must lose.
    assert asyncio.run(store.save(TENANT, first.model_copy(update={"failures": 2, "version": 2}), 1)) is True
    assert asyncio.run(store.save(TENANT, first.model_copy(update={"failures": 7, "version": 2}), 1)) is False
    # Creating an existing record is a stale write too.
    assert asyncio.run(store.save(TENANT, BreakerRecord(dependency="agent", version=1), 0)) is False
    assert asyncio.run(store.load(TENANT, "agent")) == first.model_copy(update={"failures": 2, "version": 2})


def test_load_all_reads_only_this_tenants_breakers(store: DynamoDBBreakerStore, dynamodb: Any) -> None:
    asyncio.run(store.save(TENANT, BreakerRecord(dependency="agent", version=1), 0))
    asyncio.run(store.save("other-tenant", BreakerRecord(dependency="agent", failures=9, version=1), 0))
    # The live-call counter shares the tenant's partition; it is not a breaker.
    dynamodb.put_item(
        TableName=table_name(TENANT_STATE),
        Item={"pk": {"S": TENANT}, "sk": {"S": "calls#active"}, "active": {"N": "2"}},
    )
    assert list(asyncio.run(store.load_all(TENANT))) == ["agent"]


def test_a_corrupt_breaker_item_is_reported_not_guessed(store: DynamoDBBreakerStore, dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=table_name(TENANT_STATE),
        Item={
            "pk": {"S": TENANT},
            "sk": {"S": "breaker#agent"},
            "dependency": {"S": "agent"},
            "state": {"S": "melted"},
        },
    )
    with pytest.raises(CorruptItemError, match="breaker item cozy-comfort/breaker#agent"):
        asyncio.run(store.load(TENANT, "agent"))


def test_concurrent_lambdas_reporting_failures_lose_none_and_open_the_breaker_once(
    store: DynamoDBBreakerStore, dynamodb: Any
) -> None:
    """Four Lambdas report a failure at the same moment, each with its own store and event loop."""
    barrier = threading.Barrier(4)
    changes: list[Any] = []

    def one_lambda() -> None:
        board = CircuitBreakers(
            TENANT, DynamoDBBreakerStore(table_name(TENANT_STATE), client=dynamodb), POLICY, lambda: NOW
        )
        barrier.wait()
        changes.append(asyncio.run(board.record_failure(Dependency.AGENT, "AgentUnavailableError")))

    threads = [threading.Thread(target=one_lambda) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = asyncio.run(store.load(TENANT, "agent"))
    assert stored is not None
    assert (stored.failures, stored.version, stored.state) == (4, 4, BreakerState.OPEN)
    opened = [c for c in changes if c is not None]
    assert len(opened) == 1
    assert opened[0].to_state is BreakerState.OPEN


def outcome(turn_id: str = "c" * 32, text: str = "Yes, we ship to Canada.") -> TurnOutcome:
    done = TurnComplete(session_id=CONTACT, model_id="nova-lite", routing_reason="simple", role="greeter",
                        qualification_score=0.2, cost_usd=0.0004)  # fmt: skip
    return TurnOutcome(
        turn_id=turn_id,
        status="ok",
        reply_text=text,
        handoff=Handoff(reason="asked", summary="S"),
        done=done,
        finished_at=NOW,
        duration_ms=2345.6,
    )


def test_the_mailbox_returns_the_outcome_the_worker_left_in_the_calls_partition(dynamodb: Any) -> None:
    mailbox = DynamoDBTurnMailbox(table_name(CONVERSATIONS), client=dynamodb, clock=lambda: NOW)
    asyncio.run(mailbox.put(TENANT, CONTACT, outcome()))
    assert asyncio.run(mailbox.get(TENANT, CONTACT, "c" * 32)) == outcome()
    assert asyncio.run(mailbox.get(TENANT, CONTACT, "d" * 32)) is None
    item = dynamodb.get_item(
        TableName=table_name(CONVERSATIONS),
        Key={"pk": {"S": f"{TENANT}#{CONTACT}"}, "sk": {"S": "VOICE#" + "c" * 32}},
    )["Item"]
    assert item["status"] == {"S": "ok"}
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(days=1)).timestamp())


def test_a_redelivered_outcome_does_not_replace_the_first(dynamodb: Any) -> None:
    mailbox = DynamoDBTurnMailbox(table_name(CONVERSATIONS), client=dynamodb, clock=lambda: NOW)
    asyncio.run(mailbox.put(TENANT, CONTACT, outcome(text="first")))
    asyncio.run(mailbox.put(TENANT, CONTACT, outcome(text="second")))
    stored = asyncio.run(mailbox.get(TENANT, CONTACT, "c" * 32))
    assert stored is not None
    assert stored.reply_text == "first"


def test_the_first_of_the_outcome_and_the_pickups_give_up_wins_the_turns_item(dynamodb: Any) -> None:
    mailbox = DynamoDBTurnMailbox(table_name(CONVERSATIONS), client=dynamodb, clock=lambda: NOW)
    # The outcome first: a later give-up gets it back (to be said after all), a redelivery is a duplicate
    assert asyncio.run(mailbox.put(TENANT, CONTACT, outcome())) is Delivery.STORED
    assert asyncio.run(mailbox.give_up(TENANT, CONTACT, "c" * 32)) == outcome()
    assert asyncio.run(mailbox.put(TENANT, CONTACT, outcome(text="again"))) is Delivery.DUPLICATE
    # The give-up first: the outcome that comes later is missed, and nothing is there to pick up
    assert asyncio.run(mailbox.give_up(TENANT, CONTACT, "e" * 32)) is None
    late = outcome().model_copy(update={"turn_id": "e" * 32})
    assert asyncio.run(mailbox.put(TENANT, CONTACT, late)) is Delivery.MISSED
    assert asyncio.run(mailbox.get(TENANT, CONTACT, "e" * 32)) is None


def test_a_throttled_mailbox_write_is_retried_by_the_worker_and_the_outcome_stored(dynamodb: Any) -> None:
    # DynamoDB throttles the worker's first two writes (past botocore's own retries)
    throttled = FailingClient(dynamodb, {"put_item": ("ProvisionedThroughputExceededException", 2)})
    mailbox = DynamoDBTurnMailbox(table_name(CONVERSATIONS), client=throttled, clock=lambda: NOW)
    runner = AgentTurnRunner(
        agent=OneReply("We ship to Canada."),
        mailbox=mailbox,
        breakers=CircuitBreakers(TENANT, InMemoryBreakerStore(), POLICY, clock=lambda: NOW),
        recorder=InMemoryConversationRecorder(),
        clock=lambda: NOW,
        sleep=lambda seconds: asyncio.sleep(0),
    )
    job = TurnJob(turn_id="f" * 32, contact_id=CONTACT, request=voice_request(), submitted_at=NOW)
    asyncio.run(runner.run(job, time_left_seconds=20))
    assert throttled.failed["put_item"] == 2
    stored = asyncio.run(mailbox.get(TENANT, CONTACT, "f" * 32))
    assert stored is not None
    assert stored.reply_text == "We ship to Canada."


class OneReply:
    """The tenant agent answering one line."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        yield TextChunk(text=self.text)


def voice_request() -> InvocationRequest:
    return InvocationRequest(
        tenant_id=TENANT,
        agent_id="front-desk",
        channel=Channel.VOICE,
        session_id=CONTACT,
        input=UserMessage(text="Do you ship to Canada?"),
    )
