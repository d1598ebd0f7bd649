"""Knowledge-document ingestion: S3 uploads become Bedrock knowledge-base ingestion jobs, and each job's result
becomes the status of the documents it carried (awaiting_upload → uploaded → ingesting → indexed | failed).

Two facts of Amazon Bedrock shape this coordinator:
- one ingestion job per data source at a time (StartIngestionJob answers ConflictException while one runs), and
  every job syncs the whole data source, so documents that arrive during a job wait for the next one;
- Bedrock emits no EventBridge event when a knowledge-base ingestion job ends, so a schedule polls the running
  job (`on_tick`) and starts the next one.

State lives in the tenant's `tenant_state` items (`oratio.tables`): the set of uploads waiting for a job
(atomic set adds and removes, so concurrent Lambdas never lose one) and the current job, claimed with a
conditional create before StartIngestionJob is called, so concurrent Lambdas never start two.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.domain.agents import AGENT_ID_PATTERN
from oratio.domain.knowledge_scope import is_sidecar
from oratio.ports import Clock
from oratio.vendors.models import DocumentStatus
from oratio.vendors.service import UPLOAD_PREFIX

# The ingestion Lambda's environment (set by `stacks/constructs/knowledge_ingestion.py`).
KNOWLEDGE_BASE_ID_ENV_VAR = "ORATIO_KNOWLEDGE_BASE_ID"
DATA_SOURCE_ID_ENV_VAR = "ORATIO_KNOWLEDGE_DATA_SOURCE_ID"
KNOWLEDGE_BUCKET_ENV_VAR = "ORATIO_KNOWLEDGE_BUCKET"
# Document ids are minted by the vendor API; they never contain "/" (the key's separator).
DOCUMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_AGENT_ID = re.compile(AGENT_ID_PATTERN)
_DOCUMENT_ID = re.compile(DOCUMENT_ID_PATTERN)
# S3 sequencers are hexadecimal strings of varying length; AWS compares them after right-padding the shorter one
# with zeros. Padding every sequencer to one width makes plain string comparison (also in DynamoDB) correct.
SEQUENCER_WIDTH = 40
_SEQUENCER = re.compile(r"^[0-9A-Fa-f]{1,64}$")
MAX_DETAIL_CHARS = 1_000
MAX_JOB_DESCRIPTION_CHARS = 200  # StartIngestionJob's limit


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class DocumentRef(_Model):
    """One knowledge document of the tenant (the vendor id is the tenant id, known to the coordinator)."""

    agent_id: str = Field(pattern=AGENT_ID_PATTERN)
    document_id: str = Field(pattern=DOCUMENT_ID_PATTERN)


class PendingUpload(_Model):
    """One upload of a document waiting for (or carried by) an ingestion job. The sequencer tells two uploads of
    the same document apart, so removing a job's uploads from the pending set never removes a newer one."""

    document: DocumentRef
    sequencer: str = Field(pattern=rf"^[0-9A-F]{{{SEQUENCER_WIDTH},64}}$")
    file_name: str = Field(min_length=1, max_length=512, pattern=r"^[^/]+$")

    @property
    def s3_key(self) -> str:
        """The object key in the knowledge bucket."""
        return f"{UPLOAD_PREFIX}/{self.document.agent_id}/{self.document.document_id}/{self.file_name}"

    @property
    def member(self) -> str:
        """The upload as one member of a DynamoDB string set."""
        return f"{self.document.agent_id}/{self.document.document_id}/{self.sequencer}/{self.file_name}"

    @classmethod
    def from_member(cls, member: str) -> PendingUpload:
        """Read a member written by `member` (ValueError if it is not one)."""
        parts = member.split("/", 3)
        if len(parts) != 4:
            raise ValueError(f"{member!r} is not a pending-upload member (agent/document/sequencer/file)")
        agent_id, document_id, sequencer, file_name = parts
        return cls(
            document=DocumentRef(agent_id=agent_id, document_id=document_id),
            sequencer=sequencer,
            file_name=file_name,
        )


