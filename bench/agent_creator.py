"""AgentCreator: what the pipeline itself costs per stage, and what each stage would send a model.

- time per stage with the **scripted model** (`oratio.agent_creator.scripted_model`): every stage answered at once
  from the outputs a first run of the local stage model produced, so the figure is the pipeline's own overhead —
  validating and persisting each typed output (in-memory job store), the static code checks and the isolated
  load of `agent.py` (a separate interpreter), the gate's replay of every test script through the tenant agent
  (rule-based model), the artifact and version writes (in memory). It excludes any model latency (Bedrock
  Converse answers take seconds per stage) and DynamoDB/S3 round trips. Wall time from the stage records'
  start/finish (median of the runs; the machine is shared, so wall time is noisy), and the whole job's CPU time
  in this process (the isolated load's own interpreter is a child process and not counted).
- tokens per stage for the example SOP: the scripted model's estimate of each request and answer, 4 characters
  of JSON per token (not a tokenizer: a Bedrock model's own count differs by model); a stage that ran more than
  once (review cycles) is summed.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from oratio.agent_creator.jobs import InMemoryJobStore, JobStatus, StageName, submit_sop
from oratio.agent_creator.model_port import StageAnswer, StageModel, StageRequest
from oratio.agent_creator.pipeline import PipelineDeps, run_job
from oratio.agent_creator.scripted_model import Answer, ScriptedModel
from oratio.agent_creator.writer import InMemoryArtifacts, MemoryVersionWriter
from oratio.config import load_tenant_file

ROOT = Path(__file__).resolve().parents[1]
TENANT_FILE = ROOT / "tenants" / "cozy-comfort.yaml"
SOP_FILE = ROOT / "tenants" / "sops" / "cozy-comfort.md"
AGENT = "agt-bench"
RUNS = 3


@dataclass
class RecordingModel:
    """Passes every stage to `inner` and keeps what it answered, in order, as a script for `ScriptedModel`."""

    inner: StageModel
    answers: dict[StageName, list[Answer]] = field(default_factory=lambda: defaultdict(list))

    def answer[T: BaseModel](self, request: StageRequest, output_type: type[T]) -> StageAnswer[T]:
        answered = self.inner.answer(request, output_type)
        self.answers[request.stage].append(answered.output)
        return answered


def _deps(model: StageModel, store: InMemoryJobStore) -> PipelineDeps:
    from oratio_local.creator_gate import local_gate

    tenant = load_tenant_file(TENANT_FILE)
    return PipelineDeps(tenant=tenant, store=store, model=model, gate=local_gate(ROOT / "tenants"),
                        artifacts=InMemoryArtifacts(), versions=MemoryVersionWriter())  # fmt: skip


def _job(model: StageModel) -> tuple[InMemoryJobStore, str]:
    store = InMemoryJobStore()
    tenant = load_tenant_file(TENANT_FILE)
    job = submit_sop(store, tenant_id=tenant.tenant_id, agent_id=AGENT, body=SOP_FILE.read_bytes())
    ended = run_job(job.job_id, deps=_deps(model, store))
    if ended.status is not JobStatus.SUCCEEDED:
        raise RuntimeError(f"the benchmark job failed: {ended.error}")
    return store, job.job_id


def run() -> None:
    from oratio_local.creator_model import LocalCreatorModel

    tenant = load_tenant_file(TENANT_FILE)
    recording = RecordingModel(LocalCreatorModel(tenant))
    _job(recording)
    wall: dict[StageName, list[float]] = defaultdict(list)
    tokens: dict[StageName, tuple[int, int]] = {}
    attempts: dict[StageName, int] = {}
    cpu: list[float] = []
    for _ in range(RUNS):
        script = {stage: list(outputs) for stage, outputs in recording.answers.items()}
        started = time.process_time()
        store, job_id = _job(ScriptedModel(script=script))
        cpu.append(time.process_time() - started)
        view = store.get_job(tenant.tenant_id, job_id)
        per_stage: dict[StageName, float] = defaultdict(float)
        in_out: dict[StageName, list[int]] = defaultdict(lambda: [0, 0])
        counts: dict[StageName, int] = defaultdict(int)
        for record in view.stages:
            if record.finished_at is not None:
                per_stage[record.stage] += (record.finished_at - record.started_at).total_seconds() * 1000
            in_out[record.stage][0] += record.input_tokens
            in_out[record.stage][1] += record.output_tokens
            counts[record.stage] += 1
        for stage, ms in per_stage.items():
            wall[stage].append(ms)
        tokens = {stage: (values[0], values[1]) for stage, values in in_out.items()}
        attempts = dict(counts)
    print(f"AgentCreator — {SOP_FILE.relative_to(ROOT)}, scripted model (pipeline overhead), {RUNS} runs")
    print(f"  {'stage':<16} {'attempts':>8} {'wall ms (median)':>17} {'tokens in':>10} {'tokens out':>11}")
    for stage in StageName:
        if stage not in attempts:
            continue
        tin, tout = tokens.get(stage, (0, 0))
        print(f"  {stage.value:<16} {attempts[stage]:>8} {statistics.median(wall[stage]):>17.1f} {tin:>10} {tout:>11}")
    total_in = sum(t[0] for t in tokens.values())
    total_out = sum(t[1] for t in tokens.values())
    print(f"  whole job: CPU {statistics.median(cpu) * 1000:.0f} ms (median); tokens {total_in} in, {total_out} out")
    print("  (model latency and DynamoDB/S3 round trips excluded; the CPU figure is this process only, not the")
    print("   interpreter that loads agent.py in isolation; tokens estimated at 4 characters each)")
