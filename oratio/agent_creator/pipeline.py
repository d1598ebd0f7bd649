"""The AgentCreator pipeline: SOP -> requirements -> plan <-> review (bounded) -> agent.py -> code review ->
test scripts -> gate -> artifacts and a new unpublished version. Every stage attempt is persisted as a
`StageRecord` with its typed output, model, tokens and cost; a job that fails records the stage, the reason in
words a vendor can act on and what to do next, and can be retried from that stage (earlier outputs are reused).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oratio.agent.ports import BudgetLedger
from oratio.agent_creator.code_checks import CheckContext, CheckSettings, check_module, tenant_tool_hosts
from oratio.agent_creator.gate import GateRunner
from oratio.agent_creator.jobs import (
    INLINE_OUTPUT_BYTES,
    CreatorJob,
    JobError,
    JobStatus,
    JobStore,
    StageName,
    StageRecord,
    StageStatus,
    output_key,
    utc_now,
)
from oratio.agent_creator.model_port import StageModel, StageModelError, StageRequest
from oratio.agent_creator.outputs import (
    CodeReview,
    GateResult,
    GeneratedCode,
    JobReport,
    ModelCodeReview,
    Plan,
    RequirementList,
    RequirementTrace,
    ReviewVerdict,
    TestScripts,
)
from oratio.agent_creator.writer import ArtifactStore, VersionWriter
from oratio.agent_definitions.diff import diff_documents
from oratio.agent_definitions.merge import tenant_defaults
from oratio.agent_definitions.spec import AgentSpec
from oratio.agent_definitions.versions import CreatorProvenance
from oratio.budget import BudgetState, check_budget
from oratio.config.catalog import ModelCatalog, load_model_catalog
from oratio.config.tenant import TenantConfig
from oratio.metering import CostCategory

DEFAULT_STAGE_MODEL = "claude-sonnet-4-5"
INSTRUCTIONS: dict[StageName, str] = {
    StageName.SOP_PARSER: "Read the vendor's standard operating procedure and list every requirement it states "
    "(intents, questions to ask, policies, escalation rules, tools, tone, hours), each with a stable id "
    "R-<kind>-NN and the SOP lines it comes from. Invent nothing.",
    StageName.PLAN_DRAFTER: "Draft the agent's plan (roles, transitions, tools, facts, guardrails, lines, knowledge) "
    "so every requirement is served; every element cites the requirement ids it serves. When a review is given, "
    "answer every needs_change.",
    StageName.PLAN_REVIEWER: "Review the plan against every requirement: ok, or needs_change with reasons. Approve "
    "only when every requirement is ok.",
    StageName.CODE_GENERATOR: "Write agent.py: a module that only declares SPEC = AgentSpec.model_validate({...}) "
    "with literals, importing only from oratio.agent_definitions.spec, implementing the approved plan.",
    StageName.CODE_REVIEWER: "The static checks passed. Review agent.py against the plan and requirements; reject "
    "with reasons if it does not implement them.",
    StageName.TEST_WRITER: "Write conversation replay scripts (YAML, the call-replay format), at least one per "
    "requirement, each naming the requirement ids it covers.",
}


class CreatorSettings(BaseModel):
    """How AgentCreator runs a job (defaults in one place)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_review_cycles: int = Field(default=3, ge=1, le=10)
    stage_models: dict[StageName, str] = Field(default_factory=dict, description="catalog model id per stage")
    default_model: str = DEFAULT_STAGE_MODEL
    allowed_tool_hosts: tuple[str, ...] | None = Field(
        default=None, description="hosts business tools may call; None: the hosts of the tenant's own tools"
    )
    agent_name: str | None = Field(default=None, description="the generated agent's name; None: '<business> assistant'")

    def model_for(self, stage: StageName) -> str:
        return self.stage_models.get(stage, self.default_model)


@dataclass
class PipelineDeps:
    """What a pipeline run needs: the tenant, the store, the model, the gate and where the output goes."""

    tenant: TenantConfig
    store: JobStore
    model: StageModel
    gate: GateRunner
    artifacts: ArtifactStore
    versions: VersionWriter
    budget: BudgetLedger | None = None
    settings: CreatorSettings = field(default_factory=CreatorSettings)
    check_settings: CheckSettings = field(default_factory=CheckSettings)
    catalog: ModelCatalog = field(default_factory=load_model_catalog)
    clock: Callable[[], datetime] = utc_now


