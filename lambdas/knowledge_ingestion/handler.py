"""Knowledge ingestion Lambda: uploads into the tenant's knowledge bucket start Bedrock ingestion jobs, and a
schedule follows the running job and records its result on the documents.

Two event sources, one function:
- SQS messages carrying S3 ObjectCreated notifications for `uploads/` (S3 → queue → this function). Each message
  is one record of Powertools' batch processor: a failing message is reported back (partial batch response), so
  SQS redelivers only it and, after the queue's receive limit, moves it to the dead-letter queue. S3's
  `s3:TestEvent` (sent when the notification is configured) is acknowledged and ignored.
- The EventBridge schedule's "Scheduled Event": one tick of `IngestionCoordinator.on_tick` (Bedrock emits no event
  when a knowledge-base ingestion job ends, so it is polled).

Thin edge: parse, call the coordinator, log and count what it did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from oratio.adapters.bedrock_ingestion import BedrockIngestionJobs
from oratio.adapters.dynamodb import dynamodb_client
from oratio.adapters.dynamodb_ingestion import DynamoDBDocumentStatusStore, DynamoDBIngestionStateStore
from oratio.config.tenant import TENANT_ID_PATTERN
from oratio.domain.call_events import TENANT_ID_ENV_VAR
from oratio.lambda_events import S3Notification, ScheduledEvent, field_problems
from oratio.observability import lambda_entry, logger, metrics, tracer
from oratio.ports import Clock, SystemClock
from oratio.tables import KNOWLEDGE_DOCUMENTS, TENANT_STATE, table_settings
from oratio.vendors.ingestion import (
    DATA_SOURCE_ID_ENV_VAR,
    KNOWLEDGE_BASE_ID_ENV_VAR,
    KNOWLEDGE_BUCKET_ENV_VAR,
    IngestionCoordinator,
    StartAction,
    StartOutcome,
    UploadedObject,
)

SCHEDULED_EVENT_SOURCE = "aws.events"
SCHEDULED_EVENT_DETAIL_TYPE = "Scheduled Event"
S3_TEST_EVENT = "s3:TestEvent"
OBJECT_CREATED_PREFIX = "ObjectCreated:"

# The function's clock. Tests replace it before the first invocation (the coordinator is built once per container).
clock: Clock = SystemClock()
# The bedrock-agent client; None builds the default one on first use. Tests put a botocore-stubbed client here.
bedrock_agent: Any | None = None
processor = BatchProcessor(event_type=EventType.SQS)


class InvalidIngestionEventError(ValueError):
    """The event or message is neither an S3 notification nor the schedule's event (the log names the fields)."""


class SqsMessage(BaseModel):
    """What the batch processor needs of each SQS record: its id (to report it back) and its body."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    message_id: str = Field(min_length=1, alias="messageId")
    body: str


class SqsBatch(BaseModel):
    """An SQS event source mapping's batch, checked before the batch processor reads it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    records: list[SqsMessage] = Field(min_length=1, alias="Records")


