"""The envelopes AWS services deliver to Oratio's Lambda functions, as pydantic models a handler parses first.

A handler validates its event against one of these before anything reads it, so an event in any other shape gets
the handler's designed answer (a 400, a batch failure, a named error) and never an `AttributeError` deep in
Powertools. Only the parts the handlers read are modelled; AWS's other keys are ignored. When a model refuses an
event, `field_problems` names the fields and error types only -- pydantic's messages would echo the input into
the logs.

- `FunctionUrlRequest`: a Lambda function URL request (payload format 2.0).
- `RestProxyRequest`: an API Gateway REST API proxy integration request (payload format 1.0).
- `SqsRecord` / `SqsBatch`: an SQS event source mapping's batch.
- `EventBridgeEnvelope`: any event an EventBridge rule delivers (source, detail-type, detail).
- `S3Notification`: an S3 event notification (as an SQS message's body).
- `ScheduledEvent`: an EventBridge schedule's event.

These replace Powertools' parser models, whose package builds every event model it has at import (about 120 M
instructions of a cold start, measured with `python -m bench cold_start_instructions`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

# SQS message ids are UUIDs; anything past this is not one, and would be echoed into logs and batch answers.
MAX_MESSAGE_ID_CHARS = 128


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def field_problems(error: ValidationError) -> list[dict[str, str]]:
    """Where an event was refused and why, without the values (safe to log)."""
    return [{"field": field_location(e["loc"]), "type": e["type"]} for e in error.errors()]


def field_location(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc)


def decoded_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The request body as the client sent it (function URLs and API Gateway base64-encode bodies that are not
    text); `ValueError` when a body said to be base64 is not."""
    if not body:
        return b""
    if not is_base64_encoded:
        return body.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("the request body is not valid base64") from e


# ---------------------------------------------------------------------------------------- HTTP
class _Http(_Wire):
    method: str = Field(min_length=1)


class _UrlRequestContext(_Wire):
    http: _Http
    domain_name: str = Field(default="", alias="domainName")
    stage: str


class FunctionUrlRequest(_Wire):
    """The parts of a Lambda function URL event (payload 2.0) a webhook reads: a request in any other shape is
    answered 400, never a crash."""

    raw_path: str = Field(alias="rawPath")
    raw_query_string: str = Field(default="", alias="rawQueryString")
    headers: dict[str, str] = Field(default_factory=dict)
    query_string_parameters: dict[str, str] | None = Field(default=None, alias="queryStringParameters")
    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")
    request_context: _UrlRequestContext = Field(alias="requestContext")

    def body_bytes(self) -> bytes:
        return decoded_body(self.body, self.is_base64_encoded)


class RestProxyRequest(_Wire):
    """The parts of an API Gateway REST proxy event (payload 1.0) a function without the vendor API's gate reads."""

    path: str
    http_method: str = Field(alias="httpMethod")
    headers: dict[str, str] | None = None
    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")
    request_context: dict[str, Any] = Field(alias="requestContext")

    def body_bytes(self) -> bytes:
        return decoded_body(self.body, self.is_base64_encoded)


# ----------------------------------------------------------------------------------------- SQS
class _ReportableRecord(_Wire):
    message_id: str = Field(min_length=1, max_length=MAX_MESSAGE_ID_CHARS, alias="messageId")


class SqsBatch(_Wire):
    """An SQS event source mapping's batch: records, each an object naming its message id (the id a partial batch
    response reports it by). A record without one cannot be reported alone, so such a batch fails as a whole."""

    records: list[_ReportableRecord] = Field(min_length=1, alias="Records")


class SqsFifoAttributes(_Wire):
    message_group_id: str = Field(min_length=1, max_length=MAX_MESSAGE_ID_CHARS, alias="MessageGroupId")


class SqsFifoRecord(_Wire):
    """One record of a FIFO queue's batch, as the worker reads it."""

    message_id: str = Field(min_length=1, max_length=MAX_MESSAGE_ID_CHARS, alias="messageId")
    receipt_handle: str = Field(min_length=1, alias="receiptHandle")
    body: str
    attributes: SqsFifoAttributes


__all__ = [
    "EventBridgeEnvelope",
    "FunctionUrlRequest",
    "RestProxyRequest",
    "S3Notification",
    "SqsBatch",
    "SqsFifoRecord",
    "decoded_body",
    "field_location",
    "field_problems",
]


# ---------------------------------------------------------------------------------- EventBridge and S3
class EventBridgeEnvelope(_Wire):
    """Any event an EventBridge rule delivers to a Lambda target; `detail` is parsed by whoever owns the source."""

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    detail_type: str = Field(alias="detail-type")
    time: AwareDatetime
    detail: dict[str, Any]


class S3Bucket(_Wire):
    name: str = Field(min_length=1)


class S3Object(_Wire):
    key: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=0)
    sequencer: str | None = None


class S3Entity(_Wire):
    bucket: S3Bucket
    object: S3Object | None = None


class S3Record(_Wire):
    event_name: str = Field(min_length=1, alias="eventName")
    s3: S3Entity


class S3Notification(_Wire):
    """An S3 event notification: the records of what happened to which objects (S3's test event has none, and is
    refused like any other body that is not a notification)."""

    records: list[S3Record] = Field(min_length=1, alias="Records")


# ---------------------------------------------------------------------------------- scheduled events
class ScheduledEvent(_Wire):
    """What an EventBridge schedule delivers to a Lambda target; only its id is used (for the log)."""

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    detail_type: str = Field(alias="detail-type")
    time: AwareDatetime


class InvalidScheduleEventError(ValueError):
    """The event is not an EventBridge scheduled event; `problems` names the fields (safe to log)."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(f"scheduled event rejected: {len(problems)} invalid field(s)")
        self.problems = problems


def parse_scheduled_event(event: Any) -> ScheduledEvent:
    try:
        return ScheduledEvent.model_validate(event)
    except ValidationError as e:
        raise InvalidScheduleEventError(field_problems(e)) from None


class RemainingTime(Protocol):
    """The part of the Lambda context a scheduled sweep reads."""

    def get_remaining_time_in_millis(self) -> int: ...


def another_batch_fits(context: RemainingTime, *, handled: int, batch_size: int, reserve_ms: int) -> bool:
    """Whether a scheduled sweep should run one more batch: the last one was full (more work may wait) and the
    function still has `reserve_ms` before its timeout (a batch left for the next run is repeated safely)."""
    return handled >= batch_size and context.get_remaining_time_in_millis() >= reserve_ms