class StageFailedError(Exception):
    """A stage could not produce an acceptable output; carries the vendor-facing error."""

    def __init__(self, error: JobError) -> None:
        super().__init__(error.message)
        self.error = error


def _fail(stage: StageName, message: str, next_step: str, *, retryable: bool = False) -> StageFailedError:
    return StageFailedError(JobError(stage=stage, message=message[:1000], next_step=next_step, retryable=retryable))


# ---------------------------------------------------------------------------------------- running
class _Run:
    def __init__(self, job: CreatorJob, deps: PipelineDeps) -> None:
        self.job, self.deps = job, deps
        self.attempts: dict[StageName, int] = {}
        self.models_used: list[str] = []
        self.cost_usd = job.cost_usd
        self.verdict_floor = 0  # stored verdicts before this many belong to an earlier run of the review loop
        view = deps.store.get_job(job.tenant_id, job.job_id)
        for record in view.stages:
            self.attempts[record.stage] = max(self.attempts.get(record.stage, 0), record.attempt)
            if record.model_id and record.model_id not in self.models_used:
                self.models_used.append(record.model_id)

    # ------------------------------------------------------------------------------- persistence
    def _save(self, record: StageRecord, output: BaseModel | None) -> StageRecord:
        if output is not None:
            body = output.model_dump_json().encode()
            if len(body) <= INLINE_OUTPUT_BYTES:
                record = record.model_copy(update={"output": json.loads(body)})
            else:
                key = output_key(self.job, f"stages/{record.stage.value}-{record.attempt:03d}.json")
                self.deps.store.put_output(key, body)
                record = record.model_copy(update={"output_key": key})
        self.deps.store.save_stage(self.job.tenant_id, record)
        return record

    def _begin(self, stage: StageName, cycle: int = 0) -> StageRecord:
        self.attempts[stage] = self.attempts.get(stage, 0) + 1
        self.job = self.job.touched(self.deps.clock(), current_stage=stage, status=JobStatus.RUNNING)
        self.deps.store.update_job(self.job)
        record = StageRecord(job_id=self.job.job_id, stage=stage, attempt=self.attempts[stage], cycle=cycle,
                             status=StageStatus.RUNNING, started_at=self.deps.clock())  # fmt: skip
        return self._save(record, None)

    def _finish(self, record: StageRecord, output: BaseModel, **usage: Any) -> None:
        done = record.model_copy(update={"status": StageStatus.SUCCEEDED, "finished_at": self.deps.clock(), **usage})
        self._save(done, output)

    def _failed(self, record: StageRecord, error: str, output: BaseModel | None = None, **usage: Any) -> None:
        done = record.model_copy(
            update={"status": StageStatus.FAILED, "finished_at": self.deps.clock(), "error": error[:1000], **usage}
        )
        self._save(done, output)

    # ------------------------------------------------------------------------------- model calls
    def _ask[T: BaseModel](
        self, record: StageRecord, inputs: dict[str, Any], output_type: type[T]
    ) -> tuple[T, dict[str, Any]]:
        stage = record.stage
        model_id = self.deps.settings.model_for(stage)
        self._check_budget(stage)
        request = StageRequest(stage=stage, instructions=INSTRUCTIONS[stage], inputs=inputs, model_id=model_id)
        try:
            answer = self.deps.model.answer(request, output_type)
        except StageModelError as e:
            self._failed(record, f"{type(e).__name__}: {e}")
            raise _fail(stage, f"The {stage.value} stage could not get an answer: {e.vendor_message}.",
                        "Retry the job from this stage; if it keeps failing, try later or contact support.",
                        retryable=e.retryable) from e  # fmt: skip
        usage = answer.usage
        entry = self.deps.catalog.model(usage.model_id) if usage.model_id in self.deps.catalog.model_ids else None
        cost = entry.estimate_cost_usd(usage.input_tokens, usage.output_tokens) if entry else 0.0
        self._charge(usage.model_id, cost)
        if usage.model_id not in self.models_used:
            self.models_used.append(usage.model_id)
        return answer.output, {"model_id": usage.model_id, "input_tokens": usage.input_tokens,
                               "output_tokens": usage.output_tokens, "cost_usd": cost}  # fmt: skip

    def _check_budget(self, stage: StageName) -> None:
        ledger = self.deps.budget
        if ledger is None:
            return
        tenant = self.deps.tenant
        spent = asyncio.run(ledger.month_to_date_usd(tenant.tenant_id, self.deps.clock()))
        check = check_budget(spent, tenant.agent.monthly_budget_usd, tenant.budget)
        if check.state is BudgetState.EXHAUSTED:
            raise _fail(stage, f"The tenant's monthly budget is used up ({check.describe()}), so no model was called.",
                        "Raise the monthly budget or wait for the next month, then retry from this stage.",
                        retryable=True)  # fmt: skip

    def _charge(self, model_id: str, usd: float) -> None:
        self.cost_usd += usd
        if self.deps.budget is not None and usd > 0:
            asyncio.run(self.deps.budget.add(self.job.tenant_id, self.deps.clock(), CostCategory.AGENT_CREATOR.value,
                                             model_id, usd, agent_id=self.job.agent_id))  # fmt: skip

    # --------------------------------------------------------------------------------- reading back
    def latest_output[T: BaseModel](self, stage: StageName, output_type: type[T]) -> T | None:
        view = self.deps.store.get_job(self.job.tenant_id, self.job.job_id)
        for record in reversed(view.stages):
            if record.stage is stage and record.status is StageStatus.SUCCEEDED:
                if record.output is not None:
                    return output_type.model_validate(record.output)
                if record.output_key:
                    return output_type.model_validate_json(self.deps.store.get_output(record.output_key))
        return None

    def verdicts(self) -> list[ReviewVerdict]:
        view = self.deps.store.get_job(self.job.tenant_id, self.job.job_id)
        found: list[ReviewVerdict] = []
        for record in view.stages:
            if record.stage is StageName.PLAN_REVIEWER and record.status is StageStatus.SUCCEEDED and record.output:
                found.append(ReviewVerdict.model_validate(record.output))
        return found[self.verdict_floor :]

    def need[T: BaseModel](self, stage: StageName, output_type: type[T]) -> T:
        found = self.latest_output(stage, output_type)
        if found is None:
            raise _fail(stage, f"the {stage.value} stage has no stored output to continue from",
                        f"Retry the job from {stage.value}.", retryable=True)  # fmt: skip
        return found


