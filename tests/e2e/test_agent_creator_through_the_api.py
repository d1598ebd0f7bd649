"""AgentCreator end to end through the vendor API (the demo's step): each example SOP goes in as Markdown, the job
runs the real pipeline (local stage model, DynamoDB and S3 on moto), the candidate is an unpublished version until
the vendor publishes it, and the audit log records the start and the approval."""

from __future__ import annotations

from pathlib import Path

import pytest

from oratio.config import load_tenants
from oratio_local.creator_demo import SOPS_DIR, play_agent_creator, sop_for
from oratio_local.demo import local_aws

REPO = Path(__file__).resolve().parents[2]
TENANTS = [t for t in load_tenants(REPO / "tenants") if sop_for(t) is not None]


@pytest.mark.parametrize("tenant", TENANTS, ids=lambda t: t.tenant_id)
def test_a_tenants_sop_becomes_a_candidate_that_goes_live_only_when_approved(tenant) -> None:  # type: ignore[no-untyped-def]
    with local_aws() as client:
        run = play_agent_creator(tenant, REPO / "tenants", client, SOPS_DIR / f"{tenant.tenant_id}.md")

    assert run.accepted["status"] == "queued"
    assert run.job["status"] == "succeeded", run.job.get("error")
    candidate = run.job["candidate"]["version"]
    assert run.version_diff is not None
    assert run.version_diff["from_version"] == 1  # the candidate was not live before the publish
    assert run.version_diff["to_version"] == candidate
    assert run.version_diff["changes"]
    assert run.published is not None
    assert run.published["live_version"] == candidate
    assert run.job["report"] is not None
    assert {"agentcreator.start", "agentcreator.approve"} <= set(run.audit)
