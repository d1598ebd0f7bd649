"""The vendor API's AgentCreator use cases: submit an SOP for an agent (a queued job, launched in the background),
read a job stage by stage with its report and candidate version, retry a failed job from the stage it failed at,
and record in the audit log when a vendor approves (publishes) a version AgentCreator wrote.

Plain Python over ports: the job store is the pipeline's own (`oratio.agent_creator.jobs.JobStore`), so the API
reads exactly what the pipeline wrote; jobs are keyed by the vendor's id, so another vendor's job is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oratio.agent_creator.jobs import (
    MAX_SOP_BYTES,
    CreatorJob,
    JobError,
    JobNotFoundError,
    JobStatus,
    JobStatusChangedError,
    JobStore,
    JobView,
    SopRejectedError,
    StageName,
    StageRecord,
    StageStatus,
    new_job_id,
    submit_sop,
)
from oratio.agent_definitions.versions import VersionSource
from oratio.creator_launch import CreatorJobLauncher, LaunchAction, LaunchError, LaunchRequest
from oratio.domain.agents import AgentStatus
from oratio.observability import logger
from oratio.ports import Clock
from oratio.vendors.errors import (
    CreatorUnavailable,
    InvalidSop,
    JobNotRetryable,
    NotFound,
    SopTooLarge,
)
from oratio.vendors.operations import AuditEntry
from oratio.vendors.ports import AgentRepository, DefinitionVersions

API_BASE = "/api/v1"
LAUNCH_RETRY_AFTER_SECONDS = 30
# Audit actions (the generic write entry is recorded as well; these say what the write meant).
AUDIT_START = "agentcreator.start"
AUDIT_RETRY = "agentcreator.retry"
AUDIT_APPROVE = "agentcreator.approve"


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid")


def job_path(job_id: str) -> str:
    return f"{API_BASE}/creator-jobs/{job_id}"


class CreatorJobAccepted(_View):
    """A job taken: where to follow it."""

    job_id: str
    agent_id: str
    status: JobStatus
    attempts: int = Field(description="1 for the first run, +1 per retry")
    from_stage: StageName | None = Field(default=None, description="a retry starts again from this stage")
    location: str = Field(description="GET this path to follow the job stage by stage")


class CreatorErrorView(_View):
    stage: StageName
    message: str
    next_step: str
    retryable: bool


class CreatorStageView(_View):
    """One attempt at one stage."""

    stage: StageName
    attempt: int
    cycle: int = Field(description="the plan review cycle (drafter and reviewer), else 0")
    status: StageStatus
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    model_id: str | None = None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error: str | None = None
    output: dict[str, Any] | None = Field(default=None, description="the stage's typed output, when small")
    output_in_report_only: bool = Field(
        default=False, description="the output was too large to show here; the report carries what it covers"
    )


class CandidateVersionView(_View):
    """The unpublished version the job wrote, and the versions API paths to review and approve it."""

    version: int
    diff: str = Field(description="GET: the candidate against the live version, field by field")
    publish: str = Field(description="POST: approve the candidate (it goes live from the next turn)")


class CreatorJobDetail(_View):
    job_id: str
    agent_id: str
    status: JobStatus
    current_stage: StageName | None = None
    failed_stage: StageName | None = None
    error: CreatorErrorView | None = None
    attempts: int
    sop_sha256: str
    cost_usd: float
    created_at: AwareDatetime
    updated_at: AwareDatetime
    stages: list[CreatorStageView]
    report: dict[str, Any] | None = Field(
        default=None, description="requirement → plan elements, definition fields and test scripts; gaps; gate"
    )
    candidate: CandidateVersionView | None = None
    retry: str | None = Field(default=None, description="POST this path to retry from the failed stage")


AuditRecorder = Callable[[str, AuditEntry], None]


class CreatorService:
    """AgentCreator as the vendor API serves it."""

    def __init__(
        self,
        *,
        agents: AgentRepository,
        versions: DefinitionVersions,
        jobs: JobStore,
        launcher: CreatorJobLauncher,
        audit: AuditRecorder,
        clock: Clock,
        max_sop_bytes: int = MAX_SOP_BYTES,
        job_ids: Callable[[], str] = new_job_id,
    ) -> None:
        self._agents = agents
        self._versions = versions
        self._jobs = jobs
        self._launcher = launcher
        self._audit = audit
        self._clock = clock
        self._max_sop_bytes = max_sop_bytes
        self._job_ids = job_ids

    @property
    def max_sop_bytes(self) -> int:
        return self._max_sop_bytes

    # ---------------------------------------------------------------------------------- submit
    def submit(self, vendor_id: str, agent_id: str, sop: bytes, actor: str, request_id: str) -> CreatorJobAccepted:
        """Keep the SOP, queue a job for the agent and launch it; `InvalidSop` / `SopTooLarge` say what to fix."""
        record = self._agents.get(vendor_id, agent_id)
        if record is None or record.status is AgentStatus.DELETED:
            raise NotFound("agent", agent_id)
        if len(sop) > self._max_sop_bytes:
            raise SopTooLarge(
                f"the SOP is {len(sop):,} bytes; AgentCreator takes at most {self._max_sop_bytes:,} bytes of UTF-8 "
                "text. Shorten it, or split it and submit the part for this agent"
            )
        try:
            job = submit_sop(
                self._jobs,
                tenant_id=vendor_id,
                agent_id=agent_id,
                body=sop,
                vendor_id=vendor_id,
                job_id=self._job_ids(),
                now=self._clock.now(),
            )
        except SopRejectedError as e:
            raise (SopTooLarge if e.status == 413 else InvalidSop)(str(e)) from e
        self._record(vendor_id, actor, AUDIT_START, job, request_id, before=record.live_version)
        self._launch(job, LaunchRequest(action=LaunchAction.RUN, tenant_id=vendor_id, job_id=job.job_id))
        return self._accepted(job, None)

    # ------------------------------------------------------------------------------------ read
    def job(self, vendor_id: str, job_id: str) -> CreatorJobDetail:
        view = self._view(vendor_id, job_id)
        job = view.job
        return CreatorJobDetail(
            job_id=job.job_id,
            agent_id=job.agent_id,
            status=job.status,
            current_stage=job.current_stage,
            failed_stage=job.failed_stage,
            error=_error_view(job.error),
            attempts=job.attempts,
            sop_sha256=job.sop_sha256,
            cost_usd=round(job.cost_usd, 6),
            created_at=job.created_at,
            updated_at=job.updated_at,
            stages=[_stage_view(record) for record in view.stages],
            report=self._report(job),
            candidate=_candidate(job),
            retry=f"{job_path(job.job_id)}/retry" if _retryable(job) else None,
        )

    # ----------------------------------------------------------------------------------- retry
    def retry(self, vendor_id: str, job_id: str, actor: str, request_id: str) -> CreatorJobAccepted:
        """Launch a failed job again from the stage it failed at (earlier outputs are reused)."""
        job = self._view(vendor_id, job_id).job
        if job.status is not JobStatus.FAILED:
            raise JobNotRetryable(_not_retryable(job))
        stage = job.failed_stage or (job.error.stage if job.error else None)
        # failed -> queued in one conditional write: of two retries sent together, exactly one launches.
        queued = job.touched(self._clock.now(), status=JobStatus.QUEUED, current_stage=stage)
        try:
            self._jobs.replace_job_if(queued, status_was=JobStatus.FAILED)
        except JobStatusChangedError as e:
            raise JobNotRetryable(
                f"job {job_id} is already being retried (another retry moved it on while this one was sent); "
                f"follow it at {job_path(job_id)}"
            ) from e
        self._record(vendor_id, actor, AUDIT_RETRY, job, request_id)
        self._launch(
            queued, LaunchRequest(action=LaunchAction.RETRY, tenant_id=vendor_id, job_id=job.job_id, from_stage=stage)
        )
        return self._accepted(job, stage)

    # -------------------------------------------------------------------------------- approval
    def record_approval(self, vendor_id: str, agent_id: str, version: int, actor: str, request_id: str) -> None:
        """After a publish: when the version was written by AgentCreator, the audit log says it was approved."""
        record_approval(self._versions, self._write_audit, self._clock, vendor_id, agent_id, version, actor, request_id)

    # --------------------------------------------------------------------------------- helpers
    def _view(self, vendor_id: str, job_id: str) -> JobView:
        try:
            return self._jobs.get_job(vendor_id, job_id)
        except JobNotFoundError as e:
            raise NotFound("creator job", job_id) from e

    def _launch(self, job: CreatorJob, request: LaunchRequest) -> None:
        try:
            self._launcher.launch(request)
        except LaunchError as e:
            # The job is kept, marked failed at the stage it would have run, so the vendor can retry it.
            stage = request.from_stage or StageName.SOP_PARSER
            next_step = f"retry the job in a minute: POST {job_path(job.job_id)}/retry"
            failed = job.touched(
                self._clock.now(),
                status=JobStatus.FAILED,
                failed_stage=stage,
                error=JobError(stage=stage, message=f"{e}; nothing ran", next_step=next_step, retryable=True),
            )
            self._jobs.update_job(failed)
            logger.warning("AgentCreator launch failed", extra={"job_id": job.job_id})
            raise CreatorUnavailable(
                f"AgentCreator could not start job {job.job_id} ({e}); the job is kept: {next_step}",
                LAUNCH_RETRY_AFTER_SECONDS,
            ) from e

    def _write_audit(self, vendor_id: str, entry: AuditEntry) -> None:
        """Never fails the request (the write it records has happened): a lost entry is logged as an error."""
        try:
            self._audit(vendor_id, entry)
        except Exception:
            logger.exception("audit entry could not be written", extra={"action": entry.action})

    def _record(
        self, vendor_id: str, actor: str, action: str, job: CreatorJob, request_id: str, before: int | None = None
    ) -> None:
        self._write_audit(
            vendor_id,
            AuditEntry(
                at=self._clock.now(),
                request_id=request_id,
                actor=actor,
                action=action,
                resource=job_path(job.job_id),
                status=202,
                before_version=before,
            ),
        )

    def _report(self, job: CreatorJob) -> dict[str, Any] | None:
        if job.report_key is None:
            return None
        try:
            report = json.loads(self._jobs.get_output(job.report_key))
        except (KeyError, ValueError):
            logger.exception("AgentCreator report unreadable", extra={"job_id": job.job_id})
            return None
        return report if isinstance(report, dict) else None

    @staticmethod
    def _accepted(job: CreatorJob, from_stage: StageName | None) -> CreatorJobAccepted:
        retrying = from_stage is not None
        return CreatorJobAccepted(
            job_id=job.job_id,
            agent_id=job.agent_id,
            status=JobStatus.QUEUED,
            attempts=job.attempts + 1 if retrying else job.attempts,
            from_stage=from_stage,
            location=job_path(job.job_id),
        )


def record_approval(
    versions: DefinitionVersions,
    audit: AuditRecorder,
    clock: Clock,
    vendor_id: str,
    agent_id: str,
    version: int,
    actor: str,
    request_id: str,
) -> None:
    """Record `agentcreator.approve` when the published version was written by AgentCreator (needs only the
    versions and the audit log, so a publish never depends on the AgentCreator runtime being configured)."""
    found = versions.get(vendor_id, agent_id, version)
    if found is None or found.source is not VersionSource.AGENT_CREATOR:
        return
    job = found.provenance.job_id if found.provenance is not None else None
    audit(
        vendor_id,
        AuditEntry(
            at=clock.now(),
            request_id=request_id,
            actor=actor,
            action=AUDIT_APPROVE,
            resource=job_path(job) if job else f"{API_BASE}/agents/{agent_id}/versions/{version}",
            status=200,
            after_version=version,
        ),
    )


def _retryable(job: CreatorJob) -> bool:
    return job.status is JobStatus.FAILED


def _not_retryable(job: CreatorJob) -> str:
    if job.status is JobStatus.SUCCEEDED:
        version = f" (candidate version {job.candidate_version})" if job.candidate_version else ""
        return (
            f"job {job.job_id} succeeded{version}; nothing to retry. To change the agent, edit the SOP and "
            f"submit it again: POST {API_BASE}/agents/{job.agent_id}/sop"
        )
    return (
        f"job {job.job_id} is {job.status.value}; only a failed job can be retried. Follow it at {job_path(job.job_id)}"
    )


def _error_view(error: JobError | None) -> CreatorErrorView | None:
    if error is None:
        return None
    return CreatorErrorView(
        stage=error.stage, message=error.message, next_step=error.next_step, retryable=error.retryable
    )


def _stage_view(record: StageRecord) -> CreatorStageView:
    return CreatorStageView(
        stage=record.stage,
        attempt=record.attempt,
        cycle=record.cycle,
        status=record.status,
        started_at=record.started_at,
        finished_at=record.finished_at,
        model_id=record.model_id,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cost_usd=round(record.cost_usd, 6),
        error=record.error,
        output=record.output,
        output_in_report_only=record.output is None and record.output_key is not None,
    )


def _candidate(job: CreatorJob) -> CandidateVersionView | None:
    if job.candidate_version is None:
        return None
    versions = f"{API_BASE}/agents/{job.agent_id}/versions/{job.candidate_version}"
    return CandidateVersionView(version=job.candidate_version, diff=f"{versions}/diff", publish=f"{versions}/publish")