# ------------------------------------------------------------------------------------- the stages
def _parse(run: _Run) -> RequirementList:
    record = run._begin(StageName.SOP_PARSER)
    sop = run.deps.store.get_output(run.job.sop_key).decode("utf-8")
    numbered = "\n".join(f"{n:4d}| {line}" for n, line in enumerate(sop.splitlines(), start=1))
    output, usage = run._ask(record, {"sop": numbered, "business": run.deps.tenant.business.name}, RequirementList)
    run._finish(record, output, **usage)
    return output


def _plan_and_review(run: _Run, requirements: RequirementList) -> tuple[Plan, list[ReviewVerdict]]:
    settings = run.deps.settings
    verdicts = run.verdicts()
    plan = run.latest_output(StageName.PLAN_DRAFTER, Plan)
    last = verdicts[-1] if verdicts else None
    if plan is not None and last is not None and last.overall == "approve":
        return plan, verdicts
    cycle = len(verdicts)
    while cycle < settings.max_review_cycles:
        cycle += 1
        record = run._begin(StageName.PLAN_DRAFTER, cycle)
        inputs: dict[str, Any] = {"requirements": requirements.model_dump(mode="json"),
                                  "tenant_defaults": _defaults_document(run)}  # fmt: skip
        if plan is not None and last is not None:
            inputs |= {"previous_plan": plan.model_dump(mode="json"), "review": last.model_dump(mode="json")}
        plan, usage = run._ask(record, inputs, Plan)
        unknown = sorted(plan.cited() - set(requirements.ids))
        if unknown:
            run._failed(record, f"the plan cites unknown requirements {unknown}", plan, **usage)
            raise _fail(StageName.PLAN_DRAFTER, f"The plan cites requirements that do not exist: {unknown}.",
                        "Retry from plan_drafter.", retryable=True)  # fmt: skip
        run._finish(record, plan, **usage)
        record = run._begin(StageName.PLAN_REVIEWER, cycle)
        review_inputs = {"requirements": requirements.model_dump(mode="json"), "plan": plan.model_dump(mode="json"),
                         "cycle": cycle}  # fmt: skip
        verdict, usage = run._ask(record, review_inputs, ReviewVerdict)
        verdict = verdict.model_copy(update={"cycle": cycle})
        # A verdict that approves while a requirement goes uncited is not an approval.
        uncited = sorted(set(requirements.ids) - plan.cited())
        if verdict.overall == "approve" and uncited:
            run._failed(record, f"approved a plan that leaves {uncited} uncited", verdict, **usage)
            raise _fail(StageName.PLAN_REVIEWER, f"The reviewer approved a plan that serves none of {uncited}.",
                        "Retry from plan_drafter.", retryable=True)  # fmt: skip
        run._finish(record, verdict, **usage)
        verdicts.append(verdict)
        last = verdict
        if verdict.overall == "approve":
            return plan, verdicts
    asked = "; ".join(f"{v.requirement_id}: {' '.join(v.reasons)}" for v in (last.changes_asked() if last else []))
    raise _fail(StageName.PLAN_REVIEWER,
                f"The plan was not approved after {settings.max_review_cycles} review cycles. Still open: {asked}",
                "Make these requirements in the SOP clearer (or split them), then submit the SOP again.")  # fmt: skip


