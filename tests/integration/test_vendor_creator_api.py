"""The vendor API's AgentCreator routes over the real handler on moto: submitting an SOP (text, Markdown, JSON; the
bad ones refused with a message saying what to fix), following a job, retrying it from the failed stage, and the
audit trail of starting a job and approving the version it wrote."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

from oratio.agent_creator.jobs import (
    MAX_SOP_BYTES,
    JobError,
    JobStatus,
    StageName,
    StageRecord,
    StageStatus,
)
from oratio.agent_definitions.versions import DefinitionVersion, VersionSource
from oratio.creator_launch import LaunchAction, LaunchError, LaunchRequest
from oratio_local.events import api_gateway_event
from tests.vendor_api_harness import START, VENDOR_A, VENDOR_B, VendorApi, vendor_api

__all__ = ["vendor_api"]  # the fixture

SOP = "# Cozy Comfort phone line\n\n- Greet the caller by the shop's name.\n- Returns: 30 days with a receipt.\n"


def submit(api: VendorApi, agent_id: str, text: str | None = SOP, *, media: str = "text/markdown", **kw: Any) -> Any:
    return api.call("POST", f"/api/v1/agents/{agent_id}/sop", raw_body=text, headers={"Content-Type": media}, **kw)


def audit_actions(api: VendorApi, vendor: str = VENDOR_A) -> list[str]:
    reply = api.call("GET", "/api/v1/audit", vendor=vendor)
    assert reply.status == 200, reply.body
    return [entry["action"] for entry in reply.body["items"]]


# ------------------------------------------------------------------------------------------ submit
def test_a_markdown_sop_answers_202_with_the_job_and_its_location_and_launches_the_job(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])

    reply = submit(vendor_api, agent["id"])

    assert reply.status == 202, reply.body
    job_id = reply.body["job_id"]
    assert reply.headers["Location"] == f"/api/v1/creator-jobs/{job_id}" == reply.body["location"]
    assert reply.body["status"] == "queued"
    assert vendor_api.creator_launcher.launched == [
        LaunchRequest(action=LaunchAction.RUN, tenant_id=VENDOR_A, job_id=job_id)
    ]
    job = vendor_api.creator_jobs.get_job(VENDOR_A, job_id).job
    assert job.agent_id == agent["id"]
    assert vendor_api.creator_jobs.get_output(job.sop_key).decode() == SOP
    assert "agentcreator.start" in audit_actions(vendor_api)


def test_text_plain_and_json_bodies_keep_the_same_sop(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])

    as_text = submit(vendor_api, agent["id"], media="text/plain; charset=utf-8")
    as_json = vendor_api.call("POST", f"/api/v1/agents/{agent['id']}/sop", body={"sop": SOP})

    assert (as_text.status, as_json.status) == (202, 202), (as_text.body, as_json.body)
    hashes = {vendor_api.creator_jobs.get_job(VENDOR_A, r.body["job_id"]).job.sop_sha256 for r in (as_text, as_json)}
    assert len(hashes) == 1


def test_an_sop_at_the_limit_is_taken_and_one_byte_more_is_a_413_naming_the_limit(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])
    at_limit = "a" * MAX_SOP_BYTES

    taken = submit(vendor_api, agent["id"], at_limit)
    refused = submit(vendor_api, agent["id"], at_limit + "é")

    assert taken.status == 202, taken.body
    assert refused.status == 413, refused.body
    assert refused.body["error"] == "sop_too_large"
    assert "262,144 bytes" in refused.body["message"]


def test_an_oversized_sop_in_json_is_a_413_too(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])

    reply = vendor_api.call("POST", f"/api/v1/agents/{agent['id']}/sop", body={"sop": "b" * (MAX_SOP_BYTES + 1)})

    assert reply.status == 413, reply.body
    assert reply.body["error"] == "sop_too_large"


def test_empty_binary_and_non_utf8_sops_are_400s_saying_what_to_send(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])
    path = f"/api/v1/agents/{agent['id']}/sop"
    # API Gateway passes text/* bodies base64-encoded (binary media types), so the bytes arrive as sent.
    latin1 = api_gateway_event("POST", path, raw_body=base64.b64encode("Café hours".encode("latin-1")).decode())
    latin1 |= {"isBase64Encoded": True, "headers": {**latin1["headers"], "Content-Type": "text/plain"}}

    empty = submit(vendor_api, agent["id"], "  \n\t ")
    binary = submit(vendor_api, agent["id"], "PK\x03\x04\x00\x00 zip")
    not_utf8 = vendor_api.send(latin1)

    for reply, words in ((empty, "empty"), (binary, "binary"), (not_utf8, "UTF-8")):
        assert reply.status == 400, reply.body
        assert reply.body["error"] == "invalid_sop"
        assert words in reply.body["message"]
    assert vendor_api.creator_launcher.launched == []


def test_an_sop_for_an_unknown_or_another_vendors_agent_is_a_404(vendor_api: VendorApi) -> None:
    theirs = vendor_api.create(vendor=VENDOR_B, channels=["chat"])

    unknown = submit(vendor_api, "agt-nope")
    other = submit(vendor_api, theirs["id"])

    assert (unknown.status, other.status) == (404, 404)
    assert vendor_api.creator_launcher.launched == []


def test_a_media_type_the_sop_route_does_not_take_is_a_415_listing_the_ones_it_does(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])

    reply = submit(vendor_api, agent["id"], media="application/pdf")

    assert reply.status == 415, reply.body
    assert "text/plain, text/markdown, application/json" in reply.body["message"]


def test_the_sop_media_types_stay_refused_on_every_other_route(vendor_api: VendorApi) -> None:
    reply = vendor_api.call("POST", "/api/v1/agents", raw_body=SOP, headers={"Content-Type": "text/markdown"})

    assert reply.status == 415, reply.body


# ---------------------------------------------------------------------------------------- follow
def _stage(job_id: str, stage: StageName, status: StageStatus, **kw: Any) -> StageRecord:
    return StageRecord(job_id=job_id, stage=stage, attempt=1, status=status, started_at=START, finished_at=START, **kw)


def _job(api: VendorApi) -> tuple[str, str]:
    agent = api.create(channels=["chat"])
    reply = submit(api, agent["id"])
    assert reply.status == 202, reply.body
    return agent["id"], reply.body["job_id"]


def test_a_job_reads_stage_by_stage_with_its_report_and_candidate_version(vendor_api: VendorApi) -> None:
    agent_id, job_id = _job(vendor_api)
    store = vendor_api.creator_jobs
    requirements = {"requirements": [{"id": "R1", "text": "Greet the caller by the shop's name."}]}
    store.save_stage(
        VENDOR_A,
        _stage(
            job_id, StageName.SOP_PARSER, StageStatus.SUCCEEDED, output=requirements, model_id="local", input_tokens=120
        ),
    )
    store.save_stage(VENDOR_A, _stage(job_id, StageName.PLAN_DRAFTER, StageStatus.SUCCEEDED, output_key="k/plan.json"))
    store.put_output("k/report.json", json.dumps({"coverage": {"R1": ["role:greeter"]}, "uncovered": []}).encode())
    job = store.get_job(VENDOR_A, job_id).job
    store.update_job(
        job.touched(
            START + timedelta(minutes=2), status=JobStatus.SUCCEEDED, candidate_version=2, report_key="k/report.json"
        )
    )

    reply = vendor_api.call("GET", f"/api/v1/creator-jobs/{job_id}")

    assert reply.status == 200, reply.body
    body = reply.body
    assert [s["stage"] for s in body["stages"]] == ["sop_parser", "plan_drafter"]
    assert body["stages"][0]["output"] == requirements
    assert body["stages"][0]["input_tokens"] == 120
    assert body["stages"][1]["output_in_report_only"] is True
    assert body["report"] == {"coverage": {"R1": ["role:greeter"]}, "uncovered": []}
    assert body["candidate"] == {
        "version": 2,
        "diff": f"/api/v1/agents/{agent_id}/versions/2/diff",
        "publish": f"/api/v1/agents/{agent_id}/versions/2/publish",
    }
    assert body["retry"] is None


def test_another_vendors_job_is_a_404_like_a_missing_one(vendor_api: VendorApi) -> None:
    _, job_id = _job(vendor_api)

    theirs = vendor_api.call("GET", f"/api/v1/creator-jobs/{job_id}", vendor=VENDOR_B)
    missing = vendor_api.call("GET", "/api/v1/creator-jobs/job-00000000deadbeef")
    their_retry = vendor_api.call("POST", f"/api/v1/creator-jobs/{job_id}/retry", vendor=VENDOR_B)

    assert (theirs.status, missing.status, their_retry.status) == (404, 404, 404)
    assert theirs.body == {"error": "not_found", "message": f"creator job {job_id!r} was not found"}


# ----------------------------------------------------------------------------------------- retry
def test_a_failed_job_is_retried_from_the_stage_it_failed_at(vendor_api: VendorApi) -> None:
    _, job_id = _job(vendor_api)
    store = vendor_api.creator_jobs
    job = store.get_job(VENDOR_A, job_id).job
    error = JobError(stage=StageName.GATE, message="2 replay scripts failed", next_step="read the gate", retryable=True)
    store.update_job(job.touched(START, status=JobStatus.FAILED, failed_stage=StageName.GATE, error=error))

    shown = vendor_api.call("GET", f"/api/v1/creator-jobs/{job_id}")
    reply = vendor_api.call("POST", f"/api/v1/creator-jobs/{job_id}/retry")

    assert shown.body["retry"] == f"/api/v1/creator-jobs/{job_id}/retry"
    assert shown.body["error"]["next_step"] == "read the gate"
    assert reply.status == 202, reply.body
    assert reply.body["from_stage"] == "gate"
    assert reply.headers["Location"] == f"/api/v1/creator-jobs/{job_id}"
    assert vendor_api.creator_launcher.launched[-1] == LaunchRequest(
        action=LaunchAction.RETRY, tenant_id=VENDOR_A, job_id=job_id, from_stage=StageName.GATE
    )
    assert "agentcreator.retry" in audit_actions(vendor_api)


def test_a_job_that_did_not_fail_is_not_retried_and_the_409_says_what_to_do(vendor_api: VendorApi) -> None:
    agent_id, job_id = _job(vendor_api)
    store = vendor_api.creator_jobs
    store.update_job(
        store.get_job(VENDOR_A, job_id).job.touched(START, status=JobStatus.SUCCEEDED, candidate_version=2)
    )

    reply = vendor_api.call("POST", f"/api/v1/creator-jobs/{job_id}/retry")

    assert reply.status == 409, reply.body
    assert reply.body["error"] == "job_not_retryable"
    assert f"/api/v1/agents/{agent_id}/sop" in reply.body["message"]
    assert len(vendor_api.creator_launcher.launched) == 1


def test_of_two_retries_sent_together_one_launches_and_the_other_is_a_409_over_dynamodb(
    vendor_api: VendorApi,
) -> None:
    from oratio.agent_creator.adapters.dynamodb_jobs import DynamoDBJobStore
    from oratio.agent_creator.adapters.s3_artifacts import S3Artifacts
    from oratio.agent_creator.jobs import JobView
    from oratio.vendors.creator import CreatorService

    class InterleavingStore(DynamoDBJobStore):
        """Runs `between` right after the next job read: a second request arriving between read and write."""

        between: Any = None

        def get_job(self, tenant_id: str, job_id: str) -> JobView:
            view = super().get_job(tenant_id, job_id)
            hook, self.between = self.between, None
            if hook is not None:
                hook()
            return view

    aws = vendor_api.aws
    aws["s3"].create_bucket(Bucket="oratio-test-artifacts")
    store = InterleavingStore(
        aws["tables"]["creator_jobs"], S3Artifacts("oratio-test-artifacts", client=aws["s3"]), client=aws["dynamodb"]
    )
    handler = vendor_api.handler
    service = CreatorService(agents=handler.service_factory().agents, versions=handler.service_factory().versions,
                             jobs=store, launcher=vendor_api.creator_launcher,
                             audit=handler.operations_service().record, clock=vendor_api.clock)  # fmt: skip
    handler.creator_factory = lambda: service
    agent = vendor_api.create(channels=["chat"])
    job_id = submit(vendor_api, agent["id"]).body["job_id"]
    job = store.get_job(VENDOR_A, job_id).job
    error = JobError(stage=StageName.GATE, message="2 replay scripts failed", next_step="read the gate", retryable=True)
    store.update_job(job.touched(START, status=JobStatus.FAILED, failed_stage=StageName.GATE, error=error))
    replies: list[Any] = []
    store.between = lambda: replies.append(vendor_api.call("POST", f"/api/v1/creator-jobs/{job_id}/retry"))

    replies.append(vendor_api.call("POST", f"/api/v1/creator-jobs/{job_id}/retry"))

    inner, outer = replies  # the inner request read, claimed and launched first; the outer one read "failed" too
    assert inner.status == 202, inner.body
    assert outer.status == 409, outer.body
    assert outer.body["error"] == "job_not_retryable"
    assert "already being retried" in outer.body["message"]
    assert f"/api/v1/creator-jobs/{job_id}" in outer.body["message"]
    retries = [r for r in vendor_api.creator_launcher.launched if r.action is LaunchAction.RETRY]
    assert len(retries) == 1
    assert store.get_job(VENDOR_A, job_id).job.status is JobStatus.QUEUED
    again = vendor_api.call("POST", f"/api/v1/creator-jobs/{job_id}/retry")  # queued now: nothing to retry
    assert again.status == 409
    assert "is queued" in again.body["message"]


def test_a_launch_nobody_took_is_a_503_and_the_kept_job_can_be_retried(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])
    launched: list[LaunchRequest] = []

    def unreachable(request: LaunchRequest) -> None:
        launched.append(request)
        if len(launched) == 1:
            raise LaunchError("the AgentCreator runtime could not be reached (EndpointConnectionError)")

    vendor_api.creator_launcher.launch = unreachable  # type: ignore[method-assign]

    refused = submit(vendor_api, agent["id"])
    job_id = launched[0].job_id
    shown = vendor_api.call("GET", f"/api/v1/creator-jobs/{job_id}")
    retried = vendor_api.call("POST", f"/api/v1/creator-jobs/{job_id}/retry")

    assert refused.status == 503, refused.body
    assert refused.headers["Retry-After"] == "30"
    assert job_id in refused.body["message"]
    assert "/retry" in refused.body["message"]
    assert shown.body["status"] == "failed"
    assert shown.body["error"]["retryable"] is True
    assert retried.status == 202, retried.body
    assert launched[1].from_stage is StageName.SOP_PARSER


# -------------------------------------------------------------------------------------- approval
def test_publishing_a_version_agentcreator_wrote_is_recorded_as_an_approval(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])
    service = vendor_api.handler.service_factory()
    record = service.agents.get(VENDOR_A, agent["id"])
    candidate = DefinitionVersion(
        vendor_id=VENDOR_A,
        agent_id=agent["id"],
        version=record.latest_version + 1,
        spec=record.spec().model_copy(update={"description": "written from the SOP"}),
        author="agentcreator:job-0123456789abcdef",
        note="AgentCreator job job-0123456789abcdef",
        source=VersionSource.AGENT_CREATOR,
        created_at=START,
    )
    # What AgentCreator's writer does: a new, unpublished version (the live one stays).
    updated = record.model_copy(update={"latest_version": candidate.version, "version": record.version + 1})
    service.agents.update(updated, expected_version=record.version, new_version=candidate)

    published = vendor_api.call("POST", f"/api/v1/agents/{agent['id']}/versions/{candidate.version}/publish")

    assert published.status == 200, published.body
    assert published.body["live_version"] == candidate.version
    assert audit_actions(vendor_api).count("agentcreator.approve") == 1


def _creator_candidate(api: VendorApi) -> tuple[str, int]:
    agent = api.create(channels=["chat"])
    service = api.handler.service_factory()
    record = service.agents.get(VENDOR_A, agent["id"])
    candidate = DefinitionVersion(
        vendor_id=VENDOR_A,
        agent_id=agent["id"],
        version=record.latest_version + 1,
        spec=record.spec(),
        author="agent-creator:job-0123456789abcdef",
        note="AgentCreator job",
        source=VersionSource.AGENT_CREATOR,
        created_at=START,
    )
    updated = record.model_copy(update={"latest_version": candidate.version, "version": record.version + 1})
    service.agents.update(updated, expected_version=record.version, new_version=candidate)
    return agent["id"], candidate.version


def test_a_publish_needs_no_agentcreator_runtime_and_survives_a_lost_audit_entry(vendor_api: VendorApi) -> None:
    def unconfigured() -> Any:
        raise ValueError("ORATIO_AGENT_CREATOR_RUNTIME_ARN is not set")

    vendor_api.handler.creator_factory = unconfigured
    agent_id, version = _creator_candidate(vendor_api)

    approved = vendor_api.call("POST", f"/api/v1/agents/{agent_id}/versions/{version}/publish")

    assert approved.status == 200, approved.body
    assert "agentcreator.approve" in audit_actions(vendor_api)

    def lost(*_: Any) -> None:
        raise RuntimeError("audit table unavailable")

    vendor_api.handler.creator_approvals = lost
    again = vendor_api.call("POST", f"/api/v1/agents/{agent_id}/versions/1/publish")

    assert again.status == 200, again.body


def test_publishing_a_vendors_own_version_is_no_agentcreator_approval(vendor_api: VendorApi) -> None:
    agent = vendor_api.create(channels=["chat"])

    vendor_api.call("POST", f"/api/v1/agents/{agent['id']}/versions/1/publish")

    assert "agentcreator.approve" not in audit_actions(vendor_api)


def test_a_published_creator_version_shows_as_the_agent_as_a_published_hand_written_one_does(
    vendor_api: VendorApi,
) -> None:
    from oratio.agent_definitions.versions import CreatorProvenance
    from oratio.vendors.creator_versions import RepositoryVersionWriter

    agent = vendor_api.provision(channels=["chat"])["agent_config"]  # active: an edit does not publish
    service = vendor_api.handler.service_factory()
    record = service.agents.get(VENDOR_A, agent["id"])
    written = record.spec().model_copy(update={"name": "Front desk (from the SOP)", "description": "SOP-written"})
    provenance = CreatorProvenance(job_id="job-0123456789abcdef", sop_sha256="0" * 64)

    number = RepositoryVersionWriter(service.agents).propose(
        VENDOR_A, agent["id"], written, note="AgentCreator job", provenance=provenance, at=START
    )
    published = vendor_api.call("POST", f"/api/v1/agents/{agent['id']}/versions/{number}/publish")
    shown = vendor_api.call("GET", f"/api/v1/agents/{agent['id']}")
    # The vendor's next edit starts from the newest version: it keeps what AgentCreator wrote.
    edited = vendor_api.call(
        "PUT", f"/api/v1/agents/{agent['id']}", body={"version": shown.body["version"], "description": "tweaked"}
    )
    newest = vendor_api.call("GET", f"/api/v1/agents/{agent['id']}/versions/{number + 1}")

    assert published.status == 200, published.body
    assert (shown.body["name"], shown.body["description"]) == ("Front desk (from the SOP)", "SOP-written")
    assert shown.body["live_version"] == shown.body["latest_version"] == number
    assert edited.status == 200, edited.body
    assert (newest.body["spec"]["name"], newest.body["spec"]["description"]) == ("Front desk (from the SOP)", "tweaked")

    # A hand-written version behaves the same way: written by an edit, shown once published.
    hand = vendor_api.provision(channels=["chat"], name="Other")["agent_config"]
    current = vendor_api.call("GET", f"/api/v1/agents/{hand['id']}").body
    vendor_api.call("PUT", f"/api/v1/agents/{hand['id']}", body={"version": current["version"], "name": "Renamed"})
    vendor_api.call("POST", f"/api/v1/agents/{hand['id']}/versions/{current['latest_version'] + 1}/publish")
    assert vendor_api.call("GET", f"/api/v1/agents/{hand['id']}").body["name"] == "Renamed"
