"""`python -m oratio.agent_creator.cli run SOP.md --tenant tenants/X.yaml --agent-id ID [--out DIR]`

Runs the AgentCreator pipeline locally, with the local rule-based creator model (`oratio_local.creator_model`),
the tenant agent on the local model for the gate, and in-memory stores, then prints the requirement list, the
plan, the review verdicts, the definition diff against the tenant defaults and the gate's replay results.
`--out` writes the artifacts (agent.py, manifest.json, tests/*.yaml, report.json) to a folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from oratio.agent_creator.jobs import InMemoryJobStore, JobStatus, SopRejectedError, StageName, submit_sop
from oratio.agent_creator.outputs import CodeReview, GateResult, JobReport, Plan, RequirementList, ReviewVerdict
from oratio.agent_creator.pipeline import PipelineDeps, definition_diff, run_job
from oratio.agent_creator.writer import InMemoryArtifacts, MemoryVersionWriter
from oratio.agent_definitions.spec import AgentSpec
from oratio.config import TenantConfigError, load_tenant_file


def _print_run(store: InMemoryJobStore, tenant_id: str, job_id: str, agent_id: str, deps: PipelineDeps) -> None:
    view = store.get_job(tenant_id, job_id)

    def out(stage: StageName) -> dict[str, object] | None:
        record = view.latest(stage)
        return record.output if record is not None else None

    requirements = out(StageName.SOP_PARSER)
    if requirements:
        print("== Requirements")
        for r in RequirementList.model_validate(requirements).requirements:
            print(f"  {r.id:<16} line {r.source.start:<3} {r.text}")
    plan = out(StageName.PLAN_DRAFTER)
    if plan:
        p = Plan.model_validate(plan)
        print("== Plan")
        for name, serves in p.elements():
            print(f"  {name:<48} serves {', '.join(serves)}")
    print("== Review verdicts")
    for record in view.stages:
        if record.stage is StageName.PLAN_REVIEWER and record.output:
            v = ReviewVerdict.model_validate(record.output)
            asked = "; ".join(f"{c.requirement_id}: {' '.join(c.reasons)}" for c in v.changes_asked())
            print(f"  cycle {v.cycle}: {v.overall}" + (f" ({asked})" if asked else ""))
    review = out(StageName.CODE_REVIEWER)
    if review:
        code_review = CodeReview.model_validate(review)
        for f in code_review.static_findings:
            print(f"  static finding [{f.rule}] {f.message}")
        if code_review.spec:
            print("== Definition diff against the tenant defaults")
            for change in definition_diff(deps.tenant, agent_id, AgentSpec.model_validate(code_review.spec)):
                after = json.dumps(change.get("after"), ensure_ascii=False)
                print(f"  {change['change']:<8} {change['path']}: {after[:100]}")
    gate = out(StageName.GATE)
    if gate:
        print("== Gate (each test script as a whole call through the replay, the candidate live)")
        for s in GateResult.model_validate(gate).scripts:
            print(f"  {'PASS' if s.passed else 'FAIL'} {s.name:<16} covers {', '.join(s.covers)}")
            if not s.passed:
                print("    " + s.failure.replace("\n", "\n    "))


def run(args: argparse.Namespace) -> int:
    from oratio_local.creator_gate import ReplayGate
    from oratio_local.creator_model import LocalCreatorModel

    try:
        tenant = load_tenant_file(Path(args.tenant))
    except TenantConfigError as e:
        print(e, file=sys.stderr)
        return 2
    store = InMemoryJobStore()
    try:
        job = submit_sop(store, tenant_id=tenant.tenant_id, agent_id=args.agent_id, body=Path(args.sop).read_bytes())
    except (OSError, SopRejectedError) as e:
        print(f"{args.sop}: {e}", file=sys.stderr)
        return 2
    artifacts, versions = InMemoryArtifacts(), MemoryVersionWriter()
    deps = PipelineDeps(tenant=tenant, store=store, model=LocalCreatorModel(tenant),
                        gate=ReplayGate(Path(args.tenant).resolve().parent),
                        artifacts=artifacts, versions=versions)  # fmt: skip
    job = run_job(job.job_id, deps=deps)
    _print_run(store, tenant.tenant_id, job.job_id, args.agent_id, deps)
    if job.report_key:
        report = JobReport.model_validate_json(store.get_output(job.report_key))
        print(f"== Report: {len(report.traces)} requirements, uncovered: {', '.join(report.uncovered) or 'none'}")
    if args.out:
        folder = Path(args.out)
        for key, (body, _) in artifacts.objects.items():
            target = folder / key.split(f"/{job.job_id}/", 1)[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        if job.report_key:
            (folder / "report.json").write_bytes(store.get_output(job.report_key))
    if job.status is JobStatus.SUCCEEDED:
        print(f"== Job {job.job_id}: succeeded; candidate version {job.candidate_version} (unpublished)")
        return 0
    assert job.error is not None
    print(
        f"== Job {job.job_id}: failed at {job.error.stage.value}: {job.error.message}\n   next: {job.error.next_step}"
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oratio.agent_creator.cli", description=__doc__.split("\n")[2])
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="run the pipeline on an SOP with the local model")
    runner.add_argument("sop")
    runner.add_argument("--tenant", required=True)
    runner.add_argument("--agent-id", required=True)
    runner.add_argument("--out")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