def _defaults_document(run: _Run) -> dict[str, Any]:
    return tenant_defaults(run.deps.tenant, run.job.agent_id).model_dump(mode="json")


def _generate(run: _Run, requirements: RequirementList, plan: Plan) -> GeneratedCode:
    record = run._begin(StageName.CODE_GENERATOR)
    code, usage = run._ask(record, {"plan": plan.model_dump(mode="json"), "job_id": run.job.job_id,
                                    "sop_sha256": run.job.sop_sha256,
                                    "agent_name": run.deps.settings.agent_name or
                                    f"{run.deps.tenant.business.name} assistant",
                                    "requirements": requirements.model_dump(mode="json")}, GeneratedCode)  # fmt: skip
    run._finish(record, code, **usage)
    return code


def _review_code(run: _Run, requirements: RequirementList, plan: Plan, code: GeneratedCode) -> CodeReview:
    record = run._begin(StageName.CODE_REVIEWER)
    deps = run.deps
    hosts = deps.settings.allowed_tool_hosts
    allowed = frozenset(h.lower() for h in hosts) if hosts is not None else tenant_tool_hosts(deps.tenant)
    context = CheckContext(tenant=deps.tenant, agent_id=run.job.agent_id, plan=plan, allowed_hosts=allowed)
    outcome = check_module(code.agent_py, context, deps.check_settings)
    if not outcome.passed:
        review = CodeReview(static_findings=tuple(outcome.findings))
        listed = "; ".join(f"[{f.rule}{f' line {f.line}' if f.line else ''}] {f.message}" for f in outcome.findings)
        run._failed(record, listed, review)
        raise _fail(StageName.CODE_REVIEWER, f"The generated agent.py was rejected by the static checks: {listed}",
                    "Retry from code_generator to have it written again; nothing was written as a version.",
                    retryable=True)  # fmt: skip
    assert outcome.spec is not None
    spec_doc = outcome.spec.model_dump(mode="json", exclude_unset=True)
    model_review, usage = run._ask(record, {"agent_py": code.agent_py, "plan": plan.model_dump(mode="json"),
                                            "requirements": requirements.model_dump(mode="json")},
                                   ModelCodeReview)  # fmt: skip
    review = CodeReview(model_review=model_review, spec=spec_doc)
    if model_review.verdict != "approve":
        run._failed(record, "; ".join(model_review.reasons) or "rejected", review, **usage)
        raise _fail(StageName.CODE_REVIEWER,
                    f"The code review rejected agent.py: {'; '.join(model_review.reasons) or 'no reason given'}",
                    "Retry from code_generator; nothing was written as a version.", retryable=True)  # fmt: skip
    run._finish(record, review, **usage)
    return review


