"""When a messaging conversation has ended: no message for the tenant's `operations.messaging_idle_minutes`.

Social channels have no "disconnected" event, so Oratio decides. Each answered message marks its conversation
*quiet from* a deadline (the answer's time plus the idle timeout) in a sparse index of open conversations; a
scheduled sweep (`IdleSweep`, once a minute) takes the conversations whose deadline passed, publishes one
`Conversation Idle` event each on EventBridge (what the post-call analysis rule listens to), then takes them out
of the index — unless a later message moved the deadline on, which re-opens the conversation.

Why a sweep, and not a one-time EventBridge Scheduler schedule or an SQS delay message per conversation: the
answer already writes the conversation's session item, and marking the deadline is one more attribute on it (one
write, no extra service call in the reply path); a schedule per conversation costs one or two Scheduler API calls
on every message (create, or update when it exists) and counts against the account's schedule quota, and SQS
delays stop at 15 minutes (a 30-minute timeout would need chained re-queues and a dead-letter queue of its own).
The sweep's cost is one query per minute whatever the traffic, it needs no per-conversation resource to clean up,
and a failed run is repaired by a later one (nothing leaves the index before its event was published). The
index's partition key is sharded (`IDLE_INDEX_SHARDS`) so a busy tenant's message rate is not capped by one
index partition.

Once per idle conversation: the event names the deadline it was published for (`idleAt`), and the analysis claims
(conversation, deadline) once — a sweep that published but failed before taking the conversation out of the index
publishes it again and the analysis does nothing; a message after the deadline sets a new deadline, so that
conversation is analysed again when it falls quiet again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from oratio.domain.agents import AGENT_ID_PATTERN

logger = logging.getLogger(__name__)

IDLE_EVENT_SOURCE = "oratio.messaging"
IDLE_EVENT_DETAIL_TYPE = "Conversation Idle"
# Partitions of the open-conversation index per tenant. Each index partition takes about 1,000 writes a second
# and every answered message writes one entry: 8 shards carry a tenant's busiest hour many times over, and the
# sweep reads them with 8 small queries. Changing it strands entries in dropped shards: only ever raise it.
IDLE_INDEX_SHARDS = 8


class IdleConversation(BaseModel):
    """The `detail` of a `Conversation Idle` event (source `oratio.messaging`): the one shape both the sweep that
    publishes it and the post-call analysis that consumes it use."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    tenant_id: str = Field(alias="tenantId", min_length=1)
    session_id: str = Field(alias="sessionId", min_length=1, max_length=256)
    agent_id: str | None = Field(default=None, alias="agentId", pattern=AGENT_ID_PATTERN)
    idle_at: int = Field(alias="idleAt", ge=0, description="the deadline (epoch seconds) it went quiet at")

    @property
    def occasion(self) -> str:
        """What makes this end of the conversation one: the same deadline is analysed once."""
        return f"idle#{self.idle_at}"


def idle_shard(tenant_id: str, session_id: str) -> str:
    """The index partition of a conversation: the tenant, then a stable shard of its session id."""
    digest = hashlib.sha256(session_id.encode()).digest()
    return f"{tenant_id}#idle#{digest[0] % IDLE_INDEX_SHARDS}"


def idle_shards(tenant_id: str) -> tuple[str, ...]:
    return tuple(f"{tenant_id}#idle#{n}" for n in range(IDLE_INDEX_SHARDS))


def idle_deadline(answered_at: datetime, idle_minutes: int) -> int:
    """Epoch seconds (rounded up) after which a conversation answered at `answered_at` counts as ended."""
    deadline = answered_at + timedelta(minutes=idle_minutes)
    return int(deadline.timestamp()) + (1 if deadline.microsecond else 0)


@dataclass(frozen=True, slots=True)
class QuietConversation:
    """An open conversation whose deadline passed, as the index holds it: `idle_at` is the deadline it went quiet
    at (what the event names), `index_at` where it sits in the index now (later than `idle_at` once a sweep held
    it for publishing)."""

    session_id: str
    agent_id: str | None
    idle_at: int
    index_at: int


class IdleIndex(Protocol):
    """The open messaging conversations of a tenant, by the deadline after which they count as ended."""

    async def mark_active(self, tenant_id: str, session_id: str, idle_at: int) -> None:
        """Set (or move on) the conversation's deadline: it is open until then (a held one is re-opened)."""
        ...

    async def quiet(self, tenant_id: str, now: datetime, limit: int) -> list[QuietConversation]:
        """Up to `limit` conversations whose place in the index is at or before `now` (eventually consistent)."""
        ...

    async def hold(self, tenant_id: str, conversation: QuietConversation, until: int) -> QuietConversation | None:
        """Move the conversation to `until` in the index if it still sits where it was read (a consistent,
        conditional write), keeping the deadline it went quiet at; None when a later message moved it on."""
        ...

    async def settle(self, tenant_id: str, conversation: QuietConversation) -> None:
        """Take a held conversation out of the index (unless a later message re-opened it meanwhile)."""
        ...


class ConversationEvents(Protocol):
    async def publish_idle(self, conversations: Sequence[IdleConversation]) -> None:
        """Put one `Conversation Idle` event per conversation on the bus; raises when any was refused."""
        ...


class IdleSweep:
    """One tenant's sweep: hold each conversation that fell quiet, publish its event, then settle it.

    Holding first (a conditional write on the table, not the eventually consistent index) means a message that
    arrived just before the deadline is never mistaken for silence; holding it *later in the index* rather than
    removing it means a run that dies before publishing is repaired `hold_seconds` later by another run (the event
    then names the same deadline, and the analysis's claim on it makes a repeat a no-op).
    """

    def __init__(self, tenant_id: str, index: IdleIndex, events: ConversationEvents, *, hold_seconds: int) -> None:
        self.tenant_id = tenant_id
        self._index = index
        self._events = events
        self._hold_seconds = hold_seconds

    async def sweep(self, now: datetime, limit: int) -> tuple[int, list[IdleConversation]]:
        """Handle up to `limit` quiet conversations: (how many the index gave, the events published). Fewer than
        `limit` given means none are left due now."""
        due = await self._index.quiet(self.tenant_id, now, limit)
        until = int(now.timestamp()) + self._hold_seconds
        held = [h for c in due if (h := await self._index.hold(self.tenant_id, c, until)) is not None]
        if len(held) < len(due):
            logger.info("conversations re-opened by a later message", extra={"count": len(due) - len(held)})
        events = [
            IdleConversation(tenant_id=self.tenant_id, session_id=c.session_id, agent_id=c.agent_id, idle_at=c.idle_at)
            for c in held
        ]
        if events:
            await self._events.publish_idle(events)
        for conversation in held:
            await self._index.settle(self.tenant_id, conversation)
        return len(due), events
