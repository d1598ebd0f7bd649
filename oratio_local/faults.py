"""Fault injection for the tests and `make bench`: DynamoDB clients that fail the way DynamoDB does under load,
built around a real (moto) client, so every request that does go through is still checked and stored by moto,
and a virtual-time replay of a burst of calls on one tenant's live-call counter.

- `ContendedClient`: concurrent transactions that touch the same item conflict, as DynamoDB cancels them
  (`TransactionCanceledException` with `TransactionConflict` for the contended item).
- `FailingClient`: chosen operations fail with a chosen error code, a given number of times (or always).
- `replay_burst`: callers arriving together take their slots through the real session store, in virtual time
  (no sleeps): one counter item holds each committed transaction for `TRANSACTION_SECONDS` and cancels any
  transaction that overlaps one.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from oratio.adapters.dynamodb import ConflictRetry, DynamoDBCallSessionStore, TransactionConflictError
from oratio.domain.call_routing import Route, RouteReason
from oratio.domain.calls import CallSession
from oratio_local.moto_serial import serialize_moto


def client_error(operation: str, code: str, message: str = "injected fault", **extra: Any) -> ClientError:
    """A botocore ClientError shaped like DynamoDB's own (the error code, and any extra response fields)."""
    return ClientError({"Error": {"Code": code, "Message": message}, **extra}, operation)


def transaction_conflict(items: list[dict[str, Any]], contended: int) -> ClientError:
    """DynamoDB's answer to a transaction that overlapped another on item number `contended`."""
    reasons = [{"Code": "TransactionConflict" if n == contended else "None"} for n in range(len(items))]
    return client_error(
        "TransactWriteItems",
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons",
        CancellationReasons=reasons,
    )


def _item_key(action: dict[str, Any]) -> tuple[str, str]:
    (body,) = action.values()
    key = body.get("Key") or {name: body["Item"][name] for name in ("pk", "sk")}
    return body["TableName"], f"{key['pk']['S']}|{key['sk']['S']}"


class ContendedClient:
    """A DynamoDB client where a transaction conflicts while another transaction holds one of its items.

    DynamoDB serializes transactions per item: one that arrives while another on the same item is in flight
    is cancelled with `TransactionConflict`. Here a transaction is in flight for `hold_seconds` (DynamoDB's
    time to run it) before it reaches moto; the loser gets the conflict at once, as DynamoDB answers. moto
    itself answers one request at a time (`oratio_local.moto_serial`): it is not safe for concurrent writers.
    """

    def __init__(self, inner: Any, hold_seconds: float = 0.005) -> None:
        self._inner = inner
        self._hold = hold_seconds
        self._guard = threading.Lock()
        self._busy: set[tuple[str, str]] = set()
        self.conflicts = 0
        self.committed = 0
        serialize_moto()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        items = kwargs["TransactItems"]
        keys = [_item_key(action) for action in items]
        with self._guard:
            clash = next((n for n, key in enumerate(keys) if key in self._busy), None)
            if clash is not None:
                self.conflicts += 1
                raise transaction_conflict(items, clash)
            self._busy.update(keys)
        try:
            time.sleep(self._hold)
            response = self._inner.transact_write_items(**kwargs)
            self.committed += 1
            return response
        finally:
            with self._guard:
                self._busy.difference_update(keys)


# An error code, or a function of the request that builds the error DynamoDB would answer it with.
Fault = str | Callable[[dict[str, Any]], ClientError]


def counter_conflict(request: dict[str, Any]) -> ClientError:
    """The conflict a transaction on the tenant's live-call counter (its second item) gets under contention."""
    return transaction_conflict(request["TransactItems"], 1)


class FailingClient:
    """A DynamoDB client whose chosen operations fail with a fault, `times` times each (None: always)."""

    def __init__(self, inner: Any, failures: dict[str, tuple[Fault, int | None]]) -> None:
        self._inner = inner
        self._failures = failures
        self.failed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self._failures:
            return target
        fault, times = self._failures[name]

        def failing(**kwargs: Any) -> Any:
            with self._lock:
                fail = times is None or self.failed[name] < times
                if fail:
                    self.failed[name] += 1
            if fail:
                raise client_error(name, fault) if isinstance(fault, str) else fault(kwargs)
            return target(**kwargs)

        return failing


# ------------------------------------------------------------------------------- a burst, in virtual time
# How long DynamoDB holds the counter item for one transaction (a typical in-region round trip; an assumption).
TRANSACTION_SECONDS = 0.025
BURST = 50
STARTED = datetime(2025, 1, 6, 15, 0, tzinfo=UTC)


@dataclass
class VirtualClock:
    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class CounterItem:
    """The tenant's counter in virtual time: the start times of the transactions it committed."""

    limit: int
    committed: list[float] = field(default_factory=list)

    def client(self, clock: VirtualClock) -> Any:
        counter = self

        class Client:
            def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
                start = clock.now
                clock.now += TRANSACTION_SECONDS
                if any(abs(start - other) < TRANSACTION_SECONDS for other in counter.committed):
                    raise transaction_conflict(TransactItems, 1)
                if len(counter.committed) >= counter.limit:
                    raise client_error(
                        "TransactWriteItems",
                        "TransactionCanceledException",
                        CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}],
                    )
                counter.committed.append(start)
                return {}

        return Client()


def session(n: int) -> CallSession:
    return CallSession(
        tenant_id="cozy-comfort",
        contact_id=f"contact-{n}",
        agent_id="front-desk",
        channel="voice",
        dialed_number="+15552333464",
        route=Route.AGENT,
        reason=RouteReason.ACCEPTED,
        voice_tier="standard",
        started_at=STARTED,
        counted_against_limit=True,
    )


def replay_burst(
    retry: ConflictRetry, *, burst: int = BURST, limit: int = BURST, seed: int = 7
) -> tuple[dict[str, int], float]:
    """Every caller of the burst through the store, arriving within 50 ms: how many got each outcome
    (`created`, `over_capacity`, `data_unavailable` when the conflicts outlasted the budget), and the virtual time
    the last one finished."""
    counter = CounterItem(limit)
    arrivals = random.Random(seed)  # noqa: S311 - a replay, not secrets
    outcomes: dict[str, int] = {}
    latest = 0.0
    for n in range(burst):
        clock = VirtualClock(arrivals.uniform(0, 0.05))
        store = DynamoDBCallSessionStore(
            "conversations",
            "tenant_state",
            client=counter.client(clock),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            conflict_retry=retry,
            rng=random.Random(seed * 1_000 + n),  # noqa: S311 - a replay, not secrets
        )
        try:
            outcome = store.open(session(n), max_concurrent_calls=limit).outcome.value
        except TransactionConflictError:
            outcome = "data_unavailable"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        latest = max(latest, clock.now)
    return outcomes, latest