def _write_tests(run: _Run, requirements: RequirementList, plan: Plan, review: CodeReview) -> TestScripts:
    record = run._begin(StageName.TEST_WRITER)
    scripts, usage = run._ask(record, {"requirements": requirements.model_dump(mode="json"),
                                       "plan": plan.model_dump(mode="json"), "spec": review.spec,
                                       "tenant_id": run.job.tenant_id, "agent_id": run.job.agent_id},
                              TestScripts)  # fmt: skip
    missing = [rid for rid in requirements.ids if not scripts.covering(rid)]
    if missing:
        run._failed(record, f"no script covers {missing}", scripts, **usage)
        raise _fail(StageName.TEST_WRITER, f"The test writer left requirements without a test: {missing}.",
                    "Retry from test_writer.", retryable=True)  # fmt: skip
    run._finish(record, scripts, **usage)
    return scripts


def _gate(run: _Run, review: CodeReview, scripts: TestScripts) -> GateResult:
    run._check_budget(StageName.GATE)  # deployed, the candidate answers on the tenant's model: its budget holds
    record = run._begin(StageName.GATE)
    spec = AgentSpec.model_validate(review.spec)
    result = run.deps.gate.run(run.deps.tenant, run.job.agent_id, spec, scripts)
    run.cost_usd += result.cost_usd  # charged by the gate's engine, call by call (`deployed_gate.GateChargeLedger`)
    if not result.passed:
        names = ", ".join(f"{s.name} (covers {', '.join(s.covers)})" for s in result.failures())
        run._failed(record, f"failed: {names}", result, cost_usd=result.cost_usd)
        raise _fail(StageName.GATE, f"The candidate failed its tests: {names}. Nothing was written as a version.",
                    "Read each failure in the job report; clarify the SOP for those requirements and submit it again, "
                    "or retry from code_generator.", retryable=False)  # fmt: skip
    run._finish(record, result, cost_usd=result.cost_usd)
    return result


def build_report(requirements: RequirementList, plan: Plan | None, review: CodeReview | None,
                 scripts: TestScripts | None, gate: GateResult | None,
                 verdicts: list[ReviewVerdict]) -> JobReport:  # fmt: skip
    """Requirement id -> the plan elements, definition fields and test scripts that cover it."""
    fields = definition_fields(plan, review)
    outcome = {s.name: s.passed for s in gate.scripts} if gate else {}
    traces, uncovered = [], []
    for req in requirements.requirements:
        elements = tuple(name for name, serves in (plan.elements() if plan else []) if req.id in serves)
        covered_fields = tuple(sorted({f for f, ids in fields.items() if req.id in ids}))
        tests = tuple(scripts.covering(req.id)) if scripts else ()
        state: Literal["passed", "failed", "untested"] = "untested"
        if tests and gate:
            state = "failed" if any(not outcome.get(t, True) for t in tests) else "passed"
        if not (elements and covered_fields and tests):
            uncovered.append(req.id)
        traces.append(RequirementTrace(requirement_id=req.id, kind=req.kind, text=req.text, plan_elements=elements,
                                       definition_fields=covered_fields, test_scripts=tests, gate=state))  # fmt: skip
    approved = bool(verdicts) and verdicts[-1].overall == "approve"
    return JobReport(traces=tuple(traces), uncovered=tuple(uncovered),
                     gate_failures=tuple(gate.failures()) if gate else (), review_cycles=len(verdicts),
                     approved_plan=approved)  # fmt: skip


