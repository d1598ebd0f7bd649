"""Starting an AgentCreator job from the vendor API without waiting for it: the `CreatorJobLauncher` port, the
request it sends, and an in-process launcher for local runs and tests.

The pipeline takes minutes (several model calls per stage); an API Gateway request has 29 s. So the vendor API
only *launches* a job: deployed, `AgentCoreCreatorLauncher` (`oratio.creator_launch.adapters.agentcore`) invokes the
AgentCreator runtime, which accepts the request at once and runs the job in the background; locally,
`InProcessLauncher` hands the request to a runner in the same process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent_creator.jobs import JOB_ID_PATTERN, StageName
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.observability import logger

# The job store's environment, the same names for the vendor API and the AgentCreator runtime.
CREATOR_JOBS_TABLE_ENV_VAR = "ORATIO_TABLE_CREATOR_JOBS"
ARTIFACT_BUCKET_ENV_VAR = "ORATIO_ARTIFACT_BUCKET"


class LaunchAction(StrEnum):
    RUN = "run"
    RETRY = "retry"


class LaunchRequest(BaseModel):
    """What the AgentCreator runtime is asked to do: run a queued job, or retry a failed one from a stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: LaunchAction
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    from_stage: StageName | None = Field(default=None, description="retry only: the stage to start again from")


class LaunchAccepted(BaseModel):
    """The runtime's answer: it took the job and runs it in the background."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    accepted: bool = True


class LaunchError(Exception):
    """The job could not be handed to the AgentCreator runtime (the job stays queued; the launch can be retried)."""


class CreatorJobLauncher(Protocol):
    def launch(self, request: LaunchRequest) -> None:
        """Hand the request over and return without waiting for the job; raises `LaunchError` when nobody took it."""
        ...


JobRunner = Callable[[LaunchRequest], object]


class InProcessLauncher:
    """`CreatorJobLauncher` in the same process (local mode, tests). `background=False` runs the job before
    `launch` returns, so a test or the demo reads a finished job deterministically; `background=True` runs it
    on a daemon thread, as the runtime does. A failing job is recorded by the pipeline itself; an exception
    that escapes the runner is logged, never raised into the request that launched it. Whoever owns the
    launcher calls `wait()` before it takes down what the jobs write to (a local server stopping, a test's
    local AWS), so no job outlives it and writes into what comes next."""

    def __init__(self, runner: JobRunner, *, background: bool = False) -> None:
        self._runner = runner
        self._background = background
        self.launched: list[LaunchRequest] = []
        self._running: list[threading.Thread] = []

    def launch(self, request: LaunchRequest) -> None:
        self.launched.append(request)
        if self._background:
            job = threading.Thread(target=self._run, args=(request,), name=f"creator-{request.job_id}", daemon=True)
            self._running.append(job)
            job.start()
        else:
            self._run(request)

    def wait(self, timeout_seconds: float = 120.0) -> list[str]:
        """Wait for the background jobs launched so far; the names of any still running after `timeout_seconds`."""
        deadline = time.monotonic() + timeout_seconds
        for job in self._running:
            job.join(max(0.0, deadline - time.monotonic()))
        self._running = [job for job in self._running if job.is_alive()]
        return [job.name for job in self._running]

    def _run(self, request: LaunchRequest) -> None:
        try:
            self._runner(request)
        except Exception:
            logger.exception("AgentCreator job ended with an error", extra={"job_id": request.job_id})
