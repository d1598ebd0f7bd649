"""The AgentCreator job contract: a job, its per-stage records, and the store that keeps both.

A job is one run of the pipeline over one SOP for one agent. Each stage attempt leaves a `StageRecord` with its
output (inline when small, else a key into the store's large-output space), the model that produced it and what
it cost. `JobStore` is the port: an in-memory implementation lives here, the DynamoDB + S3 one in
`oratio.agent_creator.dynamodb_store` (table layout in `oratio.tables`).

The entry points `run_job` / `retry_job` live in `oratio.agent_creator.pipeline`; they are re-exported here so
callers (the AgentCreator runtime, the CLI) import the contract from one place.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.domain.agents import AGENT_ID_PATTERN

if TYPE_CHECKING:
    from oratio.agent_creator.pipeline import PipelineDeps

JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{7,63}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
ERROR_CHARS = 1_000
# Outputs above this size go to the large-output space (S3 when deployed) and the record keeps the key.
INLINE_OUTPUT_BYTES = 32_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StageName(StrEnum):
    """The pipeline's stages, in the order they run (the drafter and reviewer alternate up to the cap)."""

    SOP_PARSER = "sop_parser"
    PLAN_DRAFTER = "plan_drafter"
    PLAN_REVIEWER = "plan_reviewer"
    CODE_GENERATOR = "code_generator"
    CODE_REVIEWER = "code_reviewer"
    TEST_WRITER = "test_writer"
    GATE = "gate"
    S3_WRITER = "s3_writer"

    @property
    def position(self) -> int:
        return list(StageName).index(self)


class StageStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobError(_Model):
    """Why a job stopped, in words a vendor can act on, and what to do next."""

    stage: StageName
    message: str = Field(min_length=1, max_length=ERROR_CHARS)
    next_step: str = Field(min_length=1, max_length=ERROR_CHARS)
    retryable: bool = Field(description="retrying from `stage` may succeed without changing the SOP")


class CreatorJob(_Model):
    """One AgentCreator run: which SOP for which agent, where it stands, and what it produced."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    vendor_id: str = Field(pattern=TENANT_ID_PATTERN, description="the owning vendor (the tenant id today)")
    agent_id: str = Field(pattern=AGENT_ID_PATTERN)
    sop_sha256: str = Field(pattern=SHA256_PATTERN)
    sop_key: str = Field(description="where the SOP text is kept in the store's large-output space")
    status: JobStatus = JobStatus.QUEUED
    current_stage: StageName | None = None
    failed_stage: StageName | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    candidate_version: int | None = Field(default=None, ge=1, description="the unpublished version written")
    artifact_prefix: str | None = Field(default=None, description="the S3 key prefix of agent.py and manifest")
    report_key: str | None = Field(default=None, description="the job report's key in the large-output space")
    error: JobError | None = None
    attempts: int = Field(default=1, ge=1, description="1 for the first run, +1 per retry")
    cost_usd: float = Field(default=0.0, ge=0)

    def touched(self, now: datetime, **changes: Any) -> CreatorJob:
        """A copy with `changes` and `updated_at` set to `now`."""
        return self.model_copy(update={**changes, "updated_at": now})


class StageRecord(_Model):
    """One attempt at one stage: its output, the model it used and what it cost."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    stage: StageName
    attempt: int = Field(ge=1, description="counts per stage across review cycles and retries")
    cycle: int = Field(default=0, ge=0, description="the review cycle (drafter/reviewer), else 0")
    status: StageStatus
    output: dict[str, Any] | None = Field(default=None, description="the stage output, when small enough")
    output_key: str | None = Field(default=None, description="else: its key in the large-output space")
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    model_id: str | None = None
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    error: str | None = Field(default=None, max_length=ERROR_CHARS)

    @property
    def record_key(self) -> str:
        """Sortable within a job: stage position, then attempt."""
        return f"{self.stage.position:02d}#{self.stage.value}#{self.attempt:03d}"


class JobView(_Model):
    """A job with its stage records in pipeline order: what `GET /api/v1/creator-jobs/{job_id}` shows."""

    job: CreatorJob
    stages: tuple[StageRecord, ...]

    def latest(self, stage: StageName) -> StageRecord | None:
        records = [r for r in self.stages if r.stage is stage]
        return records[-1] if records else None


class JobNotFoundError(LookupError):
    """No job with that id for that tenant."""


class JobStore(Protocol):
    """Where jobs, their stage records and their large outputs are kept. Every read is scoped by tenant."""

    def create_job(self, job: CreatorJob) -> None: ...

    def update_job(self, job: CreatorJob) -> None: ...

    def replace_job_if(self, job: CreatorJob, *, status_was: JobStatus) -> None:
        """Write `job` only if the stored job's status is still `status_was` (one atomic check-and-write), else
        raise `JobStatusChangedError`: of two requests moving a job on from the same state, one wins."""
        ...

    def save_stage(self, tenant_id: str, record: StageRecord) -> None: ...

    def get_job(self, tenant_id: str, job_id: str) -> JobView: ...

    def put_output(self, key: str, body: bytes) -> None: ...

    def get_output(self, key: str) -> bytes: ...


def output_key(job: CreatorJob, name: str) -> str:
    """The large-output key of one named output of a job (tenant first, so isolation lives in the key)."""
    return f"agent-creator/{job.tenant_id}/{job.agent_id}/{job.job_id}/{name}"


