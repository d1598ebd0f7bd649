"""Agents: a vendor's configured AI agent and the lifecycle status every channel path checks."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.config.tenant import E164_PATTERN, TENANT_ID_PATTERN

AGENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class AgentStatus(StrEnum):
    """Where an agent is in its lifecycle; only `active` agents take calls."""

    DRAFT = "draft"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    DELETED = "deleted"


class Agent(BaseModel):
    """One vendor agent as the call paths see it; `version` grows with every change (optimistic locking)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    vendor_id: str = Field(pattern=TENANT_ID_PATTERN, description="the owning vendor, which is the tenant id")
    agent_id: str = Field(pattern=AGENT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=120)
    status: AgentStatus
    phone_number: str | None = Field(default=None, pattern=E164_PATTERN, description="E.164 number it answers")
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int = Field(default=1, ge=1)
    live_version: int | None = Field(
        default=None, ge=1, description="the definition version callers get (set when the vendor publishes one)"
    )


def preferred_agent(candidates: list[Agent]) -> Agent | None:
    """Pick the agent a number resolves to when stale rows share it: a live agent over a deleted one, then the
    most recently updated. The vendor API keeps numbers unique; this only makes a race harmless."""
    if not candidates:
        return None
    return max(candidates, key=lambda a: (a.status is not AgentStatus.DELETED, a.updated_at))