def definition_fields(plan: Plan | None, review: CodeReview | None) -> dict[str, set[str]]:
    """Definition field paths present in the loaded spec -> the requirement ids whose plan elements put them there."""
    if plan is None or review is None or review.spec is None:
        return {}
    spec = review.spec
    definition = spec.get("definition", {})
    present: dict[str, set[str]] = {}

    def add(path: str, there: bool, serves: tuple[str, ...]) -> None:
        if there:
            present.setdefault(path, set()).update(serves)

    kb = spec.get("character_config", {}).get("knowledge_base", {})
    for fact in plan.facts:
        add(f"character_config.knowledge_base.{fact.key}", fact.key in kb, fact.serves)
    roles = definition.get("workflow", {}).get("roles", [])
    for role in plan.roles:
        add(f"definition.workflow.roles[{role.name}]", role.name in roles, role.serves)
    for t in plan.transitions:
        there = t.from_role in roles and t.to_role in roles
        add(f"definition.workflow.roles[{t.from_role}->{t.to_role}]", there, t.serves)
    tools = definition.get("tools", {})
    names = set(tools.get("builtin", [])) | {b.get("name") for b in tools.get("business_tools", [])}
    for tool in plan.tools:
        where = "builtin" if tool.kind == "builtin" else "business_tools"
        add(f"definition.tools.{where}[{tool.name}]", tool.name in names, tool.serves)
    guard = definition.get("guardrails", {})
    for g in plan.guardrails:
        key = "refuse_topics" if g.kind == "refuse" else "escalate_topics"
        add(f"definition.guardrails.{key}[{g.topic}]", g.topic in guard.get(key, []), g.serves)
    lines = {
        **definition.get("lines", {}),
        **({"refusal_line": guard["refusal_line"]} if "refusal_line" in guard else {}),
    }
    for line in plan.lines:
        where = "guardrails" if line.kind == "refusal_line" else "lines"
        add(f"definition.{where}.{line.kind}", line.kind in lines, line.serves)
    add("definition.persona", "persona" in definition, plan.serves_general)
    add("character_config.tone", "tone" in spec.get("character_config", {}), plan.serves_general)
    if plan.knowledge is not None:
        add("definition.knowledge", "knowledge" in definition, plan.knowledge.serves)
    return present


def _write(run: _Run, requirements: RequirementList, plan: Plan, code: GeneratedCode, review: CodeReview,
           scripts: TestScripts, gate: GateResult, verdicts: list[ReviewVerdict]) -> CreatorJob:  # fmt: skip
    record = run._begin(StageName.S3_WRITER)
    deps, job = run.deps, run.job
    report = build_report(requirements, plan, review, scripts, gate, verdicts)
    lines = tuple(f"cycle {v.cycle}: {v.overall} ({len(v.changes_asked())} change(s) asked)" for v in verdicts)
    provenance = CreatorProvenance(job_id=job.job_id, sop_sha256=job.sop_sha256, model_ids=tuple(run.models_used),
                                   verdicts=lines)  # fmt: skip
    prefix = output_key(job, "")
    manifest: dict[str, Any] = {
        "job_id": job.job_id, "tenant_id": job.tenant_id, "agent_id": job.agent_id, "sop_sha256": job.sop_sha256,
        "model_ids": list(run.models_used), "verdicts": [v.model_dump(mode="json") for v in verdicts],
        "report": report.model_dump(mode="json"), "tests": [f"tests/{s.name}.yaml" for s in scripts.scripts],
    }  # fmt: skip
    deps.artifacts.put(f"{prefix}agent.py", code.agent_py.encode(), "text/x-python")
    for script in scripts.scripts:
        deps.artifacts.put(f"{prefix}tests/{script.name}.yaml", script.yaml.encode(), "application/yaml")
    spec = AgentSpec.model_validate(review.spec)
    number = deps.versions.propose(job.vendor_id, job.agent_id, spec, note=f"AgentCreator job {job.job_id}",
                                   provenance=provenance, at=deps.clock())  # fmt: skip
    manifest["candidate_version"] = number
    deps.artifacts.put(f"{prefix}manifest.json", json.dumps(manifest, indent=2).encode(), "application/json")
    report_key = output_key(job, "report.json")
    deps.store.put_output(report_key, report.model_dump_json().encode())
    run._finish(record, report)
    run.job = run.job.touched(deps.clock(), candidate_version=number, artifact_prefix=prefix, report_key=report_key)
    return run.job


