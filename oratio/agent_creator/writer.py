"""Where an approved, gated candidate goes: its artifacts under a versioned key, and a new unpublished version.

`ArtifactStore` is the artifact bucket (S3 deployed: `oratio.agent_creator.adapters.s3_artifacts`), keyed
`agent-creator/<tenant>/<agent>/<job_id>/...`; `VersionWriter` writes the definition as a new version of the
agent that is not live until the vendor publishes it (`VersionSource.AGENT_CREATOR`, with its provenance).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol

from oratio.agent_definitions.memory import MemoryDefinitionStore
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import CreatorProvenance, DefinitionVersion, VersionSource


class ArtifactStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...


class VersionWriter(Protocol):
    def propose(self, vendor_id: str, agent_id: str, spec: AgentSpec, *, note: str, provenance: CreatorProvenance,
                at: datetime) -> int:  # fmt: skip
        """Write `spec` as the agent's next version, unpublished; returns its number."""
        ...


class InMemoryArtifacts:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = (body, content_type)

    def get(self, key: str) -> bytes:
        return self.objects[key][0]


class MemoryVersionWriter:
    """`VersionWriter` over the in-memory definition store (tests, the CLI): the next number, never published."""

    def __init__(self, store: MemoryDefinitionStore | None = None) -> None:
        self.store = store or MemoryDefinitionStore()
        self._lock = threading.Lock()

    def propose(self, vendor_id: str, agent_id: str, spec: AgentSpec, *, note: str, provenance: CreatorProvenance,
                at: datetime) -> int:  # fmt: skip
        with self._lock:
            existing = self.store.list(vendor_id, agent_id)
            number = (existing[0].version if existing else 0) + 1
            self.store.put(
                DefinitionVersion(vendor_id=vendor_id, agent_id=agent_id, version=number, spec=spec,
                                  author=f"agent-creator:{provenance.job_id}", note=note[:200],
                                  source=VersionSource.AGENT_CREATOR, created_at=at, provenance=provenance)
            )  # fmt: skip
            return number
