"""Phone numbers belong to exactly one tenant across the whole platform.

The platform-wide number registry (table `numbers`, see `oratio.tables`) says which tenant owns a number. A
number is claimed for a tenant before any of its agents may answer it: the tenant stack claims the Amazon Connect
number it deployed and the bridge (Twilio, Vonage) numbers its tenant file lists; the operator claims others with
`scripts/phone_numbers.py`. A claim is one conditional write, so two tenants can never both hold a number. The vendor
API lets an agent take a number only when the vendor's tenant owns it, and the call router answers a number only
for the tenant that owns it -- whatever the agents table says.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.config.tenant import E164_PATTERN, TENANT_ID_PATTERN


class NumberKind(StrEnum):
    """Where calls to the number arrive."""

    CONNECT = "connect"  # the tenant's Amazon Connect instance
    BRIDGE = "bridge"  # a Twilio or Vonage number pointed at the tenant's voice webhook


class NumberClaim(BaseModel):
    """One number, owned by one tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    number: str = Field(pattern=E164_PATTERN)
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    kind: NumberKind
    claimed_by: str = Field(min_length=1, max_length=200, description="the stack or operator that claimed it")
    claimed_at: AwareDatetime | None = None


class NumberOwnedElsewhere(Exception):
    """The number is registered to another tenant. Deliberately says nothing of which one."""

    def __init__(self, number: str) -> None:
        super().__init__(f"{number} is registered to another tenant")
        self.number = number


class NumberOwnership(Protocol):
    """What the call router asks: does this tenant own this number?"""

    def owns(self, tenant_id: str, number: str) -> bool:
        """Whether `number` is registered to `tenant_id` (read consistently)."""
        ...


class NumberRegistry(NumberOwnership, Protocol):
    """The registry as the vendor API and the operator use it."""

    def is_registered(self, number: str) -> bool:
        """Whether any tenant owns `number` (without saying which)."""
        ...

    def claim(self, claim: NumberClaim) -> None:
        """Register the number to the claim's tenant; claiming one's own number again changes nothing.
        `NumberOwnedElsewhere` when another tenant holds it."""
        ...

    def release(self, tenant_id: str, number: str) -> bool:
        """Give the number up; False (and nothing changed) when `tenant_id` does not own it."""
        ...

    def numbers_of(self, tenant_id: str) -> list[NumberClaim]:
        """The tenant's numbers, in number order."""
        ...


def operator_claim(number: str, tenant_id: str, kind: NumberKind, *, operator: str, at: datetime) -> NumberClaim:
    """A claim the operator makes with `scripts/phone_numbers.py`."""
    return NumberClaim(number=number, tenant_id=tenant_id, kind=kind, claimed_by=f"operator:{operator}", claimed_at=at)
