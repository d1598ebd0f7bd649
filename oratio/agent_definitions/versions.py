"""Definition versions and what a running conversation reads of an agent.

A `DefinitionVersion` is immutable: number, author (the caller's identity), time, a one-line note, where it came
from, and the whole `AgentSpec`. The agent's record says which version is live (`AgentPointer`); `LiveAgent` is
what a conversation gets: the agent's status and the spec of its live version (or of a pinned one).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.agent_definitions.model import AgentOverrides
from oratio.agent_definitions.spec import AgentSpec, overrides_of
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.domain.agents import AGENT_ID_PATTERN, AgentStatus

NOTE_CHARS = 200
AUTHOR_CHARS = 200
ONE_LINE = r"^[^\r\n]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class VersionSource(StrEnum):
    """Who wrote a version: the vendor through the API, or AgentCreator proposing one."""

    API = "api"
    AGENT_CREATOR = "agent_creator"


class CreatorProvenance(_Frozen):
    """Where an AgentCreator version came from: the job, the SOP's hash, the models used, the review verdicts."""

    job_id: str = Field(min_length=1, max_length=80)
    sop_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    model_ids: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = Field(default=(), description="one line per review: cycle, overall, what changed")


class DefinitionVersion(_Frozen):
    """One immutable version of an agent's definition."""

    vendor_id: str = Field(pattern=TENANT_ID_PATTERN)
    agent_id: str = Field(pattern=AGENT_ID_PATTERN)
    version: int = Field(ge=1)
    spec: AgentSpec
    author: str = Field(min_length=1, max_length=AUTHOR_CHARS, pattern=ONE_LINE)
    note: str = Field(min_length=1, max_length=NOTE_CHARS, pattern=ONE_LINE)
    source: VersionSource = VersionSource.API
    created_at: AwareDatetime
    provenance: CreatorProvenance | None = Field(default=None, description="set on AgentCreator's versions")


class AgentPointer(_Frozen):
    """What a conversation re-reads of an agent: its lifecycle status and which version is live."""

    tenant_id: str
    agent_id: str
    status: AgentStatus
    live_version: int | None = Field(default=None, ge=1)


class LiveAgent(_Frozen):
    """An agent as a conversation sees it now. `status` None: there is no such agent; `spec` None with a status:
    the agent runs on its tenant's defaults (no version yet, or a runtime without definitions)."""

    tenant_id: str
    agent_id: str
    status: AgentStatus | None
    version: int | None = None
    spec: AgentSpec | None = None

    @property
    def found(self) -> bool:
        return self.status is not None

    @property
    def takes_conversations(self) -> bool:
        return self.status is AgentStatus.ACTIVE

    def overrides(self) -> AgentOverrides | None:
        return overrides_of(self.spec) if self.spec is not None else None
