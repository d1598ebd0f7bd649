"""In-memory adapters of the ingestion ports, with the DynamoDB adapters' conditions (key match, sequencer order,
claim ownership, job ownership) and a local stand-in for Bedrock's ingestion jobs that keeps Bedrock's one rule
that matters here: one job per data source at a time. For unit tests and benchmarks; never used when deployed.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from oratio.adapters.memory_vendor import MemoryDocumentRepository
from oratio.vendors.ingestion import (
    CurrentIngestion,
    DocumentIngestionState,
    DocumentOutcome,
    DocumentRef,
    IngestionJob,
    IngestionJobConflict,
    IngestionJobNotFound,
    JobStatus,
    PendingUpload,
    UploadMark,
)
from oratio.vendors.models import DocumentStatus


class MemoryDocumentStatusStore:
    """Status writes on documents held by a `MemoryDocumentRepository` (the vendor API's in-memory store)."""

    def __init__(self, repository: MemoryDocumentRepository) -> None:
        self.repository = repository
        self._sequencers: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def mark_uploaded(self, vendor_id: str, upload: PendingUpload, *, size_bytes: int, at: datetime) -> UploadMark:
        ref = upload.document
        with self._lock:
            stored = self.repository.get(vendor_id, ref.agent_id, ref.document_id)
            if stored is None or stored.s3_key != upload.s3_key:
                return UploadMark.UNKNOWN_DOCUMENT
            key = (vendor_id, ref.agent_id, ref.document_id)
            if key in self._sequencers and self._sequencers[key] >= upload.sequencer:
                return UploadMark.DUPLICATE
            self._sequencers[key] = upload.sequencer
            self.repository.save(
                stored.model_copy(
                    update={
                        "status": DocumentStatus.UPLOADED,
                        "size_bytes": size_bytes,
                        "detail": None,
                        "ingestion_job_id": None,
                        "updated_at": at,
                    }
                )
            )
            return UploadMark.MARKED

    def mark_ingesting(self, vendor_id: str, document: DocumentRef, *, job_id: str, at: datetime) -> bool:
        with self._lock:
            stored = self.repository.get(vendor_id, document.agent_id, document.document_id)
            if stored is None:
                return False
            self.repository.save(
                stored.model_copy(
                    update={
                        "status": DocumentStatus.INGESTING,
                        "ingestion_job_id": job_id,
                        "detail": None,
                        "updated_at": at,
                    }
                )
            )
            return True

    def mark_finished(
        self,
        vendor_id: str,
        document: DocumentRef,
        *,
        job_id: str,
        status: DocumentStatus,
        detail: str | None,
        at: datetime,
    ) -> bool:
        with self._lock:
            stored = self.repository.get(vendor_id, document.agent_id, document.document_id)
            if stored is None or stored.ingestion_job_id != job_id:
                return False
            self.repository.save(stored.model_copy(update={"status": status, "detail": detail, "updated_at": at}))
            return True


class MemoryIngestionStateStore:
    """The pending set and the current ingestion per tenant, each change atomic under one lock."""

    def __init__(self) -> None:
        self._pending: dict[str, set[PendingUpload]] = defaultdict(set)
        self._current: dict[str, CurrentIngestion] = {}
        self._lock = threading.Lock()

    def add_pending(self, tenant_id: str, uploads: Collection[PendingUpload]) -> None:
        with self._lock:
            self._pending[tenant_id] |= set(uploads)

    def pending(self, tenant_id: str) -> frozenset[PendingUpload]:
        with self._lock:
            return frozenset(self._pending[tenant_id])

    def remove_pending(self, tenant_id: str, uploads: Collection[PendingUpload]) -> None:
        with self._lock:
            self._pending[tenant_id] -= set(uploads)

    def current(self, tenant_id: str) -> CurrentIngestion | None:
        with self._lock:
            return self._current.get(tenant_id)

    def claim(self, tenant_id: str, claim: CurrentIngestion) -> bool:
        with self._lock:
            if tenant_id in self._current:
                return False
            self._current[tenant_id] = claim
            return True

    def record_job(self, tenant_id: str, claim_token: str, job_id: str) -> bool:
        with self._lock:
            current = self._current.get(tenant_id)
            if current is None or current.claim_token != claim_token:
                return False
            self._current[tenant_id] = current.model_copy(update={"job_id": job_id})
            return True

    def release(self, tenant_id: str, claim_token: str) -> bool:
        with self._lock:
            current = self._current.get(tenant_id)
            if current is None or current.claim_token != claim_token:
                return False
            del self._current[tenant_id]
            return True


class LocalIngestionJobs:
    """A local stand-in for one data source's ingestion jobs: `start` answers a conflict while a job runs, jobs end
    only when a test says so (`finish`), and per-document outcomes are whatever the test recorded."""

    def __init__(self) -> None:
        self.jobs: dict[str, IngestionJob] = {}
        self.started: list[tuple[str, str]] = []  # (client token, description) of every accepted start
        self.start_attempts = 0
        self.outcomes: dict[str, DocumentOutcome] = {}
        self._ids = (f"JOB{n:07d}" for n in itertools.count(1))  # Bedrock ids: 10 letters or digits

    @property
    def running(self) -> IngestionJob | None:
        return next((j for j in self.jobs.values() if not j.status.finished), None)

    def start(self, client_token: str, description: str) -> IngestionJob:
        self.start_attempts += 1
        if self.running is not None:
            raise IngestionJobConflict("an ingestion job is already running on this data source")
        job = IngestionJob(job_id=next(self._ids), status=JobStatus.STARTING)
        self.jobs[job.job_id] = job
        self.started.append((client_token, description))
        return job

    def get(self, job_id: str) -> IngestionJob:
        if job_id not in self.jobs:
            raise IngestionJobNotFound(f"no ingestion job {job_id}")
        return self.jobs[job_id]

    def document_outcomes(self, s3_keys: Sequence[str]) -> dict[str, DocumentOutcome]:
        return {k: self.outcomes.get(k, DocumentOutcome(DocumentIngestionState.UNKNOWN)) for k in s3_keys}

    def finish(
        self,
        job_id: str,
        status: JobStatus = JobStatus.COMPLETE,
        *,
        failure_reasons: tuple[str, ...] = (),
        scanned: int = 0,
        failed: int = 0,
    ) -> None:
        """End a job the way Bedrock would report it."""
        self.jobs[job_id] = self.jobs[job_id].model_copy(
            update={
                "status": status,
                "failure_reasons": failure_reasons,
                "documents_scanned": scanned,
                "documents_failed": failed,
            }
        )
