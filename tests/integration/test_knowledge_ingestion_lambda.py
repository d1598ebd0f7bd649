"""The knowledge-ingestion Lambda end to end: real-shaped SQS batches of S3 notifications and EventBridge scheduled
events, DynamoDB on moto, and bedrock-agent through botocore's Stubber (moto has no ingestion-job API; the Stubber
checks every request against the service model)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.config import Config
from botocore.stub import ANY, Stubber

from oratio.adapters.bedrock_ingestion import (
    BedrockIngestionJobs,
    IngestionApiConflictError,
    IngestionApiNotFoundError,
    IngestionApiUnavailableError,
)
from oratio.adapters.dynamodb_ingestion import (
    CURRENT_SK,
    PENDING_SK,
    DynamoDBDocumentStatusStore,
    DynamoDBIngestionStateStore,
)
from oratio.adapters.dynamodb_vendor import DynamoDBDocumentRepository
from oratio.adapters.memory import FixedClock
from oratio.domain.call_events import TENANT_ID_ENV_VAR
from oratio.tables import KNOWLEDGE_DOCUMENTS, TENANT_STATE
from oratio.vendors.ingestion import (
    DATA_SOURCE_ID_ENV_VAR,
    KNOWLEDGE_BASE_ID_ENV_VAR,
    KNOWLEDGE_BUCKET_ENV_VAR,
    CurrentIngestion,
    DocumentIngestionState,
    DocumentRef,
    IngestionJobConflict,
    JobStatus,
    PendingUpload,
    UploadMark,
)
from oratio.vendors.models import DocumentStatus
from oratio.vendors.ports import KnowledgeDocument
from oratio.vendors.service import upload_key
from oratio_local.events import (
    lambda_context,
    s3_object_created_notification,
    s3_test_event,
    scheduled_event,
    sqs_event,
)
from tests.integration.conftest import REGION, load_handler, table_name

TENANT = "cozy-comfort"
AGENT = "agt-front-desk"
KB_ID = "KB12345678"
DS_ID = "DS12345678"
BUCKET = "oratio-cozy-comfort-knowledge-documents"
T0 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
FILE_NAME = "Returns policy (2026).pdf"


def job_payload(
    job_id: str, status: str, *, failed: int = 0, scanned: int = 1, reasons: list[str] | None = None
) -> dict[str, Any]:
    job: dict[str, Any] = {
        "knowledgeBaseId": KB_ID,
        "dataSourceId": DS_ID,
        "ingestionJobId": job_id,
        "status": status,
        "statistics": {"numberOfDocumentsScanned": scanned, "numberOfDocumentsFailed": failed},
        "startedAt": T0,
        "updatedAt": T0,
    }
    if reasons:
        job["failureReasons"] = reasons
    return {"ingestionJob": job}


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    # One attempt: each stubbed answer is seen by the adapter as is (botocore's retries would ask for more).
    client = boto3.client("bedrock-agent", region_name=REGION, config=Config(retries={"max_attempts": 1}))
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def documents(dynamodb: Any) -> DynamoDBDocumentRepository:
    """The vendor API's document repository with two announced documents (awaiting upload)."""
    repository = DynamoDBDocumentRepository(table_name(KNOWLEDGE_DOCUMENTS), client=dynamodb)
    for document_id in ("doc-a", "doc-b"):
        repository.create(
            KnowledgeDocument(
                vendor_id=TENANT,
                agent_id=AGENT,
                document_id=document_id,
                file_name=FILE_NAME,
                content_type="application/pdf",
                size_bytes=5_000_000,
                s3_key=upload_key(AGENT, document_id, FILE_NAME),
                status=DocumentStatus.AWAITING_UPLOAD,
                created_at=T0 - timedelta(minutes=2),
                updated_at=T0 - timedelta(minutes=2),
            )
        )
    return repository


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, dynamodb: Any, bedrock: tuple[Any, Stubber], documents: Any) -> ModuleType:
    monkeypatch.setenv(TENANT_ID_ENV_VAR, TENANT)
    monkeypatch.setenv(KNOWLEDGE_BASE_ID_ENV_VAR, KB_ID)
    monkeypatch.setenv(DATA_SOURCE_ID_ENV_VAR, DS_ID)
    monkeypatch.setenv(KNOWLEDGE_BUCKET_ENV_VAR, BUCKET)
    monkeypatch.setenv(KNOWLEDGE_DOCUMENTS.env_var, table_name(KNOWLEDGE_DOCUMENTS))
    monkeypatch.setenv(TENANT_STATE.env_var, table_name(TENANT_STATE))
    module = load_handler("knowledge_ingestion")
    module.clock = FixedClock(T0)
    module.bedrock_agent = bedrock[0]
    return module


