"""The AgentCreator pipeline end to end, every path deterministic: the local creator model answers each stage
unless the scripted model overrides it, the gate runs the tenant agent on the local model."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from oratio.agent_creator.jobs import JobStatus, StageName, StageStatus, retry_job, run_job
from oratio.agent_creator.model_port import StageModelThrottledError, StageRequest
from oratio.agent_creator.outputs import (
    GeneratedCode,
    JobReport,
    ModelCodeReview,
    Plan,
    RequirementList,
    RequirementVerdict,
    ReviewVerdict,
    TestScript,
    TestScripts,
)
from oratio.agent_creator.pipeline import CreatorSettings
from oratio.agent_definitions.versions import VersionSource
from oratio_local.creator_model import LocalCreatorModel
from tests.unit.agent_creator_support import AGENT_ID, harness, tenant


def _revise(request: StageRequest) -> ReviewVerdict:
    first = request.inputs["requirements"]["requirements"][0]["id"]
    return ReviewVerdict(cycle=1, overall="revise", per_requirement=(
        RequirementVerdict(requirement_id=first, verdict="needs_change", reasons=("say the greeting word for word",)),
    ))  # fmt: skip


@pytest.mark.parametrize("tenant_name", ["cozy-comfort", "bright-smile-dental"])
def test_an_sop_approved_at_once_becomes_an_unpublished_version_with_its_provenance(tenant_name: str) -> None:
    h = harness(tenant_name)

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.candidate_version == 1
    version = h.versions.store.get(job.vendor_id, AGENT_ID, 1)
    assert version is not None
    assert version.source is VersionSource.AGENT_CREATOR
    assert version.provenance is not None
    assert version.provenance.job_id == job.job_id
    assert version.provenance.sop_sha256 == h.job.sop_sha256
    assert version.provenance.model_ids == ("local-rules",)
    assert version.provenance.verdicts == ("cycle 1: approve (0 change(s) asked)",)
    # never published: nothing points at it
    assert asyncio.run(h.versions.store.pointer(job.tenant_id, AGENT_ID)) is None
    prefix = f"agent-creator/{job.tenant_id}/{AGENT_ID}/{job.job_id}/"
    assert {f"{prefix}agent.py", f"{prefix}manifest.json"} <= set(h.artifacts.objects)
    manifest = json.loads(h.artifacts.get(f"{prefix}manifest.json"))
    assert manifest["sop_sha256"] == h.job.sop_sha256
    assert manifest["candidate_version"] == 1
    assert all(f"{prefix}{test}" in h.artifacts.objects for test in manifest["tests"])
    report = JobReport.model_validate_json(h.store.get_output(job.report_key or ""))
    assert report.uncovered == ()
    assert report.approved_plan
    assert all(t.plan_elements and t.definition_fields and t.test_scripts and t.gate == "passed" for t in report.traces)
    stages = [r.stage for r in h.store.get_job(job.tenant_id, job.job_id).stages]
    assert stages == list(StageName)  # one record per stage, in pipeline order


def test_the_report_traces_a_policy_to_its_fact_field_and_test() -> None:
    h = harness()
    job = run_job(h.job.job_id, deps=h.deps)
    report = JobReport.model_validate_json(h.store.get_output(job.report_key or ""))
    returns = next(t for t in report.traces if t.text.startswith("Returns:"))
    assert returns.requirement_id == "R-policy-01"
    assert returns.plan_elements == ("fact returns_policy",)
    assert returns.definition_fields == ("character_config.knowledge_base.returns_policy",)
    assert returns.test_scripts == ("r-policy-01",)


def test_each_stage_costs_are_recorded_and_charged_to_the_tenant_budget() -> None:
    h = harness(settings=CreatorSettings(default_model="claude-haiku-4-5"))
    h.model.fallback = None
    local = LocalCreatorModel(tenant())
    h.model.script = {stage: [lambda r, s=stage: local.answer(r, _TYPES[s]).output] * 3 for stage in _TYPES}

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.SUCCEEDED, job.error
    records = [r for r in h.store.get_job(job.tenant_id, job.job_id).stages if r.model_id]
    assert records
    assert all(r.model_id == "claude-haiku-4-5" and r.input_tokens > 0 and r.cost_usd > 0 for r in records)
    assert job.cost_usd == pytest.approx(sum(r.cost_usd for r in records), rel=1e-6)
    charged = asyncio.run(h.budget.month_to_date_usd(job.tenant_id, job.updated_at))
    assert charged == pytest.approx(job.cost_usd, rel=1e-6)


def test_a_plan_approved_after_a_revision_keeps_both_verdicts_and_the_drafter_sees_the_review() -> None:
    h = harness(script={StageName.PLAN_REVIEWER: [_revise]})

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.SUCCEEDED, job.error
    records = [r for r in h.store.get_job(job.tenant_id, job.job_id).stages if r.stage is StageName.PLAN_REVIEWER]
    assert [r.output["overall"] for r in records if r.output] == ["revise", "approve"]
    second_draft = [r for r in h.model.requests if r.stage is StageName.PLAN_DRAFTER][1]
    assert second_draft.inputs["review"]["overall"] == "revise"
    assert h.versions.store.get(job.vendor_id, AGENT_ID, 1).provenance.verdicts[0].startswith("cycle 1: revise")  # type: ignore[union-attr]


def test_a_plan_never_approved_gives_up_at_the_cap_and_writes_nothing() -> None:
    h = harness(script={StageName.PLAN_REVIEWER: [_revise] * 5}, settings=CreatorSettings(max_review_cycles=2))

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.FAILED
    assert job.failed_stage is StageName.PLAN_REVIEWER
    assert job.error is not None
    assert "2 review cycles" in job.error.message
    assert "R-tone-01" in job.error.message
    assert "SOP" in job.error.next_step
    assert h.model.stages_asked().count(StageName.PLAN_REVIEWER) == 2
    assert h.versions_written() == []
    assert h.artifacts.objects == {}


def test_generated_code_the_static_checks_reject_is_never_reviewed_by_the_model_nor_written() -> None:
    bad = GeneratedCode(agent_py="import os\nSPEC = os.environ\n")
    h = harness(script={StageName.CODE_GENERATOR: [bad]})

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.FAILED
    assert job.failed_stage is StageName.CODE_REVIEWER
    record = h.store.get_job(job.tenant_id, job.job_id).latest(StageName.CODE_REVIEWER)
    assert record is not None
    assert record.status is StageStatus.FAILED
    assert {f["rule"] for f in record.output["static_findings"]} >= {"imports", "forbidden_name"}  # type: ignore[index]
    assert StageName.CODE_REVIEWER not in h.model.stages_asked()  # the model review never ran
    assert h.versions_written() == []


def test_a_model_code_review_that_rejects_stops_the_job() -> None:
    h = harness(script={StageName.CODE_REVIEWER: [ModelCodeReview(verdict="reject", reasons=("greeting missing",))]})
    job = run_job(h.job.job_id, deps=h.deps)
    assert job.failed_stage is StageName.CODE_REVIEWER
    assert job.error is not None
    assert "greeting missing" in job.error.message
    assert h.versions_written() == []


def _failing_tests(request: StageRequest) -> TestScripts:
    ids = [r["id"] for r in request.inputs["requirements"]["requirements"]]
    body = {"name": "returns", "tenant": request.inputs["tenant_id"], "agent": AGENT_ID, "at": "2025-01-08T11:00:00Z",
            "turns": [{"say": "What is your returns policy?", "expect": {"reply_contains": ["90 days"]}}]}  # fmt: skip
    return TestScripts(scripts=(TestScript(name="returns", covers=tuple(ids), yaml=yaml.safe_dump(body)),))


def test_a_candidate_that_fails_its_tests_is_not_written_and_the_report_names_the_failure() -> None:
    h = harness(script={StageName.TEST_WRITER: [_failing_tests]})

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.FAILED
    assert job.failed_stage is StageName.GATE
    assert h.versions_written() == []
    assert h.artifacts.objects == {}
    report = JobReport.model_validate_json(h.store.get_output(job.report_key or ""))
    assert [f.name for f in report.gate_failures] == ["returns"]
    assert "90 days" in report.gate_failures[0].failure
    assert "30-day returns" in report.gate_failures[0].failure
    assert all(t.gate == "failed" for t in report.traces)


def test_a_job_that_failed_at_a_stage_is_retried_from_that_stage_reusing_earlier_outputs() -> None:
    h = harness(script={StageName.CODE_GENERATOR: [StageModelThrottledError("throttled")]})

    failed = run_job(h.job.job_id, deps=h.deps)
    assert failed.status is JobStatus.FAILED
    assert failed.failed_stage is StageName.CODE_GENERATOR
    assert failed.error is not None
    assert failed.error.retryable
    assert "busy" in failed.error.message
    asked_before = len(h.model.requests)

    done = retry_job(h.job.job_id, deps=h.deps)

    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2
    assert done.candidate_version == 1
    retried = [r.stage for r in h.model.requests[asked_before:]]
    assert retried[0] is StageName.CODE_GENERATOR
    assert StageName.SOP_PARSER not in retried
    records = [r for r in h.store.get_job(done.tenant_id, done.job_id).stages if r.stage is StageName.CODE_GENERATOR]
    assert [r.status for r in records] == [StageStatus.FAILED, StageStatus.SUCCEEDED]


def test_a_failed_job_the_api_claimed_for_a_retry_runs_once_from_its_failed_stage() -> None:
    from oratio.agent_creator.jobs import JobStatusChangedError

    h = harness(script={StageName.CODE_GENERATOR: [StageModelThrottledError("throttled")]})
    failed = run_job(h.job.job_id, deps=h.deps)
    claimed = failed.touched(failed.updated_at, status=JobStatus.QUEUED)
    h.store.replace_job_if(claimed, status_was=JobStatus.FAILED)  # what POST .../retry writes
    with pytest.raises(JobStatusChangedError, match="no longer failed"):
        h.store.replace_job_if(claimed, status_was=JobStatus.FAILED)  # a second retry loses

    done = retry_job(h.job.job_id, deps=h.deps)

    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2


def test_a_succeeded_job_cannot_be_retried_and_a_queued_one_runs_once() -> None:
    h = harness()
    run_job(h.job.job_id, deps=h.deps)
    with pytest.raises(ValueError, match="only a failed job"):
        retry_job(h.job.job_id, deps=h.deps)
    with pytest.raises(ValueError, match="only a queued job"):
        run_job(h.job.job_id, deps=h.deps)


def test_an_exhausted_budget_stops_the_job_before_any_model_call() -> None:
    h = harness()
    config = h.deps.tenant
    asyncio.run(h.budget.add(config.tenant_id, h.job.created_at, "model", "earlier", config.agent.monthly_budget_usd))

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.failed_stage is StageName.SOP_PARSER
    assert job.error is not None
    assert "budget" in job.error.message
    assert h.model.requests == []


_TYPES = {
    StageName.SOP_PARSER: RequirementList,
    StageName.PLAN_DRAFTER: Plan,
    StageName.PLAN_REVIEWER: ReviewVerdict,
    StageName.CODE_GENERATOR: GeneratedCode,
    StageName.CODE_REVIEWER: ModelCodeReview,
    StageName.TEST_WRITER: TestScripts,
}


def test_an_sop_the_local_stage_model_finds_no_requirement_in_fails_its_first_stage_saying_what_to_add() -> None:
    h = harness(sop_text=b"Please be nice to callers and answer what they ask.\n")

    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.FAILED
    assert job.failed_stage is StageName.SOP_PARSER
    assert job.error is not None
    assert "no requirement was found in the SOP" in job.error.message
    assert "## Policies" in job.error.message
