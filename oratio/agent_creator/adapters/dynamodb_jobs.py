"""`DynamoDBJobStore`: AgentCreator's `JobStore` over the creator_jobs table (layout in `oratio.tables`), with
large outputs in S3 (`S3Artifacts`). Items hold the models as JSON; a tenant's key is the first part of every pk.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from oratio.adapters.dynamodb import CorruptItemError, _deserialize, _DynamoDBAdapter, _serialize
from oratio.agent_creator.adapters.s3_artifacts import S3Artifacts
from oratio.agent_creator.jobs import (
    CreatorJob,
    JobNotFoundError,
    JobStatus,
    JobStatusChangedError,
    JobView,
    StageRecord,
)

JOB_SK = "JOB"
STAGE_PREFIX = "STAGE#"
DEFAULT_RETENTION_SECONDS = 180 * 24 * 3600


def job_pk(tenant_id: str, job_id: str) -> str:
    return f"{tenant_id}#{job_id}"


class DynamoDBJobStore(_DynamoDBAdapter):
    def __init__(self, table: str, outputs: S3Artifacts, *, client: Any | None = None,
                 retention_seconds: int = DEFAULT_RETENTION_SECONDS) -> None:  # fmt: skip
        super().__init__(client)
        self.table, self.outputs, self.retention_seconds = table, outputs, retention_seconds

    def _job_item(self, job: CreatorJob) -> dict[str, Any]:
        return {
            "pk": job_pk(job.tenant_id, job.job_id),
            "sk": JOB_SK,
            "agent_key": f"{job.tenant_id}#{job.agent_id}",
            "created_at": job.created_at.isoformat(),
            "status": job.status.value,
            "job": job.model_dump_json(),
            "expires_at": int(job.created_at.timestamp()) + self.retention_seconds,
        }

    def create_job(self, job: CreatorJob) -> None:
        applied, _ = self._conditional("put_item", self.table, TableName=self.table,
                                       Item=_serialize(self._job_item(job)),
                                       ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
        if not applied:
            raise ValueError(f"job {job.job_id} already exists")

    def update_job(self, job: CreatorJob) -> None:
        applied, _ = self._conditional("put_item", self.table, TableName=self.table,
                                       Item=_serialize(self._job_item(job)),
                                       ConditionExpression="attribute_exists(pk)")  # fmt: skip
        if not applied:
            raise JobNotFoundError(job.job_id)

    def replace_job_if(self, job: CreatorJob, *, status_was: JobStatus) -> None:
        applied, _ = self._conditional("put_item", self.table, TableName=self.table,
                                       Item=_serialize(self._job_item(job)),
                                       ConditionExpression="attribute_exists(pk) AND #status = :was",
                                       ExpressionAttributeNames={"#status": "status"},
                                       ExpressionAttributeValues=_serialize({":was": status_was.value}))  # fmt: skip
        if not applied:
            raise JobStatusChangedError(job.job_id, status_was)

    def save_stage(self, tenant_id: str, record: StageRecord) -> None:
        # The pipeline saves stages only for a job it has just read, so no cross-item condition is needed.
        expires = int(time.time()) + self.retention_seconds
        item = {"pk": job_pk(tenant_id, record.job_id), "sk": f"{STAGE_PREFIX}{record.record_key}",
                "record": record.model_dump_json(), "expires_at": expires}  # fmt: skip
        self._call("put_item", self.table, TableName=self.table, Item=_serialize(item))

    def get_job(self, tenant_id: str, job_id: str) -> JobView:
        items: list[dict[str, Any]] = []
        values = _serialize({":pk": job_pk(tenant_id, job_id)})
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True,
                                  "KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": values}  # fmt: skip
        while True:
            page = self._call("query", self.table, **kwargs)
            items += [_deserialize(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        job_item = next((i for i in items if i["sk"] == JOB_SK), None)
        if job_item is None:
            raise JobNotFoundError(job_id)
        try:
            job = CreatorJob.model_validate_json(job_item["job"])
            stages = tuple(StageRecord.model_validate_json(i["record"]) for i in items
                           if str(i["sk"]).startswith(STAGE_PREFIX))  # fmt: skip
        except (KeyError, ValidationError) as e:
            raise CorruptItemError(f"creator job {job_id} has an invalid item") from e
        return JobView(job=job, stages=stages)

    def put_output(self, key: str, body: bytes) -> None:
        self.outputs.put(key, body, "application/json")

    def get_output(self, key: str) -> bytes:
        return self.outputs.get(key)