class UploadedObject(_Model):
    """An object S3 reports as created in the knowledge bucket (key already URL-decoded)."""

    key: str = Field(min_length=1)
    size_bytes: int = Field(ge=0)
    sequencer: str

    @property
    def normalized_sequencer(self) -> str | None:
        if not _SEQUENCER.fullmatch(self.sequencer):
            return None
        return self.sequencer.upper().ljust(SEQUENCER_WIDTH, "0")


class JobStatus(StrEnum):
    """Bedrock's IngestionJobStatus."""

    STARTING = "STARTING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"

    @property
    def finished(self) -> bool:
        return self in {JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.STOPPED}


class IngestionJob(_Model):
    """What Bedrock says about one ingestion job."""

    job_id: str = Field(min_length=1)
    status: JobStatus
    failure_reasons: tuple[str, ...] = ()
    documents_scanned: int = Field(default=0, ge=0)
    documents_failed: int = Field(default=0, ge=0)


class CurrentIngestion(_Model):
    """The tenant's claimed ingestion: the uploads it carries, and Bedrock's job id once the job started."""

    claim_token: str = Field(min_length=33, max_length=256, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
    uploads: frozenset[PendingUpload]
    claimed_at: AwareDatetime
    job_id: str | None = None


class DocumentIngestionState(StrEnum):
    """What Bedrock says about one document after a job (GetKnowledgeBaseDocuments), reduced to what we store."""

    INDEXED = "indexed"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DocumentOutcome:
    state: DocumentIngestionState
    reason: str | None = None


class UploadMark(StrEnum):
    """What recording an upload on its document did."""

    MARKED = "marked"  # the document is now `uploaded` with the object's size
    DUPLICATE = "duplicate"  # S3 redelivered this (or an older) notification: nothing changed
    UNKNOWN_DOCUMENT = "unknown_document"  # no document record for this key


# ------------------------------------------------------------------------------------------- errors
class IngestionError(Exception):
    """Base of the errors the ingestion ports raise that the coordinator understands."""


class IngestionJobConflict(IngestionError):
    """Bedrock is already running an ingestion job on the data source (one we may not know about)."""


class IngestionJobNotFound(IngestionError):
    """Bedrock does not know the job id we stored (the knowledge base or data source was replaced)."""


# -------------------------------------------------------------------------------------------- ports
class DocumentStatusStore(Protocol):
    """Status writes on the tenant's knowledge documents (records created by the vendor API)."""

    def mark_uploaded(self, vendor_id: str, upload: PendingUpload, *, size_bytes: int, at: datetime) -> UploadMark:
        """Mark the document `uploaded` with the object's real size, unless the upload's key is not the document's
        or this or a newer upload (sequencer not higher) was already recorded."""
        ...

    def mark_ingesting(self, vendor_id: str, document: DocumentRef, *, job_id: str, at: datetime) -> bool:
        """Mark the document `ingesting` in `job_id`; False when the document record does not exist."""
        ...

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
        """Record the result of `job_id` on the document; False (nothing written) when the document has moved on
        to another job or no longer exists."""
        ...


class IngestionStateStore(Protocol):
    """The tenant's pending uploads and its current ingestion (tenant_state "ingestion#pending" / "#current")."""

    def add_pending(self, tenant_id: str, uploads: Collection[PendingUpload]) -> None:
        """Add uploads to the pending set (atomic set union)."""
        ...

    def pending(self, tenant_id: str) -> frozenset[PendingUpload]:
        """The pending set, read consistently."""
        ...

    def remove_pending(self, tenant_id: str, uploads: Collection[PendingUpload]) -> None:
        """Remove exactly these uploads from the pending set (atomic set difference; others added meanwhile stay)."""
        ...

    def current(self, tenant_id: str) -> CurrentIngestion | None:
        """The current ingestion, read consistently, or None."""
        ...

    def claim(self, tenant_id: str, claim: CurrentIngestion) -> bool:
        """Create the current ingestion if there is none; False when another one holds it."""
        ...

    def record_job(self, tenant_id: str, claim_token: str, job_id: str) -> bool:
        """Store Bedrock's job id on our claim; False when the claim is no longer ours."""
        ...

    def release(self, tenant_id: str, claim_token: str) -> bool:
        """Delete the current ingestion if it is still this claim; False otherwise."""
        ...


class IngestionJobs(Protocol):
    """Bedrock's ingestion-job API for the tenant's knowledge base and data source."""

    def start(self, client_token: str, description: str) -> IngestionJob:
        """Start an ingestion job (`IngestionJobConflict` while another one runs)."""
        ...

    def get(self, job_id: str) -> IngestionJob:
        """The job as it is now (`IngestionJobNotFound` if Bedrock does not know it)."""
        ...

    def document_outcomes(self, s3_keys: Sequence[str]) -> dict[str, DocumentOutcome]:
        """Bedrock's per-document status for these object keys of the knowledge bucket (missing keys: unknown)."""
        ...


# ------------------------------------------------------------------------------------------ parsing
def parse_upload_key(key: str) -> tuple[DocumentRef, str] | None:
    """The document an object key belongs to and its file name (`uploads/<agent_id>/<document_id>/<file_name>`),
    or None when the key is not laid out that way."""
    parts = key.split("/", 3)
    if len(parts) != 4 or parts[0] != UPLOAD_PREFIX or not parts[3] or "/" in parts[3] or len(parts[3]) > 512:
        return None
    if is_sidecar(key):
        return None  # a document's metadata, written by the vendor API: not a document
    _, agent_id, document_id, file_name = parts
    if not _AGENT_ID.fullmatch(agent_id) or not _DOCUMENT_ID.fullmatch(document_id):
        return None
    return DocumentRef(agent_id=agent_id, document_id=document_id), file_name


# ------------------------------------------------------------------------------------------ results
class StartAction(StrEnum):
    NOTHING_PENDING = "nothing_pending"
    BUSY = "busy"  # another ingestion holds the claim, or Bedrock runs a job we did not start
    STARTED = "started"
    CLAIM_LOST = "claim_lost"  # the job started but our claim was released meanwhile: uploads stay pending


@dataclass(frozen=True)
class StartOutcome:
    action: StartAction
    job_id: str | None = None
    uploads: int = 0


class SkipReason(StrEnum):
    NOT_AN_UPLOAD_KEY = "not_an_upload_key"
    BAD_SEQUENCER = "bad_sequencer"
    UNKNOWN_DOCUMENT = "unknown_document"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class SkippedObject:
    key: str
    reason: SkipReason


@dataclass(frozen=True)
class UploadsOutcome:
    accepted: tuple[DocumentRef, ...]
    skipped: tuple[SkippedObject, ...]
    start: StartOutcome | None


class TickAction(StrEnum):
    IDLE = "idle"  # no ingestion was running
    STARTING = "starting"  # a claim is being turned into a job by another invocation
    RUNNING = "running"  # the job is still running
    FINISHED = "finished"  # the job ended; its documents got their result
    ABANDONED = "abandoned"  # a claim never became a job (its invocation died); released
    LOST = "lost"  # Bedrock no longer knows the job; its uploads went back to pending


@dataclass(frozen=True)
class TickOutcome:
    action: TickAction
    job: IngestionJob | None = None
    indexed: int = 0
    failed: int = 0
    start: StartOutcome | None = None


@dataclass(frozen=True)
class CoordinatorSettings:
    # A claim that has no job id after this long belongs to an invocation that died between claiming and
    # recording the job (the function times out well before it).
    claim_lease: timedelta = timedelta(minutes=5)
    # The uploads one job carries are stored in one DynamoDB item (400 KB): a few hundred keep it far from the
    # limit. The rest wait for the next job (which re-syncs the bucket; unchanged documents cost nothing).
    max_uploads_per_job: int = 500


def _token() -> str:
    # StartIngestionJob's clientToken: 33-256 characters of letters, digits and inner hyphens.
    return f"oratio-{uuid.uuid4().hex}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"


@dataclass
class IngestionCoordinator:
    """Turns one tenant's uploads into serialized ingestion jobs and their results into document statuses."""

    tenant_id: str
    documents: DocumentStatusStore
    state: IngestionStateStore
    jobs: IngestionJobs
    clock: Clock
    settings: CoordinatorSettings = field(default_factory=CoordinatorSettings)
    new_token: Callable[[], str] = _token

    # ----------------------------------------------------------------------------------- uploads
    def on_uploads(self, objects: Sequence[UploadedObject]) -> UploadsOutcome:
        """Record uploaded objects on their documents, add them to the pending set, and try to start a job.

        Keys that are not document uploads, or have no document record, are skipped (reported, never raised), so
        one stray object cannot hold back the others.
        """
        accepted: list[DocumentRef] = []
        skipped: list[SkippedObject] = []
        pending: list[PendingUpload] = []
        now = self.clock.now()
        for obj in objects:
            parsed = parse_upload_key(obj.key)
            if parsed is None:
                skipped.append(SkippedObject(obj.key, SkipReason.NOT_AN_UPLOAD_KEY))
                continue
            document, file_name = parsed
            sequencer = obj.normalized_sequencer
            if sequencer is None:
                skipped.append(SkippedObject(obj.key, SkipReason.BAD_SEQUENCER))
                continue
            upload = PendingUpload(document=document, sequencer=sequencer, file_name=file_name)
            mark = self.documents.mark_uploaded(self.tenant_id, upload, size_bytes=obj.size_bytes, at=now)
            if mark is UploadMark.UNKNOWN_DOCUMENT:
                skipped.append(SkippedObject(obj.key, SkipReason.UNKNOWN_DOCUMENT))
            elif mark is UploadMark.DUPLICATE:
                skipped.append(SkippedObject(obj.key, SkipReason.DUPLICATE))
            else:
                accepted.append(document)
                pending.append(upload)
        start = None
        if pending:
            self.state.add_pending(self.tenant_id, pending)
            start = self.try_start()
        return UploadsOutcome(accepted=tuple(accepted), skipped=tuple(skipped), start=start)

    # -------------------------------------------------------------------------------------- tick
    def on_tick(self) -> TickOutcome:
        """Follow the current job: when it ended, record its result on its documents and start the next job."""
        current = self.state.current(self.tenant_id)
        if current is None:
            return TickOutcome(TickAction.IDLE, start=self.try_start())
        if current.job_id is None:
            if self.clock.now() - current.claimed_at < self.settings.claim_lease:
                return TickOutcome(TickAction.STARTING)
            # Its uploads were never removed from the pending set (that happens after the job id is recorded).
            self.state.release(self.tenant_id, current.claim_token)
            return TickOutcome(TickAction.ABANDONED, start=self.try_start())
        try:
            job = self.jobs.get(current.job_id)
        except IngestionJobNotFound:
            self.state.add_pending(self.tenant_id, current.uploads)
            self.state.release(self.tenant_id, current.claim_token)
            return TickOutcome(TickAction.LOST, start=self.try_start())
        if not job.status.finished:
            return TickOutcome(TickAction.RUNNING, job=job)
        indexed, failed = self._record_result(current, job)
        self.state.release(self.tenant_id, current.claim_token)
        return TickOutcome(TickAction.FINISHED, job=job, indexed=indexed, failed=failed, start=self.try_start())

    # ------------------------------------------------------------------------------------- start
    def try_start(self) -> StartOutcome:
        """Start a job for the pending uploads unless an ingestion is already claimed or Bedrock is busy."""
        waiting = self.state.pending(self.tenant_id)
        if not waiting:
            return StartOutcome(StartAction.NOTHING_PENDING)
        # Oldest first (S3 sequencers grow with time per key; across keys this is a fair enough order).
        pending = frozenset(sorted(waiting, key=lambda u: u.sequencer)[: self.settings.max_uploads_per_job])
        claim = CurrentIngestion(claim_token=self.new_token(), uploads=pending, claimed_at=self.clock.now())
        if not self.state.claim(self.tenant_id, claim):
            return StartOutcome(StartAction.BUSY, uploads=len(pending))
        try:
            job = self.jobs.start(claim.claim_token, self._description(pending))
        except IngestionJobConflict:
            # A job this coordinator does not track (started in the console, or by an invocation that died before
            # recording it). The uploads stay pending; a later tick starts them once Bedrock is free.
            self.state.release(self.tenant_id, claim.claim_token)
            return StartOutcome(StartAction.BUSY, uploads=len(pending))
        except Exception:
            self.state.release(self.tenant_id, claim.claim_token)
            raise
        # Order matters for crash safety: the job id first (so a tick can follow the job), then the documents,
        # and only then the pending set (an upload still pending is ingested again, never forgotten).
        if not self.state.record_job(self.tenant_id, claim.claim_token, job.job_id):
            # Only if this invocation outlived the claim lease: nobody follows this job, so its uploads must stay
            # pending for the next one (Bedrock answers conflicts until this job ends).
            return StartOutcome(StartAction.CLAIM_LOST, job_id=job.job_id, uploads=len(pending))
        now = self.clock.now()
        for upload in pending:
            self.documents.mark_ingesting(self.tenant_id, upload.document, job_id=job.job_id, at=now)
        self.state.remove_pending(self.tenant_id, pending)
        return StartOutcome(StartAction.STARTED, job_id=job.job_id, uploads=len(pending))

    def _description(self, pending: Collection[PendingUpload]) -> str:
        return f"Oratio: {len(pending)} uploaded document(s) of {self.tenant_id}"[:MAX_JOB_DESCRIPTION_CHARS]

    # ------------------------------------------------------------------------------------ result
    def _record_result(self, current: CurrentIngestion, job: IngestionJob) -> tuple[int, int]:
        # One key per document (a document uploaded twice in one job was ingested once, at its last version).
        keys = {u.document: u.s3_key for u in sorted(current.uploads, key=lambda u: u.sequencer)}
        documents = sorted(keys, key=lambda d: (d.agent_id, d.document_id))
        outcomes = self._outcomes(keys, job)
        now = self.clock.now()
        indexed = failed = 0
        for document in documents:
            status, detail = outcomes[document]
            written = self.documents.mark_finished(
                self.tenant_id, document, job_id=job.job_id, status=status, detail=detail, at=now
            )
            if written and status is DocumentStatus.INDEXED:
                indexed += 1
            elif written:
                failed += 1
        return indexed, failed

    def _outcomes(
        self, keys: dict[DocumentRef, str], job: IngestionJob
    ) -> dict[DocumentRef, tuple[DocumentStatus, str | None]]:
        documents = list(keys)
        if job.status is JobStatus.FAILED:
            reason = "; ".join(job.failure_reasons) or "no reason given"
            detail = _clip(f"ingestion job {job.job_id} failed: {reason}")
            return dict.fromkeys(documents, (DocumentStatus.FAILED, detail))
        if job.status is JobStatus.STOPPED:
            detail = f"ingestion job {job.job_id} was stopped before it finished; upload the document again"
            return dict.fromkeys(documents, (DocumentStatus.FAILED, detail))
        if job.documents_failed == 0:
            return dict.fromkeys(documents, (DocumentStatus.INDEXED, None))
        # Some documents of the data source failed: ask Bedrock which. A document Bedrock cannot tell us about
        # carries the job's failed count, so the vendor sees why it is not marked indexed.
        per_key = self.jobs.document_outcomes(list(keys.values()))
        fallback = (
            DocumentStatus.FAILED,
            f"ingestion job {job.job_id} could not index {job.documents_failed} of the "
            f"{job.documents_scanned} document(s) it scanned, and Bedrock did not report this one's status; "
            "check the file type and size, then upload it again",
        )
        result: dict[DocumentRef, tuple[DocumentStatus, str | None]] = {}
        for document, key in keys.items():
            outcome = per_key.get(key, DocumentOutcome(DocumentIngestionState.UNKNOWN))
            if outcome.state is DocumentIngestionState.INDEXED:
                result[document] = (DocumentStatus.INDEXED, None)
            elif outcome.state is DocumentIngestionState.FAILED:
                reason = outcome.reason or "no reason given"
                result[document] = (DocumentStatus.FAILED, _clip(f"Bedrock could not index this document: {reason}"))
            else:
                result[document] = fallback
        return result
