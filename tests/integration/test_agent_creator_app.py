"""The AgentCreator runtime app in process (httpx's ASGI transport; nothing listens on a socket): a launch is
answered at once and the job runs in the background through the real pipeline with the local stage model;
/ping says HealthyBusy while it runs; bad launches are 400s naming the problem."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentcore.agent_creator import app as app_module
from agentcore.agent_creator import wiring
from oratio.agent_creator.jobs import CreatorJob, InMemoryJobStore, JobStatus, submit_sop
from oratio.config.tenant import load_tenant_file
from oratio.creator_launch import LaunchAction, LaunchRequest

REPO = Path(__file__).resolve().parents[2]
TENANT = load_tenant_file(REPO / "tenants" / "cozy-comfort.yaml")
SOP = (REPO / "tenants" / "sops" / "cozy-comfort.md").read_bytes()


def post(body: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app_module.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://creator") as http:
            return await http.post("/invocations", json=body)

    return asyncio.run(run())


def ping() -> str:
    async def run() -> str:
        transport = httpx.ASGITransport(app=app_module.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://creator") as http:
            status: str = (await http.get("/ping")).json()["status"]
            return status

    return asyncio.run(run())


@pytest.fixture
def store() -> Iterator[InMemoryJobStore]:
    jobs = InMemoryJobStore()
    settings = wiring.CreatorRuntimeSettings(local_mode=True, tenants_dir=REPO / "tenants")
    runner = wiring.JobRunner({TENANT.tenant_id: TENANT}, wiring.local_deps_factory(settings, jobs))
    app_module.set_runner(runner)
    yield jobs
    assert app_module.wait_idle(60)
    app_module.set_runner(None, factory=wiring.build_runner)


def test_a_launch_is_accepted_at_once_and_the_job_runs_to_a_candidate_version(store: InMemoryJobStore) -> None:
    job = submit_sop(store, tenant_id=TENANT.tenant_id, agent_id="agt-front-desk", body=SOP)

    reply = post({"action": "run", "tenant_id": TENANT.tenant_id, "job_id": job.job_id})

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"job_id": job.job_id, "accepted": True}
    assert app_module.wait_idle(60)
    ended = store.get_job(TENANT.tenant_id, job.job_id)
    assert ended.job.status is JobStatus.SUCCEEDED, ended.job.error
    assert ended.job.candidate_version is not None
    assert {record.stage.value for record in ended.stages} >= {"sop_parser", "gate", "s3_writer"}


class BlockingRunner(wiring.JobRunner):
    def __init__(self) -> None:
        super().__init__({TENANT.tenant_id: TENANT}, lambda tenant: None)  # type: ignore[arg-type, return-value]
        self.release = threading.Event()
        self.runs: list[LaunchRequest] = []

    def __call__(self, request: LaunchRequest) -> CreatorJob:
        self.runs.append(request)
        self.release.wait(10)
        raise RuntimeError("stopped by the test")


@pytest.fixture
def blocking() -> Iterator[BlockingRunner]:
    runner = BlockingRunner()
    app_module.set_runner(runner)
    yield runner
    runner.release.set()
    assert app_module.wait_idle(10)
    app_module.set_runner(None, factory=wiring.build_runner)


def test_ping_is_busy_while_a_job_runs_and_a_second_launch_of_it_is_ignored(blocking: BlockingRunner) -> None:
    launch = {"action": "retry", "tenant_id": TENANT.tenant_id, "job_id": "job-0123456789abcdef", "from_stage": "gate"}
    assert ping() == "Healthy"

    first, second = post(launch), post(launch)

    assert (first.status_code, second.status_code) == (200, 200)
    assert ping() == "HealthyBusy"
    blocking.release.set()
    assert app_module.wait_idle(10)
    assert ping() == "Healthy"
    assert blocking.runs == [LaunchRequest(action=LaunchAction.RETRY, tenant_id=TENANT.tenant_id,
                                           job_id="job-0123456789abcdef", from_stage="gate")]  # fmt: skip


def test_a_launch_that_is_not_a_launch_request_is_a_400_naming_the_field(blocking: BlockingRunner) -> None:
    reply = post({"action": "explode", "tenant_id": TENANT.tenant_id, "job_id": "job-0123456789abcdef"})

    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"
    assert "action" in reply.json()["message"]
    assert blocking.runs == []


def test_a_tenant_missing_from_the_bundle_is_a_400_saying_to_redeploy(blocking: BlockingRunner) -> None:
    reply = post({"action": "run", "tenant_id": "not-bundled", "job_id": "job-0123456789abcdef"})

    assert reply.status_code == 400
    assert "redeploy the platform stack" in reply.json()["message"]


def test_deployed_settings_name_every_missing_variable() -> None:
    with pytest.raises(ValueError, match=r"ORATIO_TABLE_CREATOR_JOBS.*ORATIO_ARTIFACT_BUCKET"):
        wiring.CreatorRuntimeSettings.from_environ({})


def test_local_settings_need_no_aws_resources_and_listen_on_loopback() -> None:
    settings = wiring.CreatorRuntimeSettings.from_environ({"ORATIO_LOCAL_MODE": "1"})

    assert settings.local_mode
    assert wiring.ServerSettings.from_environ({}).host == "127.0.0.1"
    assert wiring.build_runner(settings).knows(TENANT.tenant_id)
