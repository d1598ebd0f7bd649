"""Ports of the messaging channels. AWS and HTTP adapters live in `oratio/channels/adapters/`; in-memory ones
in `oratio/channels/adapters/memory.py` (local mode, tests, benchmarks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from oratio.agent.contracts import InvocationRequest, ReplyEvent
from oratio.channels.credentials import AccountCredentials, ChannelSecret
from oratio.channels.models import QueuedEvent
from oratio.config.tenant import Channel


# ------------------------------------------------------------------------------------------ secrets
class SecretUnavailableError(Exception):
    """Secrets Manager could not be read or written (not "no such secret": that is None)."""


class ChannelSecrets(Protocol):
    async def get(self, tenant_id: str, channel: Channel, *, fresh: bool = False) -> ChannelSecret | None:
        """The channel's secret (cached briefly unless `fresh`), or None when none was ever written."""
        ...

    async def put(self, tenant_id: str, secret: ChannelSecret) -> None:
        """Create or replace the channel's secret."""
        ...


# ------------------------------------------------------------------------------------------- queue
class MessageQueue(Protocol):
    async def enqueue(self, messages: Sequence[QueuedEvent]) -> None:
        """Queue events in order; events of one conversation keep their order, a repeated message id is queued once."""
        ...


# ---------------------------------------------------------------------------------------- bindings
class AccountTaken(Exception):
    """The platform account already answers another agent of the tenant."""

    def __init__(self, owner_agent_id: str) -> None:
        super().__init__(f"the account answers agent {owner_agent_id!r}")
        self.owner_agent_id = owner_agent_id


class ChannelBindings(Protocol):
    """Which agent a tenant's account on a platform answers for (one agent per account)."""

    async def agent_for(self, tenant_id: str, channel: Channel, account_id: str) -> str | None: ...

    async def bind(
        self, tenant_id: str, channel: Channel, account_id: str, agent_id: str, *, take_from: str | None = None
    ) -> None:
        """Bind the account to the agent; `AccountTaken` when another agent holds it (unless it is `take_from`)."""
        ...


# ------------------------------------------------------------------------------------------ ledger
class LedgerState(StrEnum):
    NEW = "new"  # nobody answered this message yet: this worker now holds it (a lease)
    ANSWERED = "answered"  # the reply exists; some parts may still have to be sent
    DONE = "done"  # answered and sent (or nothing to send): a replay is dropped
    BUSY = "busy"  # another worker holds the lease right now


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    state: LedgerState
    parts: tuple[str, ...] = ()
    parts_sent: int = 0


class MessageLedger(Protocol):
    """Each inbound message once: so a redelivery never runs the agent twice and never sends a reply twice."""

    async def begin(self, tenant_id: str, key: str, now: datetime, lease_seconds: float) -> LedgerEntry: ...

    async def answered(self, tenant_id: str, key: str, parts: Sequence[str], now: datetime) -> None: ...

    async def sent(self, tenant_id: str, key: str, parts_sent: int, now: datetime) -> None: ...

    async def done(self, tenant_id: str, key: str, now: datetime) -> None: ...

    async def release(self, tenant_id: str, key: str) -> None:
        """Give the lease back without an answer (the agent could not be reached): a retry may take it."""
        ...


# ------------------------------------------------------------------------------------- platforms
class PlatformError(Exception):
    """A platform call failed. `retryable` (429, 5xx, throttling codes) with the wait it asked for, if any."""

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class PlatformRefused(PlatformError):
    """The platform refused the credentials or the account (the message says what it refused)."""


@dataclass(frozen=True, slots=True)
class VerifiedAccount:
    account_id: str
    display: str = ""  # what the platform calls it: the number, the Page or account name, the @handle


@dataclass(frozen=True, slots=True)
class SentMessage:
    platform_message_id: str | None


class PlatformClient(Protocol):
    """One platform's send API and its one cheap verification call."""

    async def send_text(
        self, secret: ChannelSecret, account_id: str, account: AccountCredentials, recipient_id: str, text: str
    ) -> SentMessage:
        """Send one text message; `PlatformError` (with `retryable` and `retry_after`) when it fails."""
        ...

    async def verify(self, secret: ChannelSecret, account_id: str, account: AccountCredentials) -> VerifiedAccount:
        """Check the credentials can act for the account; `PlatformRefused` naming what was refused."""
        ...


# ------------------------------------------------------------------------------------------- agent
class AgentInvoker(Protocol):
    """The tenant agent's typed client (`AgentCoreAgentClient` deployed, `HttpAgentClient` locally)."""

    def invoke(self, request: InvocationRequest, session_id: str) -> AsyncIterator[ReplyEvent]: ...
