"""moto answers one request at a time, as a real service's own consistency would allow.

moto keeps its tables in plain Python structures with no lock, and `TransactWriteItems` deep-copies each table
it touches so it can roll back: a request from another thread that lands mid-copy (or mid-update) makes the
transaction fail and roll back to its copy, taking the other thread's write with it. DynamoDB has no such
behaviour (it serializes per item and answers a clash with `TransactionConflict`), so code that is right
against DynamoDB — the agent's concurrent turn writes, a call's charges — lost a write now and then under moto.
`serialize_moto()` puts one lock around moto's request handling for the whole process (re-entrant: moto may
call itself while answering). Local runs and the tests call it before they start moto.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_MARK = "_oratio_serialized"


def serialize_moto() -> None:
    """Make every moto request in this process run alone (idempotent)."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def one_at_a_time(self: Any, request: Any) -> Any:
        with _LOCK:
            return original(self, request)

    setattr(one_at_a_time, _MARK, True)
    BotocoreStubber.process_request = one_at_a_time  # type: ignore[method-assign]
