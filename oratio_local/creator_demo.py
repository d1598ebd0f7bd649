"""`make demo`'s AgentCreator step: a vendor submits its SOP through the vendor API and approves what comes back.

Everything goes through the vendor API handler as API Gateway would call it (local moto DynamoDB and S3 behind
it): `POST /agents/{id}/sop` (Markdown) → the job runs (the in-process launcher stands in for the AgentCreator
runtime on AgentCore, and the local rule-based stage model for Bedrock Converse) → `GET /creator-jobs/{id}` →
the candidate's diff against the live version → `POST .../versions/{n}/publish` (the approval) → the audit log.
Printed: the requirement list, the plan, the review verdicts, the definition diff against the tenant defaults
and the gate's replay results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oratio.agent_creator.jobs import StageName
from oratio.config import TenantConfig

ARTIFACT_BUCKET = "oratio-local-artifacts"
LOCAL_NUMBER = "+15550109999"
REPO = Path(__file__).resolve().parents[1]
SOPS_DIR = REPO / "tenants" / "sops"


@dataclass
class CreatorRun:
    sop: Path
    agent_id: str
    accepted: dict[str, Any]
    job: dict[str, Any]
    definition_diff: list[dict[str, Any]]
    version_diff: dict[str, Any] | None
    published: dict[str, Any] | None
    audit: list[str]


def sop_for(tenant: TenantConfig, sops_dir: Path = SOPS_DIR) -> Path | None:
    """The tenant's example SOP (`tenants/sops/<tenant id>.md`), if it ships one."""
    path = sops_dir / f"{tenant.tenant_id}.md"
    return path if path.is_file() else None


def play_agent_creator(tenant: TenantConfig, tenants_dir: Path, dynamodb: Any, sop: Path) -> CreatorRun:
    """Submit `sop` for a new agent of `tenant`, follow the job, diff and approve the candidate (local AWS)."""
    import boto3

    from agentcore.agent_creator import wiring
    from oratio.agent_creator.adapters.dynamodb_jobs import DynamoDBJobStore
    from oratio.agent_creator.adapters.s3_artifacts import S3Artifacts
    from oratio.agent_creator.pipeline import PipelineDeps
    from oratio.creator_launch import InProcessLauncher
    from oratio.tables import CREATOR_JOBS
    from oratio.vendors.creator import CreatorService
    from oratio.vendors.creator_versions import RepositoryVersionWriter
    from oratio_local.creator_gate import ReplayGate
    from oratio_local.creator_model import LocalCreatorModel
    from oratio_local.dynamodb import create_tables
    from oratio_local.vendor import LocalVendorApi, agent_request_for

    names = create_tables(dynamodb)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    api = LocalVendorApi(tenant, dynamodb, names, phone_number=LOCAL_NUMBER)
    handler: Any = api.handler  # the handler module: its factories are what tests and the local mode replace
    service = handler.service_factory()
    artifacts = S3Artifacts(ARTIFACT_BUCKET, client=s3)
    store = DynamoDBJobStore(names[CREATOR_JOBS.key], artifacts, client=dynamodb)
    writer = RepositoryVersionWriter(service.agents)

    def deps(for_tenant: TenantConfig) -> PipelineDeps:
        return PipelineDeps(tenant=for_tenant, store=store, model=LocalCreatorModel(for_tenant),
                            gate=ReplayGate(tenants_dir), artifacts=artifacts, versions=writer)  # fmt: skip

    runner = wiring.JobRunner({tenant.tenant_id: tenant}, deps)
    creator = CreatorService(
        agents=service.agents,
        versions=service.versions,
        jobs=store,
        launcher=InProcessLauncher(runner),
        audit=handler.operations_service().record,
        clock=handler.clock,
    )
    handler.creator_factory = lambda: creator

    # AgentCreator never publishes, whatever the agent's status: the candidate waits for the vendor's approval.
    agent = api.call("POST", "/api/v1/agents", agent_request_for(tenant))
    accepted = api.call(
        "POST",
        f"/api/v1/agents/{agent['id']}/sop",
        raw_body=sop.read_text(encoding="utf-8"),
        headers={"Content-Type": "text/markdown; charset=utf-8"},
    )
    job = api.call("GET", accepted["location"])
    candidate = job.get("candidate")
    version_diff = published = None
    if candidate:
        version_diff = api.call("GET", candidate["diff"])
        published = api.call("POST", candidate["publish"])
    audit = [entry["action"] for entry in api.call("GET", "/api/v1/audit")["items"]]
    return CreatorRun(sop, agent["id"], accepted, job, _defaults_diff(tenant, agent["id"], job), version_diff,
                      published, audit)  # fmt: skip