def utc_now() -> datetime:
    return datetime.now(UTC)


class JobStatusChangedError(RuntimeError):
    """The job is no longer in the status a conditional write expected (another request moved it first)."""

    def __init__(self, job_id: str, expected: JobStatus) -> None:
        super().__init__(f"job {job_id} is no longer {expected.value}")
        self.job_id, self.expected = job_id, expected


class InMemoryJobStore:
    """`JobStore` in process memory: tests, the CLI and the local runtime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], CreatorJob] = {}
        self._stages: dict[tuple[str, str], dict[str, StageRecord]] = {}
        self._outputs: dict[str, bytes] = {}

    def create_job(self, job: CreatorJob) -> None:
        with self._lock:
            key = (job.tenant_id, job.job_id)
            if key in self._jobs:
                raise ValueError(f"job {job.job_id} already exists")
            self._jobs[key] = job
            self._stages[key] = {}

    def update_job(self, job: CreatorJob) -> None:
        with self._lock:
            key = (job.tenant_id, job.job_id)
            if key not in self._jobs:
                raise JobNotFoundError(job.job_id)
            self._jobs[key] = job

    def replace_job_if(self, job: CreatorJob, *, status_was: JobStatus) -> None:
        with self._lock:
            key = (job.tenant_id, job.job_id)
            if key not in self._jobs:
                raise JobNotFoundError(job.job_id)
            if self._jobs[key].status is not status_was:
                raise JobStatusChangedError(job.job_id, status_was)
            self._jobs[key] = job

    def save_stage(self, tenant_id: str, record: StageRecord) -> None:
        with self._lock:
            key = (tenant_id, record.job_id)
            if key not in self._jobs:
                raise JobNotFoundError(record.job_id)
            self._stages[key][record.record_key] = record

    def get_job(self, tenant_id: str, job_id: str) -> JobView:
        with self._lock:
            key = (tenant_id, job_id)
            if key not in self._jobs:
                raise JobNotFoundError(job_id)
            stages = tuple(self._stages[key][k] for k in sorted(self._stages[key]))
            return JobView(job=self._jobs[key], stages=stages)

    def put_output(self, key: str, body: bytes) -> None:
        with self._lock:
            self._outputs[key] = body

    def get_output(self, key: str) -> bytes:
        with self._lock:
            if key not in self._outputs:
                raise KeyError(key)
            return self._outputs[key]


def run_job(job_id: str, *, deps: PipelineDeps) -> CreatorJob:
    """Run a queued job through every stage; returns the job as it ended (succeeded or failed)."""
    from oratio.agent_creator.pipeline import run_job as _run

    return _run(job_id, deps=deps)


def retry_job(job_id: str, from_stage: StageName | None = None, *, deps: PipelineDeps) -> CreatorJob:
    """Run a failed job again from `from_stage` (default: the stage it failed at), reusing earlier outputs."""
    from oratio.agent_creator.pipeline import retry_job as _retry

    return _retry(job_id, from_stage, deps=deps)


# ------------------------------------------------------------------------------------ submitting an SOP
MAX_SOP_BYTES = 256 * 1024
SOP_TEXT_MEDIA_TYPES = ("text/plain", "text/markdown")  # what an SOP may be sent as, besides JSON


class SopRejectedError(ValueError):
    """The SOP cannot be used as sent. `status` is the HTTP status an API answers with (400 or 413)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_sop(body: bytes, *, max_bytes: int = MAX_SOP_BYTES) -> str:
    """The SOP text from a request body: UTF-8 text or Markdown, not empty, not binary, at most `max_bytes`."""
    if len(body) > max_bytes:
        raise SopRejectedError(
            f"the SOP is {len(body):,} bytes; the limit is {max_bytes:,} bytes (256 KiB). Split it or shorten it.",
            status=413,
        )
    if b"\x00" in body:
        raise SopRejectedError("the SOP looks binary (it contains NUL bytes); send it as UTF-8 text or Markdown")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SopRejectedError(
            f"the SOP is not valid UTF-8 (byte {e.start}); save it as UTF-8 text or Markdown and send it again"
        ) from e
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise SopRejectedError("the SOP is empty; send the text of your procedure (Markdown headings and bullets)")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t")
    if controls:
        raise SopRejectedError(f"the SOP contains {controls} control character(s); send plain text or Markdown")
    return text


def sop_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex}"


def submit_sop(
    store: JobStore,
    *,
    tenant_id: str,
    agent_id: str,
    body: bytes,
    vendor_id: str | None = None,
    job_id: str | None = None,
    now: datetime | None = None,
) -> CreatorJob:
    """Validate an SOP body (raises `SopRejectedError`), keep its text and create a queued job for it."""
    text = decode_sop(body)
    at = now or utc_now()
    job_id = job_id or new_job_id()
    key = f"agent-creator/{tenant_id}/{agent_id}/{job_id}/sop.md"
    store.put_output(key, text.encode("utf-8"))
    job = CreatorJob(
        job_id=job_id,
        tenant_id=tenant_id,
        vendor_id=vendor_id or tenant_id,
        agent_id=agent_id,
        sop_sha256=sop_sha256(text),
        sop_key=key,
        created_at=at,
        updated_at=at,
    )
    store.create_job(job)
    return job
