"""In-memory claim store and code sender, for the local mode and tests (same semantics as the AWS adapters)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from oratio.customers.ports import CodeDeliveryError, PendingClaim


class InMemoryClaimStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str], PendingClaim] = {}

    async def get(self, tenant_id: str, identity: str) -> PendingClaim | None:
        with self._lock:
            return self._claims.get((tenant_id, identity))

    async def put(self, tenant_id: str, claim: PendingClaim) -> None:
        with self._lock:
            self._claims[(tenant_id, claim.identity)] = claim

    async def count_attempt(self, tenant_id: str, claim: PendingClaim) -> None:
        with self._lock:
            held = self._claims.get((tenant_id, claim.identity))
            if held is not None and held.digest == claim.digest and held.attempts == claim.attempts:
                self._claims[(tenant_id, claim.identity)] = held.model_copy(update={"attempts": held.attempts + 1})

    async def delete(self, tenant_id: str, identity: str) -> None:
        with self._lock:
            self._claims.pop((tenant_id, identity), None)


@dataclass(frozen=True)
class SentCode:
    address: str
    text: str
    at: datetime


class OutboxCodeSender:
    """Keeps what would have been sent (the local mode has no SMS or email); `fail` makes every send fail."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[SentCode] = []
        self.fail = fail

    async def send_code(self, address: str, text: str, *, at: datetime) -> None:
        if self.fail:
            raise CodeDeliveryError("the local outbox refuses to send")
        self.sent.append(SentCode(address, text, at))