def _defaults_diff(tenant: TenantConfig, agent_id: str, job: dict[str, Any]) -> list[dict[str, Any]]:
    from oratio.agent_creator.pipeline import definition_diff
    from oratio.agent_definitions.spec import AgentSpec

    review = _output(job, StageName.CODE_REVIEWER)
    if not review or not review.get("spec"):
        return []
    return list(definition_diff(tenant, agent_id, AgentSpec.model_validate(review["spec"])))


def _output(job: dict[str, Any], stage: StageName) -> dict[str, Any] | None:
    records = [s for s in job["stages"] if s["stage"] == stage.value]
    output: dict[str, Any] | None = records[-1]["output"] if records else None
    return output


def print_creator_run(run: CreatorRun) -> None:
    from oratio.agent_creator.outputs import GateResult, Plan, RequirementList, ReviewVerdict

    job = run.job
    print(f"vendor: POST /api/v1/agents/{run.agent_id}/sop  ({run.sop.name}, text/markdown)")
    print(f"api:    202 job {run.accepted['job_id']}  Location: {run.accepted['location']}")
    print(f"job:    {job['status']} after {len(job['stages'])} stage attempts; cost ${job['cost_usd']:.4f}")
    requirements = _output(job, StageName.SOP_PARSER)
    if requirements:
        print("== Requirements (from the SOP, each with a stable id)")
        for r in RequirementList.model_validate(requirements).requirements:
            print(f"  {r.id:<16} line {r.source.start:<3} {r.text}")
    drafts = [s for s in job["stages"] if s["stage"] == StageName.PLAN_DRAFTER.value and s["output"]]
    if drafts:
        print("== Plan (each element cites the requirements it serves)")
        for name, serves in Plan.model_validate(drafts[-1]["output"]).elements():
            print(f"  {name:<48} serves {', '.join(serves)}")
    print("== Review verdicts")
    for record in job["stages"]:
        if record["stage"] == StageName.PLAN_REVIEWER.value and record["output"]:
            verdict = ReviewVerdict.model_validate(record["output"])
            asked = "; ".join(f"{c.requirement_id}: {' '.join(c.reasons)}" for c in verdict.changes_asked())
            print(f"  cycle {verdict.cycle}: {verdict.overall}" + (f" ({asked})" if asked else ""))
    if run.definition_diff:
        print("== Definition diff against the tenant defaults")
        for change in run.definition_diff:
            after = json.dumps(change.get("after"), ensure_ascii=False)
            print(f"  {change['change']:<8} {change['path']}: {after[:100]}")
    gate = _output(job, StageName.GATE)
    if gate:
        print("== Gate (each test script as a whole call through the replay, the candidate live)")
        for script in GateResult.model_validate(gate).scripts:
            print(f"  {'PASS' if script.passed else 'FAIL'} {script.name:<16} covers {', '.join(script.covers)}")
    if job.get("error"):
        error = job["error"]
        print(f"== Job failed at {error['stage']}: {error['message']}\n   next: {error['next_step']}")
    if run.version_diff is not None:
        changed = ", ".join(c["path"] for c in run.version_diff["changes"][:8])
        print(
            f"vendor: GET .../versions/{run.version_diff['to_version']}/diff  (against live "
            f"v{run.version_diff['from_version']}): {len(run.version_diff['changes'])} change(s): {changed}"
        )
    if run.published is not None:
        print(f"vendor: POST .../publish  → live version {run.published['live_version']} (approved)")
    creator_entries = [a for a in run.audit if a.startswith("agentcreator.")]
    print(f"audit:  {', '.join(reversed(creator_entries)) or 'none'}")
