"""Fault injection for the tests: DynamoDB clients that fail the way DynamoDB does under load, built around a
real (moto) client, so every request that does go through is still checked and stored by moto.

- `ContendedClient`: concurrent transactions that touch the same item conflict, as DynamoDB cancels them
  (`TransactionCanceledException` with `TransactionConflict` for the contended item).
- `FailingClient`: chosen operations fail with a chosen error code, a given number of times (or always).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


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
    time to run it) before it reaches moto; the loser gets the conflict at once, as DynamoDB answers. Every
    call into moto is serialized: moto itself is not safe for concurrent writers.
    """

    def __init__(self, inner: Any, hold_seconds: float = 0.005) -> None:
        self._inner = inner
        self._hold = hold_seconds
        self._guard = threading.Lock()
        self._moto = threading.Lock()
        self._busy: set[tuple[str, str]] = set()
        self.conflicts = 0
        self.committed = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def serialized(**kwargs: Any) -> Any:
            with self._moto:
                return target(**kwargs)

        return serialized

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
            with self._moto:
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
