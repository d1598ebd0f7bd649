"""AgentCreator's AWS adapters on moto: the job store (DynamoDB + S3 large outputs) and the artifact bucket, and
a whole local-model run writing through them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from oratio.agent_creator.adapters.dynamodb_jobs import DynamoDBJobStore
from oratio.agent_creator.adapters.s3_artifacts import ArtifactNotFoundError, S3Artifacts
from oratio.agent_creator.jobs import JobNotFoundError, JobStatus, StageName, run_job, submit_sop
from oratio.tables import CREATOR_JOBS
from oratio_local.dynamodb import create_tables
from tests.unit.agent_creator_support import AGENT_ID, harness, sop

BUCKET = "oratio-artifacts-test"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, str]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        names = create_tables(dynamodb, (CREATOR_JOBS,))
        yield dynamodb, s3, names["creator_jobs"]


def test_a_job_runs_through_dynamodb_and_s3_and_reads_back_stage_by_stage(aws: tuple[Any, Any, str]) -> None:
    dynamodb, s3, table = aws
    artifacts = S3Artifacts(BUCKET, client=s3)
    store = DynamoDBJobStore(table, artifacts, client=dynamodb)
    h = harness()
    h.deps.store, h.deps.artifacts = store, artifacts
    job = submit_sop(store, tenant_id=h.deps.tenant.tenant_id, agent_id=AGENT_ID, body=sop())

    done = run_job(job.job_id, deps=h.deps)

    assert done.status is JobStatus.SUCCEEDED, done.error
    view = store.get_job(done.tenant_id, done.job_id)
    assert view.job.candidate_version == 1
    assert [r.stage for r in view.stages] == list(StageName)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    prefix = f"agent-creator/{done.tenant_id}/{AGENT_ID}/{done.job_id}/"
    assert {f"{prefix}agent.py", f"{prefix}manifest.json", f"{prefix}sop.md", f"{prefix}report.json"} <= keys
    assert s3.get_object(Bucket=BUCKET, Key=f"{prefix}agent.py")["ContentType"] == "text/x-python"
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"{done.tenant_id}#{done.job_id}"}, "sk": {"S": "JOB"}})
    assert item["Item"]["agent_key"]["S"] == f"{done.tenant_id}#{AGENT_ID}"


def test_a_job_is_invisible_to_another_tenant_and_unknown_jobs_are_not_found(aws: tuple[Any, Any, str]) -> None:
    dynamodb, s3, table = aws
    store = DynamoDBJobStore(table, S3Artifacts(BUCKET, client=s3), client=dynamodb)
    job = submit_sop(store, tenant_id="cozy-comfort", agent_id=AGENT_ID, body=b"# SOP\n- Say hello\n")
    assert store.get_job("cozy-comfort", job.job_id).job == job
    with pytest.raises(JobNotFoundError):
        store.get_job("bright-smile-dental", job.job_id)
    with pytest.raises(ValueError, match="already exists"):
        store.create_job(job)
    with pytest.raises(JobNotFoundError):
        store.update_job(job.model_copy(update={"job_id": "job-00000000"}))


def test_the_artifact_store_writes_only_under_its_prefix_and_says_when_a_key_is_missing(
    aws: tuple[Any, Any, str],
) -> None:
    _, s3, _ = aws
    artifacts = S3Artifacts(BUCKET, client=s3)
    with pytest.raises(ValueError, match="only under"):
        artifacts.put("tenants/cozy-comfort.yaml", b"x", "text/plain")
    with pytest.raises(ArtifactNotFoundError):
        artifacts.get("agent-creator/none")
