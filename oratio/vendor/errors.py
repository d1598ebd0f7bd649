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
    """The request body is not JSON."""

    code = "unsupported_media_type"

    def __init__(self, content_type: str) -> None:
        super().__init__(f"request bodies must be JSON (Content-Type: application/json), not {content_type!r}")


class NumberInUse(VendorApiError):
    """The tenant's number already answers another agent."""

    code = "number_in_use"

    def __init__(self, number: str, owner_agent_id: str | None) -> None:
        super().__init__(
            f"the number {number} already answers agent {owner_agent_id!r}; remove voice from that agent or "
            "delete it first"
        )
