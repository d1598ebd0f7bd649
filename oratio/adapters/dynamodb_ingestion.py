"""DynamoDB adapters of the ingestion ports (tables and access patterns in `oratio.tables`).

knowledge_documents  pk = "<vendor_id>#<agent_id>", sk = document_id (items created by the vendor API). The ingestion
                     Lambda only updates existing items (every write is conditioned on `attribute_exists(pk)`):
                     `status`, `size_bytes`, `detail`, `ingestion_job_id`, `updated_at`, and `upload_sequencer` (the
                     S3 sequencer of the last recorded upload, zero-padded so string order is event order).
tenant_state         pk = tenant_id, sk = "ingestion#pending": `uploads`, a string set of pending uploads (ADD /
                     DELETE, atomic); sk = "ingestion#current": the claimed ingestion (`claim_token`, `uploads`,
                     `claimed_at`, `job_id`), created only if absent, changed and deleted only by its claim token.

Every failure surfaces as a `DataAccessError` subclass raised from the botocore error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from oratio.adapters.dynamodb import CorruptItemError, _deserialize, _DynamoDBAdapter, _serialize
from oratio.adapters.dynamodb_vendor import document_pk
from oratio.vendors.ingestion import CurrentIngestion, DocumentRef, PendingUpload, UploadMark
from oratio.vendors.models import DocumentStatus

PENDING_SK = "ingestion#pending"
CURRENT_SK = "ingestion#current"


class DynamoDBDocumentStatusStore(_DynamoDBAdapter):
    """Status writes on knowledge documents; never creates an item (a key without a record is unknown)."""

    def __init__(self, documents_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = documents_table

    def _key(self, vendor_id: str, document: DocumentRef) -> dict[str, Any]:
        return {"pk": {"S": document_pk(vendor_id, document.agent_id)}, "sk": {"S": document.document_id}}

    def mark_uploaded(self, vendor_id: str, upload: PendingUpload, *, size_bytes: int, at: datetime) -> UploadMark:
        applied, response = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=self._key(vendor_id, upload.document),
            UpdateExpression=(
                "SET #status = :uploaded, size_bytes = :size, updated_at = :at, upload_sequencer = :seq "
                "REMOVE detail, ingestion_job_id"
            ),
            # The key check makes sure the object is the one the vendor API announced for this document; the
            # sequencer check drops S3's redeliveries and out-of-order older notifications.
            ConditionExpression=(
                "attribute_exists(pk) AND s3_key = :key "
                "AND (attribute_not_exists(upload_sequencer) OR upload_sequencer < :seq)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_serialize(
                {
                    ":uploaded": DocumentStatus.UPLOADED.value,
                    ":size": size_bytes,
                    ":at": at.isoformat(),
                    ":seq": upload.sequencer,
                    ":key": upload.s3_key,
                }
            ),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if applied:
            return UploadMark.MARKED
        old = _deserialize(response.get("Item") or {})
        if old.get("s3_key") == upload.s3_key:
            return UploadMark.DUPLICATE
        return UploadMark.UNKNOWN_DOCUMENT

    def mark_ingesting(self, vendor_id: str, document: DocumentRef, *, job_id: str, at: datetime) -> bool:
        applied, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=self._key(vendor_id, document),
            UpdateExpression="SET #status = :ingesting, ingestion_job_id = :job, updated_at = :at REMOVE detail",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_serialize(
                {":ingesting": DocumentStatus.INGESTING.value, ":job": job_id, ":at": at.isoformat()}
            ),
        )
        return applied

    def mark_finished(
        self,
        vendor_id: str,
        document: DocumentRef,
        *,
        job_id: str,
        status: DocumentStatus,
        detail: str | None,
        at: datetime,
    ) -> bool:
        values: dict[str, Any] = {":status": status.value, ":job": job_id, ":at": at.isoformat()}
        if detail is None:
            update = "SET #status = :status, updated_at = :at REMOVE detail"
        else:
            update = "SET #status = :status, updated_at = :at, detail = :detail"
            values[":detail"] = detail
        applied, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=self._key(vendor_id, document),
            UpdateExpression=update,
            # Only the job the document is in may settle it: a re-upload since then waits for its own job.
            ConditionExpression="attribute_exists(pk) AND ingestion_job_id = :job",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=_serialize(values),
        )
        return applied


class DynamoDBIngestionStateStore(_DynamoDBAdapter):
    """The tenant's pending uploads and current ingestion in tenant_state."""

    def __init__(self, tenant_state_table: str, *, client: Any | None = None) -> None:
        super().__init__(client)
        self._table = tenant_state_table

    def _key(self, tenant_id: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": tenant_id}, "sk": {"S": sk}}

    def add_pending(self, tenant_id: str, uploads: Collection[PendingUpload]) -> None:
        self._change_pending(tenant_id, "ADD", uploads)

    def _change_pending(
        self, tenant_id: str, operation: Literal["ADD", "DELETE"], uploads: Collection[PendingUpload]
    ) -> None:
        """Add uploads to, or remove them from, the pending set, atomically (a set operation on one item)."""
        if not uploads:
            return
        self._call(
            "update_item",
            self._table,
            TableName=self._table,
            Key=self._key(tenant_id, PENDING_SK),
            UpdateExpression=f"{operation} uploads :uploads",
            ExpressionAttributeValues={":uploads": {"SS": sorted(u.member for u in uploads)}},
        )

    def pending(self, tenant_id: str) -> frozenset[PendingUpload]:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key=self._key(tenant_id, PENDING_SK),
            ConsistentRead=True,
        )
        item = _deserialize(response.get("Item") or {})
        return _uploads(item, PENDING_SK)

    def remove_pending(self, tenant_id: str, uploads: Collection[PendingUpload]) -> None:
        self._change_pending(tenant_id, "DELETE", uploads)

    def current(self, tenant_id: str) -> CurrentIngestion | None:
        response = self._call(
            "get_item",
            self._table,
            TableName=self._table,
            Key=self._key(tenant_id, CURRENT_SK),
            ConsistentRead=True,
        )
        if "Item" not in response:
            return None
        item = _deserialize(response["Item"])
        try:
            return CurrentIngestion(
                claim_token=item.get("claim_token", ""),
                uploads=_uploads(item, CURRENT_SK),
                claimed_at=item.get("claimed_at", ""),
                job_id=item.get("job_id"),
            )
        except ValidationError as e:
            raise CorruptItemError(f"tenant_state item {tenant_id}/{CURRENT_SK} is invalid") from e

    def claim(self, tenant_id: str, claim: CurrentIngestion) -> bool:
        item: dict[str, Any] = {
            "pk": tenant_id,
            "sk": CURRENT_SK,
            "claim_token": claim.claim_token,
            "claimed_at": claim.claimed_at.isoformat(),
            "job_id": claim.job_id,
        }
        serialized = _serialize(item)
        if claim.uploads:  # a string set cannot be empty
            serialized["uploads"] = {"SS": sorted(u.member for u in claim.uploads)}
        applied, _ = self._conditional(
            "put_item",
            self._table,
            TableName=self._table,
            Item=serialized,
            ConditionExpression="attribute_not_exists(pk)",
        )
        return applied

    def record_job(self, tenant_id: str, claim_token: str, job_id: str) -> bool:
        applied, _ = self._conditional(
            "update_item",
            self._table,
            TableName=self._table,
            Key=self._key(tenant_id, CURRENT_SK),
            UpdateExpression="SET job_id = :job",
            ConditionExpression="claim_token = :token",
            ExpressionAttributeValues={":job": {"S": job_id}, ":token": {"S": claim_token}},
        )
        return applied

    def release(self, tenant_id: str, claim_token: str) -> bool:
        applied, _ = self._conditional(
            "delete_item",
            self._table,
            TableName=self._table,
            Key=self._key(tenant_id, CURRENT_SK),
            ConditionExpression="claim_token = :token",
            ExpressionAttributeValues={":token": {"S": claim_token}},
        )
        return applied


def _uploads(item: Mapping[str, Any], sk: str) -> frozenset[PendingUpload]:
    try:
        return frozenset(PendingUpload.from_member(m) for m in item.get("uploads", set()))
    except (ValueError, ValidationError) as e:
        raise CorruptItemError(f"tenant_state item {item.get('pk')}/{sk} holds an invalid upload") from e
