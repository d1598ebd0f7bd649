"""The vendor API's domain errors. The handler maps each to one HTTP status in one place; messages are written
for the vendor and never echo stored data of anyone else."""

from __future__ import annotations

from collections.abc import Sequence


class VendorApiError(Exception):
    """Base of every error the vendor API answers with a 4xx; `code` is the stable machine-readable name."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(VendorApiError):
    """The request carries no usable vendor claim (the authorizer should have refused it already)."""

    code = "unauthenticated"


class UnknownTenant(VendorApiError):
    """The token's vendor id names no tenant deployed on this platform (a typo when the user was invited, a
    placeholder such as "null", a tenant not deployed yet or torn down)."""

    code = "unknown_tenant"

    def __init__(self, vendor_id: str) -> None:
        super().__init__(
            f"the token's vendor id {vendor_id[:64]!r} (custom:vendor_id) names no tenant deployed on this platform; "
            "ask your operator to correct the user's custom:vendor_id, or to deploy the tenant first"
        )


class NotFound(VendorApiError):
    """No such resource for this vendor. Another vendor's resource is indistinguishable from a missing one."""

    code = "not_found"

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} {resource_id!r} was not found")
        self.resource = resource
        self.resource_id = resource_id


class IllegalTransition(VendorApiError):
    """An action the agent's current state does not allow; says which actions it does allow."""

    code = "illegal_transition"

    def __init__(self, current: str, action: str, allowed_actions: Sequence[str]) -> None:
        allowed = ", ".join(allowed_actions) or "none"
        super().__init__(f"cannot {action} an agent that is {current}; allowed actions: {allowed}")
        self.current = current
        self.action = action
        self.allowed_actions = tuple(allowed_actions)


class IllegalPublish(VendorApiError):
    """A publish or rollback that makes no sense for the agent's versions (e.g. rolling back to a newer one)."""

    code = "illegal_publish"


class VersionConflict(VendorApiError):
    """The write was based on a stale version: someone changed the agent since it was read."""

    code = "version_conflict"

    def __init__(self, expected: int, current: int | None) -> None:
        now = f"it is now at version {current}" if current is not None else "it changed meanwhile"
        super().__init__(f"the agent was changed since version {expected}; {now}: read it again and retry")
        self.expected = expected
        self.current = current


class QuotaExceeded(VendorApiError):
    """A per-vendor quota would be exceeded; names the limit."""

    code = "quota_exceeded"

    def __init__(self, limit_name: str, limit: int, message: str) -> None:
        super().__init__(message)
        self.limit_name = limit_name
        self.limit = limit


class RateLimited(VendorApiError):
    """The vendor sent more requests in the current window than its rate allows."""

    code = "rate_limited"

    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        super().__init__(f"rate limit of {limit} requests per minute exceeded; retry in {retry_after_seconds} s")
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds


class PayloadTooLarge(VendorApiError):
    """The request body is larger than the API accepts."""

    code = "payload_too_large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"request body exceeds {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class TenantNotDeployed(VendorApiError):
    """What the request needs from the vendor's TenantStack (e.g. the knowledge bucket) is not deployed."""

    code = "tenant_not_deployed"


class IdempotencyKeyReused(VendorApiError):
    """An Idempotency-Key was sent again with a different request body."""

    code = "idempotency_key_reused"


class RequestInProgress(VendorApiError):
    """A request with the same Idempotency-Key is still being processed."""

    code = "request_in_progress"


class UnsupportedMediaType(VendorApiError):
    """The request body is not of a media type the operation takes (JSON, unless the operation says otherwise)."""

    code = "unsupported_media_type"

    def __init__(self, content_type: str, accepted: Sequence[str] = ("application/json",)) -> None:
        if tuple(accepted) == ("application/json",):
            super().__init__(f"request bodies must be JSON (Content-Type: application/json), not {content_type!r}")
        else:
            super().__init__(
                f"this operation takes a body of Content-Type {', '.join(accepted)}; {content_type!r} is none of them"
            )


class NumberInUse(VendorApiError):
    """The tenant's number already answers another agent."""

    code = "number_in_use"

    def __init__(self, number: str, owner_agent_id: str | None) -> None:
        super().__init__(
            f"the number {number} already answers agent {owner_agent_id!r}; remove voice from that agent or "
            "delete it first"
        )


class NumberOwnedByAnotherTenant(NumberInUse):
    """The number is registered to another tenant of the platform. Names no tenant and no agent."""

    def __init__(self, number: str) -> None:
        VendorApiError.__init__(
            self,
            f"the number {number} is in use by another account on this platform; use a number registered to your "
            "tenant (your operator registers Twilio/Vonage numbers for you)",
        )


class NumberNotRegistered(VendorApiError):
    """The number is registered to no tenant, so no agent may answer it yet."""

    code = "number_not_registered"

    def __init__(self, number: str) -> None:
        super().__init__(
            f"the number {number} is not registered to your tenant; ask your operator to register it (tenant file "
            "voice.bridge_numbers, or scripts/phone_numbers.py register), then set it again"
        )


class InvalidSop(VendorApiError):
    """The SOP sent to AgentCreator cannot be used (empty, binary, not UTF-8); the message says how to fix it."""

    code = "invalid_sop"


class SopTooLarge(VendorApiError):
    """The SOP is longer than AgentCreator takes."""

    code = "sop_too_large"


class JobNotRetryable(VendorApiError):
    """Only a failed AgentCreator job can be retried; the message says what to do instead."""

    code = "job_not_retryable"


class CreatorUnavailable(VendorApiError):
    """The AgentCreator runtime did not take the job; the job is kept (failed) and can be retried."""

    code = "agent_creator_unavailable"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