def invoke(handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-knowledge-ingestion"))
    return result


def upload_event(document_id: str, *, sequencer: str = "0062E99A88DC407460", size: int = 48_213) -> dict[str, Any]:
    return s3_object_created_notification(
        BUCKET, upload_key(AGENT, document_id, FILE_NAME), size=size, sequencer=sequencer
    )


def expect_start(stubber: Stubber, job_id: str) -> None:
    stubber.add_response(
        "start_ingestion_job",
        job_payload(job_id, "STARTING"),
        {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "clientToken": ANY, "description": ANY},
    )


def state_item(dynamodb: Any, sk: str) -> dict[str, Any] | None:
    response = dynamodb.get_item(
        TableName=table_name(TENANT_STATE), Key={"pk": {"S": TENANT}, "sk": {"S": sk}}, ConsistentRead=True
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


def stored(documents: DynamoDBDocumentRepository, document_id: str) -> KnowledgeDocument:
    document = documents.get(TENANT, AGENT, document_id)
    assert document is not None
    return document


# ---------------------------------------------------------------------------------------- uploads
def test_an_upload_notification_marks_the_document_uploaded_and_starts_an_ingestion_job(
    handler: ModuleType, bedrock: tuple[Any, Stubber], documents: DynamoDBDocumentRepository, dynamodb: Any
) -> None:
    expect_start(bedrock[1], "JOBAAAAAA1")

    result = invoke(handler, sqs_event(upload_event("doc-a", size=48_213)))

    assert result == {"batchItemFailures": []}
    document = stored(documents, "doc-a")
    assert document.status is DocumentStatus.INGESTING
    assert document.size_bytes == 48_213  # the object's real size, not the announced one
    assert document.ingestion_job_id == "JOBAAAAAA1"
    current = state_item(dynamodb, CURRENT_SK)
    assert current is not None
    assert current["job_id"] == {"S": "JOBAAAAAA1"}
    assert state_item(dynamodb, PENDING_SK) in (None, {"pk": {"S": TENANT}, "sk": {"S": PENDING_SK}})


def test_the_s3_test_event_is_acknowledged_and_ignored(
    handler: ModuleType, documents: DynamoDBDocumentRepository, dynamodb: Any
) -> None:
    result = invoke(handler, sqs_event(s3_test_event(BUCKET)))

    assert result == {"batchItemFailures": []}
    assert stored(documents, "doc-a").status is DocumentStatus.AWAITING_UPLOAD
    assert state_item(dynamodb, CURRENT_SK) is None


def test_a_stray_key_is_skipped_and_the_batch_goes_on(
    handler: ModuleType, bedrock: tuple[Any, Stubber], documents: DynamoDBDocumentRepository
) -> None:
    expect_start(bedrock[1], "JOBAAAAAA1")
    stray = s3_object_created_notification(BUCKET, "uploads/agt-front-desk/doc-unknown/x.pdf")
    not_an_upload = s3_object_created_notification(BUCKET, "manual/notes.txt")

    result = invoke(handler, sqs_event(stray, not_an_upload, upload_event("doc-b")))

    assert result == {"batchItemFailures": []}
    assert stored(documents, "doc-b").status is DocumentStatus.INGESTING


def test_an_unreadable_message_is_reported_back_alone(
    handler: ModuleType, bedrock: tuple[Any, Stubber], documents: DynamoDBDocumentRepository
) -> None:
    expect_start(bedrock[1], "JOBAAAAAA1")
    event = sqs_event("this is not json", {"Records": [{"eventName": "ObjectCreated:Put"}]}, upload_event("doc-a"))

    result = invoke(handler, event)

    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed == {event["Records"][0]["messageId"], event["Records"][1]["messageId"]}
    assert stored(documents, "doc-a").status is DocumentStatus.INGESTING


def test_an_upload_while_bedrock_runs_another_job_stays_pending(
    handler: ModuleType, bedrock: tuple[Any, Stubber], documents: DynamoDBDocumentRepository, dynamodb: Any
) -> None:
    bedrock[1].add_client_error(
        "start_ingestion_job",
        service_error_code="ConflictException",
        service_message="An ingestion job is already in progress for this data source",
        http_status_code=409,
    )

    result = invoke(handler, sqs_event(upload_event("doc-a")))

    assert result == {"batchItemFailures": []}
    assert stored(documents, "doc-a").status is DocumentStatus.UPLOADED
    assert state_item(dynamodb, CURRENT_SK) is None
    pending = state_item(dynamodb, PENDING_SK)
    assert pending is not None
    assert len(pending["uploads"]["SS"]) == 1


def test_bedrock_throttling_fails_the_message_and_the_next_tick_starts_the_job(
    handler: ModuleType, bedrock: tuple[Any, Stubber], documents: DynamoDBDocumentRepository
) -> None:
    bedrock[1].add_client_error("start_ingestion_job", service_error_code="ThrottlingException", http_status_code=429)

    with pytest.raises(BatchProcessingError):  # every message of the batch failed: Lambda reports an error
        invoke(handler, sqs_event(upload_event("doc-a")))
    assert stored(documents, "doc-a").status is DocumentStatus.UPLOADED

    expect_start(bedrock[1], "JOBAAAAAA2")
    tick = invoke(handler, scheduled_event())

    assert tick["action"] == "idle"
    assert stored(documents, "doc-a").status is DocumentStatus.INGESTING


# ------------------------------------------------------------------------------------------ ticks
@pytest.mark.parametrize(
    ("status", "reasons", "failed", "expected", "detail"),
    [
        ("COMPLETE", None, 0, DocumentStatus.INDEXED, None),
        ("FAILED", ["The embedding model is not enabled in this account"], 0, DocumentStatus.FAILED, "not enabled"),
        ("STOPPED", None, 0, DocumentStatus.FAILED, "stopped"),
    ],
)
def test_the_schedule_records_a_finished_job_on_its_documents(
    handler: ModuleType,
    bedrock: tuple[Any, Stubber],
    documents: DynamoDBDocumentRepository,
    dynamodb: Any,
    status: str,
    reasons: list[str] | None,
    failed: int,
    expected: DocumentStatus,
    detail: str | None,
) -> None:
    expect_start(bedrock[1], "JOBAAAAAA1")
    invoke(handler, sqs_event(upload_event("doc-a")))
    bedrock[1].add_response(
        "get_ingestion_job",
        job_payload("JOBAAAAAA1", status, reasons=reasons, failed=failed),
        {"knowledgeBaseId": KB_ID, "dataSourceId": DS_ID, "ingestionJobId": "JOBAAAAAA1"},
    )

    result = invoke(handler, scheduled_event())

    assert result["action"] == "finished"
    document = stored(documents, "doc-a")
    assert document.status is expected
    assert (document.detail is None) if detail is None else (detail in (document.detail or ""))
    assert state_item(dynamodb, CURRENT_SK) is None


def test_a_document_bedrock_could_not_index_gets_bedrocks_reason(
    handler: ModuleType, bedrock: tuple[Any, Stubber], documents: DynamoDBDocumentRepository
) -> None:
    expect_start(bedrock[1], "JOBAAAAAA1")
    invoke(handler, sqs_event(upload_event("doc-a")))
    bedrock[1].add_response("get_ingestion_job", job_payload("JOBAAAAAA1", "COMPLETE", scanned=4, failed=1))
    uri = f"s3://{BUCKET}/{upload_key(AGENT, 'doc-a', FILE_NAME)}"
    bedrock[1].add_response(
        "get_knowledge_base_documents",
        {
            "documentDetails": [
                {
                    "knowledgeBaseId": KB_ID,
                    "dataSourceId": DS_ID,
                    "status": "FAILED",
                    "identifier": {"dataSourceType": "S3", "s3": {"uri": uri}},
                    "statusReason": "The file is encrypted and cannot be parsed",
                }
            ]
        },
        {
            "knowledgeBaseId": KB_ID,
            "dataSourceId": DS_ID,
            "documentIdentifiers": [{"dataSourceType": "S3", "s3": {"uri": uri}}],
        },
    )

    invoke(handler, scheduled_event())

    document = stored(documents, "doc-a")
    assert document.status is DocumentStatus.FAILED
    assert document.detail is not None
    assert "encrypted" in document.detail


def test_uploads_during_a_job_get_the_next_job_when_the_schedule_sees_it_finish(
    handler: ModuleType, bedrock: tuple[Any, Stubber], documents: DynamoDBDocumentRepository
) -> None:
    expect_start(bedrock[1], "JOBAAAAAA1")
    invoke(handler, sqs_event(upload_event("doc-a")))
    invoke(handler, sqs_event(upload_event("doc-b")))  # claimed: Bedrock is not even asked
    assert stored(documents, "doc-b").status is DocumentStatus.UPLOADED
    bedrock[1].add_response("get_ingestion_job", job_payload("JOBAAAAAA1", "IN_PROGRESS"))
    assert invoke(handler, scheduled_event())["action"] == "running"
    bedrock[1].add_response("get_ingestion_job", job_payload("JOBAAAAAA1", "COMPLETE"))
    expect_start(bedrock[1], "JOBAAAAAA2")

    result = invoke(handler, scheduled_event())

    assert result == {"action": "finished", "indexed": 1, "failed": 0}
    assert stored(documents, "doc-a").status is DocumentStatus.INDEXED
    assert stored(documents, "doc-b").ingestion_job_id == "JOBAAAAAA2"
    assert stored(documents, "doc-b").status is DocumentStatus.INGESTING


def test_an_event_that_is_neither_sqs_nor_the_schedule_is_refused(handler: ModuleType) -> None:
    with pytest.raises(ValueError, match="neither an SQS batch nor the ingestion schedule"):
        invoke(handler, {"hello": "world"})


# ---------------------------------------------------------------------------------------- adapters
def test_the_claim_admits_one_ingestion_and_only_its_owner_can_release_it(dynamodb: Any) -> None:
    store = DynamoDBIngestionStateStore(table_name(TENANT_STATE), client=dynamodb)
    upload = PendingUpload(
        document=DocumentRef(agent_id=AGENT, document_id="doc-a"), sequencer="0" * 40, file_name=FILE_NAME
    )
    first = CurrentIngestion(claim_token="oratio-" + "a" * 32, uploads=frozenset({upload}), claimed_at=T0)
    second = CurrentIngestion(claim_token="oratio-" + "b" * 32, uploads=frozenset(), claimed_at=T0)

    assert store.claim(TENANT, first)
    assert not store.claim(TENANT, second)
    assert not store.record_job(TENANT, second.claim_token, "JOBBBBBBB1")
    assert store.record_job(TENANT, first.claim_token, "JOBAAAAAA1")
    assert store.current(TENANT) == first.model_copy(update={"job_id": "JOBAAAAAA1"})
    assert not store.release(TENANT, second.claim_token)
    assert store.release(TENANT, first.claim_token)
    assert store.current(TENANT) is None


def test_removing_a_jobs_uploads_keeps_uploads_added_meanwhile(dynamodb: Any) -> None:
    store = DynamoDBIngestionStateStore(table_name(TENANT_STATE), client=dynamodb)
    uploads = [
        PendingUpload(document=DocumentRef(agent_id=AGENT, document_id=d), sequencer=s * 40, file_name=FILE_NAME)
        for d, s in (("doc-a", "1"), ("doc-b", "2"), ("doc-a", "3"))
    ]
    store.add_pending(TENANT, uploads[:2])
    snapshot = store.pending(TENANT)
    store.add_pending(TENANT, uploads[2:])  # a re-upload of doc-a arrives while the job starts

    store.remove_pending(TENANT, snapshot)

    assert store.pending(TENANT) == frozenset(uploads[2:])


def test_upload_marks_tell_duplicates_from_unknown_documents(
    dynamodb: Any, documents: DynamoDBDocumentRepository
) -> None:
    store = DynamoDBDocumentStatusStore(table_name(KNOWLEDGE_DOCUMENTS), client=dynamodb)
    ref = DocumentRef(agent_id=AGENT, document_id="doc-a")
    upload = PendingUpload(document=ref, sequencer="5" * 40, file_name=FILE_NAME)
    wrong_file = upload.model_copy(update={"file_name": "other.pdf"})
    missing = upload.model_copy(update={"document": DocumentRef(agent_id=AGENT, document_id="doc-zz")})

    assert store.mark_uploaded(TENANT, upload, size_bytes=10, at=T0) is UploadMark.MARKED
    assert store.mark_uploaded(TENANT, upload, size_bytes=10, at=T0) is UploadMark.DUPLICATE
    assert store.mark_uploaded(TENANT, wrong_file, size_bytes=10, at=T0) is UploadMark.UNKNOWN_DOCUMENT
    assert store.mark_uploaded(TENANT, missing, size_bytes=10, at=T0) is UploadMark.UNKNOWN_DOCUMENT
    assert documents.get(TENANT, AGENT, "doc-zz") is None  # never creates a record
    assert not store.mark_finished(
        TENANT, ref, job_id="JOBAAAAAA1", status=DocumentStatus.INDEXED, detail=None, at=T0
    )  # not in that job


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ConflictException", 409, IngestionApiConflictError),
        ("ResourceNotFoundException", 404, IngestionApiNotFoundError),
        ("ThrottlingException", 429, IngestionApiUnavailableError),
    ],
)
def test_bedrock_errors_are_typed_and_chained(
    bedrock: tuple[Any, Stubber], code: str, status: int, error: type[Exception]
) -> None:
    client, stubber = bedrock
    stubber.add_client_error("start_ingestion_job", service_error_code=code, http_status_code=status)
    jobs = BedrockIngestionJobs(KB_ID, DS_ID, BUCKET, client=client)

    with pytest.raises(error) as raised:
        jobs.start("oratio-" + "c" * 32, "test")

    assert raised.value.__cause__ is not None
    assert isinstance(raised.value, IngestionJobConflict) is (code == "ConflictException")


def test_document_lookups_go_ten_at_a_time(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    keys = [f"uploads/{AGENT}/doc-{i:02d}/{FILE_NAME}" for i in range(12)]
    for batch in (keys[:10], keys[10:]):
        stubber.add_response(
            "get_knowledge_base_documents",
            {
                "documentDetails": [
                    {
                        "knowledgeBaseId": KB_ID,
                        "dataSourceId": DS_ID,
                        "status": "INDEXED",
                        "identifier": {"dataSourceType": "S3", "s3": {"uri": f"s3://{BUCKET}/{k}"}},
                    }
                    for k in batch
                ]
            },
            {
                "knowledgeBaseId": KB_ID,
                "dataSourceId": DS_ID,
                "documentIdentifiers": [{"dataSourceType": "S3", "s3": {"uri": f"s3://{BUCKET}/{k}"}} for k in batch],
            },
        )

    outcomes = BedrockIngestionJobs(KB_ID, DS_ID, BUCKET, client=client).document_outcomes(keys)

    assert {o.state for o in outcomes.values()} == {DocumentIngestionState.INDEXED}
    assert list(outcomes) == keys
    assert JobStatus.COMPLETE.finished