class IngestionSettings(BaseModel):
    """The function's environment, set by the CDK construct; read on first invocation, not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    knowledge_base_id: str = Field(pattern=r"^[0-9a-zA-Z]{10}$")
    data_source_id: str = Field(pattern=r"^[0-9a-zA-Z]{10}$")
    knowledge_bucket: str = Field(min_length=3, max_length=63)
    knowledge_documents_table: str = Field(min_length=1)
    tenant_state_table: str = Field(min_length=1)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> IngestionSettings:
        """Validate settings from the process environment (or the mapping given)."""
        env = os.environ if environ is None else environ
        return cls.model_validate(
            {
                "tenant_id": env.get(TENANT_ID_ENV_VAR),
                "knowledge_base_id": env.get(KNOWLEDGE_BASE_ID_ENV_VAR),
                "data_source_id": env.get(DATA_SOURCE_ID_ENV_VAR),
                "knowledge_bucket": env.get(KNOWLEDGE_BUCKET_ENV_VAR),
                **table_settings(env, KNOWLEDGE_DOCUMENTS, TENANT_STATE),
            }
        )


@cache
def settings() -> IngestionSettings:
    return IngestionSettings.from_environ()


@cache
def build_coordinator() -> IngestionCoordinator:
    """The coordinator over DynamoDB and Bedrock, built once per container (a failure is retried next time)."""
    config = settings()
    client = dynamodb_client()
    return IngestionCoordinator(
        tenant_id=config.tenant_id,
        documents=DynamoDBDocumentStatusStore(config.knowledge_documents_table, client=client),
        state=DynamoDBIngestionStateStore(config.tenant_state_table, client=client),
        jobs=BedrockIngestionJobs(
            config.knowledge_base_id, config.data_source_id, config.knowledge_bucket, client=bedrock_agent
        ),
        clock=clock,
    )


def _uploaded_objects(body: Mapping[str, Any]) -> list[UploadedObject]:
    try:
        notification = S3Notification.model_validate(body)
    except ValidationError as e:
        logger.error("SQS message is not an S3 event notification", extra={"problems": field_problems(e)})
        raise InvalidIngestionEventError("SQS message is not an S3 event notification") from None
    bucket = settings().knowledge_bucket
    objects: list[UploadedObject] = []
    for record in notification.records:
        s3_object = record.s3.object
        if (
            not record.event_name.startswith(OBJECT_CREATED_PREFIX)
            or record.s3.bucket.name != bucket
            or s3_object is None
        ):
            logger.warning(
                "S3 record ignored: not an object created in this tenant's knowledge bucket",
                extra={"event_name": record.event_name, "bucket": record.s3.bucket.name},
            )
            continue
        objects.append(
            UploadedObject(
                # S3 notifications URL-encode keys (a space arrives as "+").
                key=unquote_plus(s3_object.key),
                size_bytes=int(s3_object.size or 0),
                sequencer=s3_object.sequencer or "",
            )
        )
    return objects


def _count_start(start: StartOutcome | None) -> None:
    if start is None:
        return
    metrics.add_metadata(key="start", value=start.action.value)
    if start.action is StartAction.STARTED:
        metrics.add_metric(name="IngestionJobsStarted", unit=MetricUnit.Count, value=1)
        logger.info("ingestion job started", extra={"job_id": start.job_id, "uploads": start.uploads})
    elif start.action is StartAction.CLAIM_LOST:
        metrics.add_metric(name="IngestionClaimsLost", unit=MetricUnit.Count, value=1)
        logger.error(
            "ingestion job started after this invocation's claim expired; its uploads stay pending",
            extra={"job_id": start.job_id, "uploads": start.uploads},
        )


def handle_message(record: SQSRecord) -> None:
    """One SQS message: an S3 notification (or S3's test event) for the knowledge bucket. A failure is logged and
    raised, so the batch processor reports the message back to SQS for another try."""
    try:
        _handle_message(record)
    except Exception:
        logger.exception(
            "SQS message failed; SQS redelivers it, then dead-letters it", extra={"message_id": record.message_id}
        )
        raise


def _handle_message(record: SQSRecord) -> None:
    try:
        # pydantic-core's parser refuses nesting past its recursion limit (json.loads would exhaust the stack).
        body = from_json(record.body)
    except ValueError:
        logger.error("SQS message body is not JSON", extra={"message_id": record.message_id})
        raise InvalidIngestionEventError("SQS message body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidIngestionEventError("SQS message body is not a JSON object")
    if body.get("Event") == S3_TEST_EVENT:
        logger.info("S3 test event ignored", extra={"bucket": body.get("Bucket")})
        return
    objects = _uploaded_objects(body)
    if not objects:
        return
    outcome = build_coordinator().on_uploads(objects)
    for skipped in outcome.skipped:
        # Logged and skipped, never retried: a stray key will not become a document by waiting.
        logger.warning("uploaded object skipped", extra={"key": skipped.key, "reason": skipped.reason.value})
    metrics.add_metric(name="DocumentsUploaded", unit=MetricUnit.Count, value=len(outcome.accepted))
    if outcome.skipped:
        metrics.add_metric(name="UploadsSkipped", unit=MetricUnit.Count, value=len(outcome.skipped))
    _count_start(outcome.start)


def handle_tick(event: Mapping[str, Any]) -> dict[str, Any]:
    """One scheduled tick: follow the running job, record a finished one, start the next."""
    outcome = build_coordinator().on_tick()
    tracer.put_annotation(key="ingestion_tick", value=outcome.action.value)
    if outcome.indexed:
        metrics.add_metric(name="DocumentsIndexed", unit=MetricUnit.Count, value=outcome.indexed)
    if outcome.failed:
        metrics.add_metric(name="DocumentsFailedIngestion", unit=MetricUnit.Count, value=outcome.failed)
    _count_start(outcome.start)
    logger.info(
        "ingestion tick",
        extra={
            "action": outcome.action.value,
            "job_id": outcome.job.job_id if outcome.job else None,
            "job_status": outcome.job.status.value if outcome.job else None,
            "indexed": outcome.indexed,
            "failed": outcome.failed,
        },
    )
    return {"action": outcome.action.value, "indexed": outcome.indexed, "failed": outcome.failed}


def _is_scheduled_event(event: Any) -> bool:
    return (
        isinstance(event, Mapping)
        and event.get("source") == SCHEDULED_EVENT_SOURCE
        and event.get("detail-type") == SCHEDULED_EVENT_DETAIL_TYPE
    )


def _reject(message: str, **extra: Any) -> InvalidIngestionEventError:
    metrics.add_metric(name="IngestionEventsRejected", unit=MetricUnit.Count, value=1)
    logger.error(message, extra=extra)
    return InvalidIngestionEventError(message)


@lambda_entry()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Entry point for the SQS event source mapping and the EventBridge schedule."""
    if _is_scheduled_event(event):
        try:
            ScheduledEvent.model_validate(event)
        except ValidationError as e:
            raise _reject("scheduled event rejected", problems=field_problems(e)) from None
        metrics.add_metric(name="IngestionTicks", unit=MetricUnit.Count, value=1)
        try:
            return handle_tick(event)
        except Exception:
            metrics.add_metric(name="IngestionTickFailures", unit=MetricUnit.Count, value=1)
            logger.exception("ingestion tick failed; the next tick retries")
            raise
    try:
        batch = SqsBatch.model_validate(event)
    except ValidationError as e:
        raise _reject("event is neither an SQS batch nor the ingestion schedule", problems=field_problems(e)) from None
    metrics.add_metric(name="IngestionMessages", unit=MetricUnit.Count, value=len(batch.records))
    response = process_partial_response(
        event=event, record_handler=handle_message, processor=processor, context=context
    )
    failures = len(response.get("batchItemFailures", []))
    if failures:
        metrics.add_metric(name="IngestionMessageFailures", unit=MetricUnit.Count, value=failures)
    return dict(response)
