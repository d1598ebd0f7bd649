"""The AgentCreator gate locally (`make demo` step 9, the CLI, the local runtime): every test script through the
full call replay — the tenant's contact flow as synthesized, the Lex emulation, the real Lambda handlers and the
tenant agent on the local rule-based model, over moto — with the candidate as the agent's live definition.

Each script's call has its own throwaway AWS world (`oratio_local.replay.runner`): there, once the replay has
created the script's agent through the vendor API, the candidate is written as its next version and published
through the same API (`PUT /agents/{id}`, then `POST .../versions/{n}/publish`), so everything the call reads
(the router, the voice turn's agent lines, the agent's engine) sees the candidate. Flow-only expectations (route,
intent, holding lines, contact attributes, whisper) are checked as `make replay` checks them.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from oratio.agent.assembly import assemble_engine
from oratio.agent.ports import TurnEngine
from oratio.agent_creator.gate import AgentGate, EngineFactory, PinnedCandidateSource
from oratio.agent_creator.outputs import GateResult, ScriptOutcome, TestScripts
from oratio.agent_definitions.spec import AgentSpec
from oratio.config.tenant import TenantConfig
from oratio.replay.script import ScriptError, parse_script

REPO = Path(__file__).resolve().parents[1]
REPO_TENANTS = REPO / "tenants"
GATE_TIMEOUT_SECONDS = 1_800.0  # 17 replayed calls take about a minute on a loaded 2-core machine
SPEC_FIELDS = ("name", "description", "business_type", "character_config", "context", "definition")


class CandidateRefusedError(ScriptError):
    """The vendor API refused to store the candidate as a version (the message says why)."""


def publish_candidate(api: Any, agent_id: str, spec: AgentSpec) -> int:
    """Write `spec` as the agent's next version through the vendor API and publish it; returns its number."""
    current = api.call("GET", f"/api/v1/agents/{agent_id}")
    body = {"version": current["version"], **spec.model_dump(mode="json", include=set(SPEC_FIELDS))}
    body["change_note"] = "AgentCreator candidate under test"
    try:
        updated = api.call("PUT", f"/api/v1/agents/{agent_id}", body)
        number = int(updated["latest_version"])
        if updated.get("live_version") != number:
            api.call("POST", f"/api/v1/agents/{agent_id}/versions/{number}/publish")
    except RuntimeError as e:  # LocalVendorApi raises on a 4xx/5xx with the answer's body
        raise CandidateRefusedError(f"the vendor API refused the candidate: {e}") from e
    return number


class ReplayGate:
    """`GateRunner` over the full call replay. The replay runs in a child interpreter (`python -m
    oratio_local.creator_gate`): each call makes its own moto world, which cannot nest inside a caller's own (the
    demo's, a test's), and a child leaves the caller's process as it was. One replay session per gate run."""

    def __init__(self, tenants_dir: Path = REPO_TENANTS, *, timeout_seconds: float = GATE_TIMEOUT_SECONDS) -> None:
        self.tenants_dir = tenants_dir
        self.timeout_seconds = timeout_seconds

    def run(self, tenant: TenantConfig, agent_id: str, spec: AgentSpec, scripts: TestScripts) -> GateResult:
        request = GateRequest(tenants_dir=str(self.tenants_dir), tenant_id=tenant.tenant_id, agent_id=agent_id,
                              spec=spec, scripts=scripts)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="oratio-gate-") as folder:
            answer = Path(folder) / "gate-result.json"
            done = subprocess.run(  # noqa: S603 - this interpreter, this module, no shell
                [sys.executable, "-m", "oratio_local.creator_gate", str(answer)],
                input=request.model_dump_json(), capture_output=True, text=True, check=False,
                timeout=self.timeout_seconds, cwd=REPO,
            )  # fmt: skip
            if done.returncode != 0 or not answer.is_file():
                raise RuntimeError(f"the replay gate stopped (exit {done.returncode}): {done.stderr[-2000:]}")
            return GateResult.model_validate_json(answer.read_text(encoding="utf-8"))


class GateRequest(BaseModel):
    """What the child interpreter is asked to replay."""

    tenants_dir: str
    tenant_id: str
    agent_id: str
    spec: AgentSpec
    scripts: TestScripts


def replay_gate(tenant: TenantConfig, tenants_dir: Path, agent_id: str, spec: AgentSpec,
                scripts: TestScripts) -> GateResult:  # fmt: skip
    """Every script as a whole replayed call, in this process (the child's work)."""
    from oratio_local.replay.runner import ReplaySession, run_script

    def set_up(api: Any, agent_name: str, created_id: str) -> None:
        if agent_name == agent_id:  # the scripts name the agent under test by its id
            publish_candidate(api, created_id, spec)

    outcomes = []
    with ReplaySession(tenants_dir, set_up_agent=set_up) as session:
        for test in scripts.scripts:
            try:
                script = parse_script(test.yaml, f"{test.name}.yaml")
            except ScriptError as e:
                outcomes.append(ScriptOutcome(name=test.name, covers=test.covers, passed=False, failure=str(e)))
                continue
            if script.tenant != tenant.tenant_id or script.agent != agent_id:
                failure = (f"the script is for {script.tenant}/{script.agent}; the gate tests "
                           f"{tenant.tenant_id}/{agent_id}")  # fmt: skip
                outcomes.append(ScriptOutcome(name=test.name, covers=test.covers, passed=False, failure=failure))
                continue
            result = run_script(session, script, f"{test.name}.yaml")
            outcomes.append(ScriptOutcome(name=test.name, covers=test.covers, passed=result.passed,
                                          failure=result.failure, transcript=result.transcript()))  # fmt: skip
    # The local model's cost estimates (in each transcript) are nobody's spend: the gate charged nothing.
    return GateResult(scripts=tuple(outcomes))


def main(argv: list[str] | None = None) -> int:
    """The child: a `GateRequest` on stdin, the `GateResult` written to the path given."""
    from oratio.config import load_tenant_file

    (answer,) = argv if argv is not None else sys.argv[1:]
    request = GateRequest.model_validate_json(sys.stdin.read())
    tenants_dir = Path(request.tenants_dir)
    tenant = load_tenant_file(tenants_dir / f"{request.tenant_id}.yaml")
    result = replay_gate(tenant, tenants_dir, request.agent_id, request.spec, request.scripts)
    Path(answer).write_text(result.model_dump_json(), encoding="utf-8")
    return 0


def local_engine_factory(tenants_dir: Path = REPO_TENANTS) -> EngineFactory:
    """The tenant agent's engine alone (local wiring: rule model, lexical retriever, memory stores) answering with
    the candidate: the fast, deterministic gate the pipeline's scripted-model tests and the bench run on."""

    def build(tenant: TenantConfig, source: PinnedCandidateSource) -> TurnEngine:
        from agentcore.tenant_agent import wiring

        settings = wiring.RuntimeSettings(local_mode=True, tenant_id=tenant.tenant_id, tenants_dir=tenants_dir)
        return assemble_engine(dataclasses.replace(wiring.local_parts(settings, tenant), definitions=source))

    return build


def local_gate(tenants_dir: Path = REPO_TENANTS) -> AgentGate:
    """`AgentGate` over `local_engine_factory`: the engine only, no contact flow (see `ReplayGate` for that)."""
    return AgentGate(local_engine_factory(tenants_dir))


if __name__ == "__main__":
    raise SystemExit(main())