def _execute(run: _Run, start: StageName) -> CreatorJob:
    deps = run.deps
    try:
        requirements = _parse(run) if start.position <= StageName.SOP_PARSER.position else run.need(
            StageName.SOP_PARSER, RequirementList)  # fmt: skip
        if start.position <= StageName.PLAN_REVIEWER.position:
            plan, verdicts = _plan_and_review(run, requirements)
        else:
            plan, verdicts = run.need(StageName.PLAN_DRAFTER, Plan), run.verdicts()
        code = (_generate(run, requirements, plan) if start.position <= StageName.CODE_GENERATOR.position
                else run.need(StageName.CODE_GENERATOR, GeneratedCode))  # fmt: skip
        review = (_review_code(run, requirements, plan, code) if start.position <= StageName.CODE_REVIEWER.position
                  else run.need(StageName.CODE_REVIEWER, CodeReview))  # fmt: skip
        scripts = (_write_tests(run, requirements, plan, review) if start.position <= StageName.TEST_WRITER.position
                   else run.need(StageName.TEST_WRITER, TestScripts))  # fmt: skip
        gate = _gate(run, review, scripts)
        job = _write(run, requirements, plan, code, review, scripts, gate, verdicts)
        job = job.touched(deps.clock(), status=JobStatus.SUCCEEDED, current_stage=None, failed_stage=None, error=None,
                          cost_usd=round(run.cost_usd, 6))  # fmt: skip
    except StageFailedError as e:
        report = _failure_report(run)
        report_key = output_key(run.job, "report.json")
        deps.store.put_output(report_key, report.model_dump_json().encode())
        job = run.job.touched(deps.clock(), status=JobStatus.FAILED, failed_stage=e.error.stage, error=e.error,
                              report_key=report_key, cost_usd=round(run.cost_usd, 6))  # fmt: skip
    deps.store.update_job(job)
    return job


def _failure_report(run: _Run) -> JobReport:
    requirements = run.latest_output(StageName.SOP_PARSER, RequirementList)
    if requirements is None:
        return JobReport(traces=(), uncovered=(), review_cycles=0, approved_plan=False)
    view = run.deps.store.get_job(run.job.tenant_id, run.job.job_id)
    gate_record = next((r for r in reversed(view.stages) if r.stage is StageName.GATE and r.output), None)
    gate = GateResult.model_validate(gate_record.output) if gate_record else None
    return build_report(requirements, run.latest_output(StageName.PLAN_DRAFTER, Plan),
                        run.latest_output(StageName.CODE_REVIEWER, CodeReview),
                        run.latest_output(StageName.TEST_WRITER, TestScripts), gate, run.verdicts())  # fmt: skip


def run_job(job_id: str, *, deps: PipelineDeps) -> CreatorJob:
    """Run a queued job through every stage; returns the job as it ended (succeeded or failed)."""
    job = deps.store.get_job(deps.tenant.tenant_id, job_id).job
    if job.status is not JobStatus.QUEUED:
        raise ValueError(f"job {job_id} is {job.status.value}; only a queued job runs (retry a failed one)")
    return _execute(_Run(job, deps), StageName.SOP_PARSER)


def retry_job(job_id: str, from_stage: StageName | None = None, *, deps: PipelineDeps) -> CreatorJob:
    """Run a failed job again from `from_stage` (default: the stage it failed at), reusing earlier outputs."""
    job = deps.store.get_job(deps.tenant.tenant_id, job_id).job
    # Queued with a failed stage: the vendor API has claimed the failed job for this retry (failed -> queued).
    claimed = job.status is JobStatus.QUEUED and job.failed_stage is not None
    if job.status is not JobStatus.FAILED and not claimed:
        raise ValueError(f"job {job_id} is {job.status.value}; only a failed job can be retried")
    start = from_stage or job.failed_stage or StageName.SOP_PARSER
    if start is StageName.PLAN_REVIEWER:
        start = StageName.PLAN_DRAFTER  # a review answers a draft: the loop starts again with the drafter
    job = job.touched(deps.clock(), status=JobStatus.RUNNING, error=None, attempts=job.attempts + 1)
    deps.store.update_job(job)
    run = _Run(job, deps)
    if start.position <= StageName.PLAN_REVIEWER.position:
        # A retry into the review loop gets a fresh set of cycles; earlier verdicts stay stored, not counted.
        run.verdict_floor = len(run.verdicts())
    return _execute(run, start)


def definition_diff(tenant: TenantConfig, agent_id: str, spec: AgentSpec) -> list[dict[str, Any]]:
    """The candidate's resolved definition against the tenant's defaults, field by field."""
    from oratio.agent_definitions.merge import resolve
    from oratio.agent_definitions.spec import overrides_of

    before = tenant_defaults(tenant, agent_id).model_dump(mode="json")
    after = resolve(tenant, agent_id, overrides_of(spec)).model_dump(mode="json")
    return [c.model_dump(mode="json") for c in diff_documents(before, after)]
