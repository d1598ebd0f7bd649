"""In-memory adapters of the channel ports, for the local mode, tests and benchmarks: the same semantics as the
AWS ones in one process (a FIFO queue with message groups and a deduplication window like SQS FIFO, a lease
ledger, bindings with one agent per account) and a local platform that keeps what it would have sent."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from oratio.agent.contracts import InvocationRequest, ReplyEvent
from oratio.agent.ports import TurnEngine
from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.models import QueuedEvent
from oratio.channels.ports import AccountTaken, LedgerEntry, LedgerState, SentMessage, VerifiedAccount
from oratio.config.tenant import Channel

SQS_FIFO_DEDUP_WINDOW = timedelta(minutes=5)  # SQS FIFO drops a repeated deduplication id within 5 minutes


class InMemoryChannelSecrets:
    def __init__(self) -> None:
        self._secrets: dict[tuple[str, Channel], ChannelSecret] = {}

    async def get(self, tenant_id: str, channel: Channel, *, fresh: bool = False) -> ChannelSecret | None:
        return self._secrets.get((tenant_id, channel))

    async def put(self, tenant_id: str, secret: ChannelSecret) -> None:
        self._secrets[(tenant_id, secret.channel)] = secret


class InMemoryFifoQueue:
    """FIFO per message group, a repeated deduplication id within the window dropped (as SQS FIFO does)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: OrderedDict[str, deque[QueuedEvent]] = OrderedDict()
        self._seen: dict[str, datetime] = {}

    async def enqueue(self, messages: Sequence[QueuedEvent]) -> None:
        now = self._clock()
        with self._lock:
            for message in messages:
                key = message.event.dedup_key
                seen = self._seen.get(key)
                if seen is not None and now - seen < SQS_FIFO_DEDUP_WINDOW:
                    continue
                self._seen[key] = now
                self._groups.setdefault(message.event.order_key, deque()).append(message)

    def receive(self, max_messages: int = 10) -> list[QueuedEvent]:
        """Up to `max_messages`, oldest group first, in order within each group (what one worker batch gets)."""
        batch: list[QueuedEvent] = []
        with self._lock:
            for group in list(self._groups):
                queue = self._groups[group]
                while queue and len(batch) < max_messages:
                    batch.append(queue.popleft())
                if not queue:
                    del self._groups[group]
                if len(batch) >= max_messages:
                    break
        return batch

    def __len__(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._groups.values())


class InMemoryChannelBindings:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[tuple[str, Channel, str], str] = {}

    async def agent_for(self, tenant_id: str, channel: Channel, account_id: str) -> str | None:
        return self.agent_for_address(tenant_id, channel.value, account_id)

    def agent_for_address(self, tenant_id: str, channel: str, address: str) -> str | None:
        with self._lock:
            return self._owners.get((tenant_id, Channel(channel), address))

    async def bind(
        self, tenant_id: str, channel: Channel, account_id: str, agent_id: str, *, take_from: str | None = None
    ) -> None:
        with self._lock:
            owner = self._owners.get((tenant_id, channel, account_id))
            if owner not in (None, agent_id, take_from):
                raise AccountTaken(owner)
            self._owners[(tenant_id, channel, account_id)] = agent_id


@dataclass
class _Entry:
    state: LedgerState
    lease_until: datetime | None = None
    parts: tuple[str, ...] = ()
    parts_sent: int = 0


class InMemoryMessageLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    async def begin(self, tenant_id: str, key: str, now: datetime, lease_seconds: float) -> LedgerEntry:
        with self._lock:
            entry = self._entries.get((tenant_id, key))
            if entry is None or (
                entry.state is LedgerState.NEW and entry.lease_until is not None and entry.lease_until <= now
            ):
                self._entries[(tenant_id, key)] = _Entry(LedgerState.NEW, now + timedelta(seconds=lease_seconds))
                return LedgerEntry(LedgerState.NEW)
            if entry.state is LedgerState.NEW:
                return LedgerEntry(LedgerState.BUSY)
            return LedgerEntry(entry.state, entry.parts, entry.parts_sent)

    async def answered(self, tenant_id: str, key: str, parts: Sequence[str], now: datetime) -> None:
        with self._lock:
            self._entries[(tenant_id, key)] = _Entry(LedgerState.ANSWERED, parts=tuple(parts))

    async def sent(self, tenant_id: str, key: str, parts_sent: int, now: datetime) -> None:
        with self._lock:
            entry = self._entries[(tenant_id, key)]
            entry.parts_sent = max(entry.parts_sent, parts_sent)

    async def done(self, tenant_id: str, key: str, now: datetime) -> None:
        with self._lock:
            entry = self._entries.setdefault((tenant_id, key), _Entry(LedgerState.DONE))
            entry.state = LedgerState.DONE

    async def release(self, tenant_id: str, key: str) -> None:
        with self._lock:
            entry = self._entries.get((tenant_id, key))
            if entry is not None and entry.state is LedgerState.NEW:
                del self._entries[(tenant_id, key)]


@dataclass(frozen=True)
class LocalDelivery:
    channel: Channel
    account_id: str
    recipient_id: str
    text: str


@dataclass
class LocalPlatform:
    """A platform stand-in for the local mode: it sends nothing and keeps what it was asked to send."""

    channel: Channel
    sent: list[LocalDelivery] = field(default_factory=list)
    _ids: int = 0

    async def send_text(
        self, secret: ChannelSecret, account_id: str, account: AccountCredentials, recipient_id: str, text: str
    ) -> SentMessage:
        await asyncio.sleep(0)
        self._ids += 1
        self.sent.append(LocalDelivery(self.channel, account_id, recipient_id, text))
        return SentMessage(f"local-{self.channel.value}-{self._ids}")

    async def verify(self, secret: ChannelSecret, account_id: str, account: AccountCredentials) -> VerifiedAccount:
        return VerifiedAccount(account_id, f"local {self.channel.value} account {account_id}")


class EngineAgentInvoker:
    """The tenant agent's engine called in process (local mode, tests, benchmarks; never deployed, where the
    worker uses the typed client over InvokeAgentRuntime)."""

    def __init__(self, engine: TurnEngine) -> None:
        self._engine = engine

    def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]:
        return self._engine.handle(request, session_id)
