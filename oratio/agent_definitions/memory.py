"""In-memory definition store: versions (never overwritten) and each agent's pointer, with the semantics of the
DynamoDB adapters. The vendor API's in-memory agent repository writes into it; a runtime reads it through the
`DefinitionReader` port. For unit tests, benchmarks and local runs; never used deployed."""

from __future__ import annotations

import threading

from oratio.agent_definitions.versions import AgentPointer, DefinitionVersion
from oratio.domain.agents import AgentStatus


class VersionExistsError(Exception):
    """A version with this number is stored already (versions are immutable)."""


class MemoryDefinitionStore:
    """`DefinitionVersions` and `DefinitionReader` over dictionaries."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str, int], DefinitionVersion] = {}
        self._pointers: dict[tuple[str, str], AgentPointer] = {}
        self._lock = threading.Lock()
        self.pointer_reads = 0
        self.version_reads = 0

    # ------------------------------------------------------------------------------------- writes
    def check_new(self, version: DefinitionVersion) -> None:
        if (version.vendor_id, version.agent_id, version.version) in self._versions:
            raise VersionExistsError(f"version {version.version} of {version.agent_id!r} exists")

    def put(self, version: DefinitionVersion) -> None:
        with self._lock:
            self.check_new(version)
            self._versions[(version.vendor_id, version.agent_id, version.version)] = version

    def set_pointer(self, tenant_id: str, agent_id: str, status: AgentStatus, live_version: int | None) -> None:
        with self._lock:
            self._pointers[(tenant_id, agent_id)] = AgentPointer(
                tenant_id=tenant_id, agent_id=agent_id, status=status, live_version=live_version
            )

    # ----------------------------------------------------------------------------- vendor API reads
    def get(self, vendor_id: str, agent_id: str, version: int) -> DefinitionVersion | None:
        return self._versions.get((vendor_id, agent_id, version))

    def list(self, vendor_id: str, agent_id: str) -> list[DefinitionVersion]:
        return sorted(
            (v for (vid, aid, _), v in self._versions.items() if (vid, aid) == (vendor_id, agent_id)),
            key=lambda v: v.version,
            reverse=True,
        )

    # -------------------------------------------------------------------------------- runtime reads
    async def pointer(self, tenant_id: str, agent_id: str) -> AgentPointer | None:
        self.pointer_reads += 1
        return self._pointers.get((tenant_id, agent_id))

    async def version(self, tenant_id: str, agent_id: str, version: int) -> DefinitionVersion | None:
        self.version_reads += 1
        return self._versions.get((tenant_id, agent_id, version))
