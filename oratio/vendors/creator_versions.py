"""AgentCreator's `VersionWriter` over the vendor API's own agent repository: a candidate becomes the agent's next
definition version in the same transaction the vendor API uses for its own versions (the agent item conditioned on
the version it read, and the version item conditioned on a new key), so a number is never reused — and it is never
published: `live_version` stays, and only the vendor's publish makes the candidate live.

The agent record's fields that follow its newest version (name, description, character, ... — what
GET /agents/{id} shows and what the vendor's next edit starts from) are written with the candidate, exactly as the
vendor API writes them with a hand-written version (`newest_version_fields`): a published candidate shows as the
agent, and a vendor's next edit builds on it instead of silently dropping it.
"""

from __future__ import annotations

from datetime import datetime

from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import NOTE_CHARS, CreatorProvenance, DefinitionVersion, VersionSource
from oratio.domain.agents import AgentStatus
from oratio.vendors.errors import NotFound, VersionConflict
from oratio.vendors.ports import AgentRepository
from oratio.vendors.service import newest_version_fields

# A vendor editing the agent while the job writes moves its version on; the writer reads again and retries.
WRITE_ATTEMPTS = 3
AUTHOR_PREFIX = "agent-creator:"


class AgentNotWritableError(LookupError):
    """The agent is gone (deleted, or never existed): the candidate has nowhere to go."""


class RepositoryVersionWriter:
    def __init__(self, agents: AgentRepository, attempts: int = WRITE_ATTEMPTS) -> None:
        self._agents = agents
        self._attempts = attempts

    def propose(
        self, vendor_id: str, agent_id: str, spec: AgentSpec, *, note: str, provenance: CreatorProvenance, at: datetime
    ) -> int:
        """Write `spec` as the agent's next version, unpublished; returns its number."""
        for attempt in range(1, self._attempts + 1):
            record = self._agents.get(vendor_id, agent_id)
            if record is None or record.status is AgentStatus.DELETED:
                raise AgentNotWritableError(f"agent {agent_id!r} does not exist (deleted?); submit the SOP again")
            number = record.latest_version + 1
            version = DefinitionVersion(
                vendor_id=vendor_id,
                agent_id=agent_id,
                version=number,
                spec=spec,
                author=f"{AUTHOR_PREFIX}{provenance.job_id}",
                note=" ".join(note.split())[:NOTE_CHARS] or f"AgentCreator job {provenance.job_id}",
                source=VersionSource.AGENT_CREATOR,
                created_at=at,
                provenance=provenance,
            )
            updated = record.model_copy(
                update={**newest_version_fields(spec, number), "version": record.version + 1, "updated_at": at}
            )
            try:
                self._agents.update(updated, expected_version=record.version, new_version=version)
            except (VersionConflict, NotFound):
                if attempt == self._attempts:
                    raise
                continue
            return number
        raise AssertionError("unreachable")  # pragma: no cover
