"""Retry with exponential backoff and full jitter, shared by the model calls and the data adapters.

Kept apart from `oratio.agent.resilience` (which adds model retries, breakers and deadlines) so that adapters
used by every Lambda function do not import the agent package to retry a DynamoDB call.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field


class RetryPolicy(BaseModel):
    """How often and how patiently to retry a retryable error (a model call, a DynamoDB write)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    attempts: int = Field(default=3, ge=1, description="total tries, the first included")
    base_seconds: float = Field(default=0.2, gt=0)
    cap_seconds: float = Field(default=2.0, gt=0)


def backoff_delay(policy: RetryPolicy, retry: int, rand: Callable[[], float] = random.random) -> float:
    """Full-jitter delay before retry number `retry` (0-based): uniform in [0, min(cap, base * 2**retry))."""
    return rand() * min(policy.cap_seconds, policy.base_seconds * 2.0**retry)
