"""Ports of the customer concern: the profile links (the agent's customer-context stores implement them), the
pending identity claims, and the senders that deliver a one-time code to a claimed phone number or address."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.agent.ports import CustomerContext


class CustomerLinks(Protocol):
    """Which profile an identity belongs to (`DynamoDBCustomerContextStore`, `InMemoryCustomerContextStore`)."""

    async def customer_key(self, tenant_id: str, identity: str) -> str:
        """The profile key `identity` resolves to (itself when it is linked to nothing)."""
        ...

    async def link(self, tenant_id: str, identity: str, customer_key: str) -> CustomerContext:
        """Make `identity` resolve to the customer known by `customer_key`, moving what was known under it there."""
        ...

    async def get(self, tenant_id: str, customer_key: str) -> CustomerContext | None: ...


class PendingClaim(BaseModel):
    """A customer wrote an identity on a channel; a code went to it; the link waits for that code."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    identity: str = Field(description="who wrote it, e.g. instagram:1789…")
    claimed_kind: Literal["phone", "email"]
    claimed_key: str = Field(description="the profile key it would link to, e.g. phone:+1650…")
    address: str = Field(description="where the code was sent")
    salt: str
    digest: str = Field(description="HMAC-SHA256 of the code; the code itself is never stored")
    attempts: int = Field(default=0, ge=0)
    expires_at: AwareDatetime


class ClaimStore(Protocol):
    async def get(self, tenant_id: str, identity: str) -> PendingClaim | None: ...

    async def put(self, tenant_id: str, claim: PendingClaim) -> None:
        """Store the claim, replacing an older one of the same identity."""
        ...

    async def count_attempt(self, tenant_id: str, claim: PendingClaim) -> None:
        """Record one more wrong code on the stored claim (`claim.attempts` is the count before it)."""
        ...

    async def delete(self, tenant_id: str, identity: str) -> None: ...


class CodeDeliveryError(Exception):
    """The code could not be sent (the message is for logs; the customer is told only that it failed)."""


class CodeSender(Protocol):
    """Sends a short text to a phone number (End User Messaging SMS) or an email address (SES)."""

    async def send_code(self, address: str, text: str, *, at: datetime) -> None:
        """Deliver `text` to `address`; raise `CodeDeliveryError` when it cannot."""
        ...
