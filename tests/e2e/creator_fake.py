"""A local fake of AgentCreator's two routes (POST /api/v1/agents/{agent_id}/sop, GET /api/v1/creator-jobs/{job_id}) in
their published contract (oratio/vendor/creator.py on the AgentCreator branch), for the console's browser tests
until the routes land on this branch. The job advances two stages per poll (the page polls every 1.5 s); its last
stage writes the candidate version through the real vendor API (PUT of the agent, which for an active agent is a
version awaiting publish), so approving it is the real publish."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.vendor_api_harness import VendorApi

STAGES = (
    "sop_parser",
    "plan_drafter",
    "plan_reviewer",
    "code_generator",
    "code_reviewer",
    "test_writer",
    "gate",
    "s3_writer",
)
STAGES_PER_POLL = 2
SOP = re.compile(r"^/api/v1/agents/(?P<agent>[A-Za-z0-9_-]+)/sop$")
JOB = re.compile(r"^/api/v1/creator-jobs/(?P<job>[A-Za-z0-9_-]+)$")


@dataclass
class FakeJob:
    job_id: str
    agent_id: str
    vendor: str
    sop: str
    polls: int = 0
    candidate: int | None = None


@dataclass
class FakeCreator:
    api: VendorApi
    jobs: dict[str, FakeJob] = field(default_factory=dict)

    def __call__(self, method: str, path: str, body: bytes, vendor: str) -> tuple[int, Any] | None:
        if method == "POST" and (m := SOP.match(path)):
            sop = str(json.loads(body or b"{}").get("sop", ""))
            if not sop.strip():
                return 400, {"error": "invalid_sop", "message": "the SOP is empty: paste its text or upload its file"}
            job = FakeJob(f"job-{len(self.jobs) + 1:04d}", m["agent"], vendor, sop)
            self.jobs[job.job_id] = job
            return 202, {
                "job_id": job.job_id,
                "agent_id": job.agent_id,
                "status": "queued",
                "attempts": 1,
                "location": f"/api/v1/creator-jobs/{job.job_id}",
            }
        if method == "GET" and (m := JOB.match(path)):
            found = self.jobs.get(m["job"])
            if found is None or found.vendor != vendor:
                return 404, {"error": "not_found", "message": "no such AgentCreator job"}
            return 200, self._advance(found)
        return None

    def _advance(self, job: FakeJob) -> dict[str, Any]:
        job.polls += 1
        done = min(STAGES_PER_POLL * job.polls, len(STAGES))
        now = datetime.now(UTC).isoformat()
        if done == len(STAGES) and job.candidate is None:
            agent = self.api.call("GET", f"/api/v1/agents/{job.agent_id}", vendor=job.vendor).body
            instructions = " ".join(line.strip("- ") for line in job.sop.splitlines() if line.strip())
            updated = self.api.call(
                "PUT",
                f"/api/v1/agents/{job.agent_id}",
                vendor=job.vendor,
                body={
                    "version": agent["version"],
                    "character_config": {**agent["character_config"], "extra_instructions": instructions},
                    "change_note": f"AgentCreator {job.job_id}",
                },
            ).body
            job.candidate = updated["latest_version"]
        stages = [
            {
                "stage": stage,
                "attempt": 1,
                "cycle": 0,
                "status": "succeeded" if i < done - 1 or job.candidate else "running",
                "started_at": now,
                "finished_at": now if i < done - 1 or job.candidate else None,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.001,
            }
            for i, stage in enumerate(STAGES[:done])
        ]
        finished = job.candidate is not None
        base = f"/api/v1/agents/{job.agent_id}/versions/{job.candidate}"
        return {
            "job_id": job.job_id,
            "agent_id": job.agent_id,
            "status": "succeeded" if finished else "running",
            "current_stage": None if finished else STAGES[done - 1],
            "attempts": 1,
            "sop_sha256": "0" * 64,
            "cost_usd": 0.001 * done,
            "created_at": now,
            "updated_at": now,
            "stages": stages,
            "report": {
                "traces": [
                    {
                        "requirement_id": "R1",
                        "kind": "behaviour",
                        "text": job.sop.splitlines()[0],
                        "plan_elements": ["P1"],
                        "definition_fields": ["character_config.extra_instructions"],
                        "test_scripts": ["r1_returns.yaml"],
                        "gate": "passed",
                    }
                ],
                "uncovered": [],
                "gate_failures": [],
                "review_cycles": 1,
                "approved_plan": True,
            }
            if finished
            else None,
            "candidate": {"version": job.candidate, "diff": f"{base}/diff", "publish": f"{base}/publish"}
            if finished
            else None,
        }
