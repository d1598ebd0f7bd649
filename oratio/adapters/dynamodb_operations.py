"""DynamoDB and S3 adapters of the vendor API's operations ports (`oratio.vendors.operations`).

usage           pk = vendor_id, sk = "DAY#<YYYY-MM-DD>#total|category#<c>|agent#<a>": one Query per range
audit           pk = vendor_id, sk = "<iso time>#<request id>": a put only if the key is new; Query newest first
conversations   sk = "ANALYSIS": the post-call analysis of a conversation
recordings      Amazon Connect's call recordings in the tenant's bucket, found by the contact id under the day's
                prefix and handed out as a presigned GET
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oratio.adapters.dynamodb import DataAccessError, _deserialize, _DynamoDBAdapter, _serialize
from oratio.adapters.dynamodb_agent import from_dynamo, to_dynamo
from oratio.adapters.dynamodb_vendor import InvalidPageToken
from oratio.adapters.memory_agent import USAGE_DAY_PREFIX
from oratio.vendors.operations import AuditEntry
from oratio.vendors.ports import TenantDirectory

ANALYSIS_SK = "ANALYSIS"
RECORDINGS_PREFIX = "call-recordings"  # the instance storage config's prefix (stacks/constructs/connect.py)
# SigV4 presigning (X-Amz-Expires): required for KMS-encrypted objects, and what AWS recommends.
S3_CONFIG = Config(
    signature_version="s3v4", connect_timeout=1, read_timeout=3, retries={"mode": "standard", "max_attempts": 3}
)


class DynamoDBUsageRows(_DynamoDBAdapter):
    def __init__(self, usage_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = usage_table

    def day_rows(self, vendor_id: str, start: date, end: date) -> list[tuple[str, str, str, float]]:
        rows: list[tuple[str, str, str, float]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {
                ":pk": {"S": vendor_id},
                ":from": {"S": f"{USAGE_DAY_PREFIX}{start.isoformat()}"},
                ":to": {"S": f"{USAGE_DAY_PREFIX}{end.isoformat()}#~"},
            },
            "ProjectionExpression": "sk, usd",
        }
        while True:
            response = self._call("query", self._table, **request)
            for item in response.get("Items", []):
                day, _, rest = item["sk"]["S"].removeprefix(USAGE_DAY_PREFIX).partition("#")
                kind, _, name = rest.partition("#")
                rows.append((day, kind, name, float(item["usd"]["N"])))
            if "LastEvaluatedKey" not in response:
                return rows
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class DynamoDBAuditLog(_DynamoDBAdapter):
    """Append-only: every write is a put conditioned on a key never used (the role has no update or delete)."""

    def __init__(self, audit_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = audit_table

    def append(self, vendor_id: str, entry: AuditEntry) -> None:
        item = {
            "pk": vendor_id,
            "sk": f"{entry.at.isoformat()}#{entry.request_id}",
            **to_dynamo(entry.model_dump(mode="json")),
        }
        applied, _ = self._conditional(
            "put_item",
            self._table,
            TableName=self._table,
            Item=_serialize(item),
            ConditionExpression="attribute_not_exists(pk)",
        )
        if not applied:
            raise DataAccessError(f"DynamoDB put_item on {self._table}: audit entry {entry.request_id} already exists")

    def entries(self, vendor_id: str, limit: int, next_token: str | None) -> tuple[list[AuditEntry], str | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": vendor_id}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            request["ExclusiveStartKey"] = {"pk": {"S": vendor_id}, "sk": {"S": _decode_token(next_token)}}
        response = self._call("query", self._table, **request)
        items = [
            AuditEntry.model_validate(
                {k: from_dynamo(v) for k, v in _deserialize(i).items() if k in AuditEntry.model_fields}
            )
            for i in response.get("Items", [])
        ]
        last = response.get("LastEvaluatedKey")
        token = base64.urlsafe_b64encode(last["sk"]["S"].encode()).decode() if last else None
        return items, token


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise InvalidPageToken() from e


class DynamoDBAnalysisStore(_DynamoDBAdapter):
    """A conversation's post-call analysis: its ANALYSIS item."""

    def __init__(self, conversations_table: str, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = conversations_table

    def analysis(self, tenant_id: str, contact_id: str) -> dict[str, Any] | None:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key={"pk": {"S": f"{tenant_id}#{contact_id}"}, "sk": {"S": ANALYSIS_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        stored = from_dynamo(_deserialize(item))
        return json.loads(stored["analysis"]) if isinstance(stored.get("analysis"), str) else None

    def put(self, tenant_id: str, contact_id: str, analysis: dict[str, Any], expires_at: int) -> None:
        self._call(
            "put_item",
            self._table,
            TableName=self._table,
            Item=_serialize(
                {
                    "pk": f"{tenant_id}#{contact_id}",
                    "sk": ANALYSIS_SK,
                    "analysis": json.dumps(analysis, separators=(",", ":")),
                    "expires_at": expires_at,
                }
            ),
        )


class S3RecordingSigner:
    """Finds a call's recording in the tenant's recordings bucket and presigns a GET of it (SigV4, offline)."""

    def __init__(self, directory: TenantDirectory, client: Any | None = None) -> None:
        self._directory = directory
        self._client_instance = client

    @property
    def _client(self) -> Any:
        if self._client_instance is None:
            self._client_instance = boto3.client("s3", config=S3_CONFIG)
        return self._client_instance

    def recording_url(
        self, vendor_id: str, conversation_id: str, started_at: datetime, expires_seconds: int
    ) -> str | None:
        deployment = self._directory.deployment(vendor_id)
        if not deployment.recordings_bucket or not deployment.connect_instance_arn:
            return None
        instance_id = deployment.connect_instance_arn.rsplit("/", 1)[-1]
        # Connect writes <prefix>/<instance id>/CallRecordings/<YYYY>/<MM>/<DD>/<contact id>_<time>.wav (UTC day).
        prefix = f"{RECORDINGS_PREFIX}/{instance_id}/CallRecordings/{started_at:%Y/%m/%d}/{conversation_id}"
        try:
            listed = self._client.list_objects_v2(Bucket=deployment.recordings_bucket, Prefix=prefix, MaxKeys=1)
        except (ClientError, BotoCoreError) as e:
            raise DataAccessError(f"S3 list_objects_v2 on {deployment.recordings_bucket}: {type(e).__name__}") from e
        contents = listed.get("Contents") or []
        if not contents:
            return None
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": deployment.recordings_bucket, "Key": contents[0]["Key"]},
            ExpiresIn=expires_seconds,
        )
        return url
