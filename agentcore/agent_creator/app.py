"""The AgentCreator runtime's AgentCore Runtime entrypoint: `POST /invocations` takes a `LaunchRequest` (run a
queued job, or retry a failed one from a stage), answers `LaunchAccepted` at once and runs the job on a
background thread; `GET /ping` says HealthyBusy while any job runs, so AgentCore keeps the session alive for
the minutes a job takes (an idle session is ended after 15 minutes).

A payload that is not a launch request gets a 400 naming the failing fields; a tenant missing from the bundle a
400 saying to redeploy; a runtime that cannot build its adapters a 503. What happens inside a job — every stage,
its failure and what to do next — the pipeline records in the job store, where the vendor API reads it.
The runner is built on the first invocation (`wiring.build_runner`); tests inject their own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from bedrock_agentcore.runtime import BedrockAgentCoreApp, PingStatus, RequestContext
from pydantic import ValidationError
from starlette.responses import JSONResponse

from agentcore.agent_creator import wiring
from agentcore.validation import field_problems
from oratio.creator_launch import LaunchAccepted, LaunchRequest

logger = logging.getLogger("oratio.agent_creator")

RunnerFactory = Callable[[], wiring.JobRunner]


class _RunnerSlot:
    """Holds the runner, built once on first use; a failed build is retried on the next invocation."""

    def __init__(self, factory: RunnerFactory) -> None:
        self._factory = factory
        self._runner: wiring.JobRunner | None = None
        self._lock = threading.Lock()

    def configure(self, runner: wiring.JobRunner | None, factory: RunnerFactory | None = None) -> None:
        with self._lock:
            self._runner = runner
            if factory is not None:
                self._factory = factory

    def get(self) -> wiring.JobRunner:
        with self._lock:
            if self._runner is None:
                self._runner = self._factory()
            return self._runner


class _JobsInFlight:
    """The jobs running now (by id), so /ping reports HealthyBusy and a second launch of a running job is ignored."""

    def __init__(self) -> None:
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self.finished = threading.Condition(self._lock)

    def start(self, job_id: str) -> bool:
        with self._lock:
            if job_id in self._running:
                return False
            self._running.add(job_id)
            return True

    def done(self, job_id: str) -> None:
        with self._lock:
            self._running.discard(job_id)
            self.finished.notify_all()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._running)

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            return self.finished.wait_for(lambda: not self._running, timeout)


app = BedrockAgentCoreApp()
_runner = _RunnerSlot(wiring.build_runner)
_jobs = _JobsInFlight()


def set_runner(runner: wiring.JobRunner | None, *, factory: RunnerFactory | None = None) -> None:
    """Use `runner` for every job (tests, local wiring); `None` rebuilds from `factory` on next use."""
    _runner.configure(runner, factory)


def wait_idle(timeout: float) -> bool:
    """Wait until no job runs (tests and the local demo); False when `timeout` seconds passed first."""
    return _jobs.wait_idle(timeout)


@app.ping
def ping() -> PingStatus:
    return PingStatus.HEALTHY_BUSY if _jobs.count else PingStatus.HEALTHY


@app.entrypoint
def invoke(payload: Any, context: RequestContext) -> JSONResponse | dict[str, Any]:
    """Take one launch request; the job runs after this answer."""
    try:
        request = LaunchRequest.model_validate(payload)
    except ValidationError as e:
        logger.warning("rejected launch: %s", field_problems(e))
        return _error(400, "invalid_request", f"Invalid launch request: {field_problems(e)}")
    try:
        runner = _runner.get()
    except Exception:
        logger.exception("could not build the AgentCreator runner")
        return _error(503, "creator_unavailable", "AgentCreator could not start; the job stays as it was")
    if not runner.knows(request.tenant_id):
        return _error(
            400,
            "unknown_tenant",
            f"tenant {request.tenant_id!r} is not in this runtime's bundle; redeploy the platform stack",
        )
    if _jobs.start(request.job_id):
        threading.Thread(target=_run, args=(runner, request), name=f"job-{request.job_id}", daemon=True).start()
    else:
        logger.info("job %s is already running; launch ignored", request.job_id)
    return LaunchAccepted(job_id=request.job_id).model_dump(mode="json")


def _run(runner: wiring.JobRunner, request: LaunchRequest) -> None:
    try:
        job = runner(request)
        logger.info("job %s ended %s", request.job_id, job.status.value)
    except Exception:
        # The pipeline records stage failures itself; this is a failure around it (store unreachable, a bug).
        logger.exception("job %s stopped outside the pipeline's own error handling", request.job_id)
    finally:
        _jobs.done(request.job_id)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def serve(settings: wiring.ServerSettings | None = None) -> None:
    """Run the app with uvicorn on `settings.host` (127.0.0.1 unless the deployment sets 0.0.0.0)."""
    settings = settings or wiring.ServerSettings.from_environ()
    app.run(port=settings.port, host=settings.host)
