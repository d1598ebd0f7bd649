"""The deployed gate: the candidate answers in the tenant agent's engine on the model it will run on (Bedrock
Converse; a scripted ConverseStream here), each call checked against the tenant's budget and charged to it
under `agent_creator`, with the agent's id and no conversation."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import pytest
import yaml

from oratio.adapters.memory_agent import InMemoryBudgetLedger
from oratio.adapters.scripted_model import ScriptedModel, stop, text, usage
from oratio.agent_creator.deployed_gate import DeployedEngineFactory
from oratio.agent_creator.gate import AgentGate
from oratio.agent_creator.outputs import TestScript, TestScripts
from oratio.agent_definitions.spec import AgentSpec, CharacterConfig
from oratio.metering import CostCategory
from tests.unit.agent_creator_support import AGENT_ID, tenant

AT = "2025-01-08T16:00:00Z"
SPEC = AgentSpec(name="Cozy", business_type="retail",
                 character_config=CharacterConfig(business_name="Cozy Comfort Bedding",
                                                  knowledge_base={"returns_policy": "60-day returns."}))  # fmt: skip


def _scripts() -> TestScripts:
    body = {"name": "t", "tenant": "cozy-comfort", "agent": AGENT_ID, "at": AT,
            "turns": [{"say": "What is your returns policy?", "expect": {"reply_contains": ["60"]}}]}  # fmt: skip
    return TestScripts(scripts=(TestScript(name="t", covers=("R-policy-01",), yaml=yaml.safe_dump(body)),))


def _model() -> ScriptedModel:
    return ScriptedModel([[text("We take returns within 60 days."), usage(1200, 40), stop()]])


def test_the_candidate_answers_on_the_deployed_model_and_every_call_is_charged_to_agent_creator() -> None:
    ledger, model = InMemoryBudgetLedger(), _model()
    gate = AgentGate(DeployedEngineFactory(ledger, model=model), charges_tenant=True)

    result = gate.run(tenant(), AGENT_ID, SPEC, _scripts())

    assert result.passed, result.scripts[0].failure
    assert len(model.requests) == 1
    assert "60-day returns" in str(model.requests[0]["system"])  # the candidate's own definition was asked
    assert result.cost_usd > 0
    month = datetime.now(UTC)
    charged = ledger.breakdown("cozy-comfort", month)
    assert set(charged)
    assert {category for category, _ in charged} == {CostCategory.AGENT_CREATOR.value}
    assert round(sum(charged.values()), 6) == result.cost_usd
    assert ledger.rows("cozy-comfort")[next(k for k in ledger.rows("cozy-comfort") if f"#{AGENT_ID}" in k)] > 0


def test_a_tenant_over_its_budget_gets_no_model_call_from_the_gate() -> None:
    ledger, model = InMemoryBudgetLedger(), _model()
    config = tenant()
    now = datetime.now(UTC)
    asyncio.run(ledger.add(config.tenant_id, now, "model", "earlier", config.agent.monthly_budget_usd * 2))

    result = AgentGate(DeployedEngineFactory(ledger, model=model)).run(config, AGENT_ID, SPEC, _scripts())

    assert model.requests == []
    assert not result.passed


class _NoLocalStandIns:
    """A meta-path finder that refuses `oratio_local` (what the deployed asset lacks)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "oratio_local" or name.startswith("oratio_local."):
            raise ImportError(f"{name} is not in the AgentCreator asset")


def test_the_deployed_wiring_builds_its_gate_on_bedrock_without_any_local_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentcore.agent_creator.wiring import CreatorRuntimeSettings, aws_deps_factory

    for name in [n for n in sys.modules if n == "oratio_local" or n.startswith("oratio_local.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoLocalStandIns(), *sys.meta_path])
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    settings = CreatorRuntimeSettings(jobs_table="jobs", artifact_bucket="artifacts", agents_table="agents",
                                      agent_definitions_table="definitions", tenant_state_table="state",
                                      usage_table="usage", region="us-east-1")  # fmt: skip

    deps = aws_deps_factory(settings)(tenant())

    assert isinstance(deps.gate, AgentGate)
    factory = deps.gate.engine_factory
    assert isinstance(factory, DeployedEngineFactory)
    assert type(factory.model()).__name__ == "BedrockConverseModel"
    assert not any(n.startswith("oratio_local") for n in sys.modules)


def test_what_the_gate_charged_is_part_of_the_jobs_cost_and_the_gate_stage_record() -> None:
    from oratio.agent_creator.jobs import JobStatus, StageName, run_job
    from oratio.agent_creator.outputs import GateResult, ScriptOutcome
    from tests.unit.agent_creator_support import harness

    class ChargedGate:
        def run(self, tenant: object, agent_id: str, spec: AgentSpec, scripts: TestScripts) -> GateResult:
            passed = tuple(ScriptOutcome(name=s.name, covers=s.covers, passed=True) for s in scripts.scripts)
            return GateResult(scripts=passed, cost_usd=0.25)

    h = harness()
    h.deps.gate = ChargedGate()
    job = run_job(h.job.job_id, deps=h.deps)

    assert job.status is JobStatus.SUCCEEDED, job.error
    [gate] = [r for r in h.store.get_job(job.tenant_id, job.job_id).stages if r.stage is StageName.GATE]
    assert gate.cost_usd == 0.25
    assert job.cost_usd >= 0.25
