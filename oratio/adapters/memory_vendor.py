"""In-memory adapters of the vendor API's ports, with the same semantics as the DynamoDB ones (versions,
agent slots, number locks, rate windows). For unit tests and the benchmarks; never used when deployed."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from oratio.adapters.dynamodb_vendor import retry_after_seconds
from oratio.agent.ports import TurnRecord
from oratio.agent_definitions.memory import MemoryDefinitionStore, VersionExistsError
from oratio.agent_definitions.versions import DefinitionVersion
from oratio.domain.calls import CallSession
from oratio.vendors.errors import QuotaExceeded, RateLimited, VersionConflict
from oratio.vendors.ports import AgentRecord, KnowledgeDocument, NumberTaken, ProvisioningJob, TenantDeployment


class MemoryAgentRepository:
    """Agents, with their definition versions and pointers kept in `definitions` (shared with a runtime)."""

    def __init__(self, definitions: MemoryDefinitionStore | None = None) -> None:
        self.definitions = definitions or MemoryDefinitionStore()
        self._agents: dict[tuple[str, str], AgentRecord] = {}
        self._slots: dict[str, int] = defaultdict(int)
        self._numbers: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get(self, vendor_id: str, agent_id: str) -> AgentRecord | None:
        return self._agents.get((vendor_id, agent_id))

    def list_all(self, vendor_id: str) -> list[AgentRecord]:
        return sorted((r for (v, _), r in self._agents.items() if v == vendor_id), key=lambda r: r.agent_id)

    def create(self, record: AgentRecord, *, max_agents: int, first_version: DefinitionVersion) -> None:
        with self._lock:
            if self._slots[record.vendor_id] >= max_agents:
                raise QuotaExceeded("max_agents", max_agents, f"this vendor already has {max_agents} agents")
            self._slots[record.vendor_id] += 1
            self.definitions.put(first_version)
            self._store(record)

    def _store(self, record: AgentRecord) -> None:
        self._agents[(record.vendor_id, record.agent_id)] = record
        self.definitions.set_pointer(record.vendor_id, record.agent_id, record.status, record.live_version)

    def update(
        self,
        record: AgentRecord,
        *,
        expected_version: int,
        claim_number: str | None = None,
        release_number: str | None = None,
        release_slot: bool = False,
        new_version: DefinitionVersion | None = None,
    ) -> None:
        key = (record.vendor_id, record.agent_id)
        with self._lock:
            stored = self._agents.get(key)
            if stored is None or stored.version != expected_version:
                raise VersionConflict(expected_version, stored.version if stored else None)
            if new_version is not None:
                try:
                    self.definitions.check_new(new_version)
                except VersionExistsError as e:
                    raise VersionConflict(expected_version, stored.version) from e
            if claim_number is not None:
                holder = self._numbers.get((record.vendor_id, claim_number))
                if holder not in (None, record.agent_id):
                    raise NumberTaken(claim_number, holder)
                self._numbers[(record.vendor_id, claim_number)] = record.agent_id
            if (
                release_number is not None
                and release_number != claim_number
                and self._numbers.get((record.vendor_id, release_number)) == record.agent_id
            ):
                del self._numbers[(record.vendor_id, release_number)]
            if release_slot:
                self._slots[record.vendor_id] = max(0, self._slots[record.vendor_id] - 1)
            if new_version is not None:
                self.definitions.put(new_version)
            self._store(record)


class MemoryProvisioningJobRepository:
    def __init__(self) -> None:
        self._jobs: dict[tuple[str, str], ProvisioningJob] = {}

    def put(self, job: ProvisioningJob) -> None:
        self._jobs[(job.vendor_id, job.provisioning_id)] = job

    def get(self, vendor_id: str, provisioning_id: str) -> ProvisioningJob | None:
        return self._jobs.get((vendor_id, provisioning_id))


class MemoryDocumentRepository:
    def __init__(self) -> None:
        self._documents: dict[tuple[str, str, str], KnowledgeDocument] = {}

    def create(self, document: KnowledgeDocument) -> None:
        self._documents.setdefault((document.vendor_id, document.agent_id, document.document_id), document)

    def save(self, document: KnowledgeDocument) -> None:
        """Replace a document (what the ingestion's status updates do to the DynamoDB item)."""
        self._documents[(document.vendor_id, document.agent_id, document.document_id)] = document

    def get(self, vendor_id: str, agent_id: str, document_id: str) -> KnowledgeDocument | None:
        return self._documents.get((vendor_id, agent_id, document_id))

    def list_for_agent(self, vendor_id: str, agent_id: str) -> list[KnowledgeDocument]:
        return sorted(
            (d for (v, a, _), d in self._documents.items() if (v, a) == (vendor_id, agent_id)),
            key=lambda d: d.document_id,
        )


class MemoryConversationReader:
    def __init__(self) -> None:
        self.sessions: dict[tuple[str, str], CallSession] = {}
        self.turn_records: dict[tuple[str, str], list[TurnRecord]] = defaultdict(list)

    def list_for_agent(
        self, vendor_id: str, agent_id: str, limit: int, next_token: str | None
    ) -> tuple[list[CallSession], str | None]:
        sessions = sorted(
            (s for (v, _), s in self.sessions.items() if v == vendor_id and s.agent_id == agent_id),
            key=lambda s: s.started_at,
            reverse=True,
        )
        start = int(next_token) if next_token and next_token.isdigit() else 0
        page = sessions[start : start + limit]
        return page, str(start + limit) if start + limit < len(sessions) else None

    def get(self, vendor_id: str, conversation_id: str) -> CallSession | None:
        return self.sessions.get((vendor_id, conversation_id))

    def turns(self, vendor_id: str, conversation_id: str) -> list[TurnRecord]:
        return list(self.turn_records.get((vendor_id, conversation_id), []))


class StaticTenantDirectory:
    """Deployments given up front (what SSM would hold)."""

    def __init__(self, deployments: dict[str, TenantDeployment] | None = None) -> None:
        self.deployments = dict(deployments or {})

    def deployment(self, tenant_id: str) -> TenantDeployment:
        return self.deployments.get(tenant_id, TenantDeployment(tenant_id=tenant_id))


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = defaultdict(int)

    def hit(self, vendor_id: str, at: datetime, limit_per_minute: int) -> None:
        window = (vendor_id, int(at.timestamp()) // 60)
        if self._counts[window] >= limit_per_minute:
            raise RateLimited(limit_per_minute, retry_after_seconds(at))
        self._counts[window] += 1


class MemoryDocumentMetadata:
    """Metadata sidecars by (bucket, key), as S3 would hold them."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def write(self, bucket: str, key: str, metadata: dict[str, Any]) -> None:
        self.objects[(bucket, key)] = metadata
