"""Real-shaped AWS events and Lambda contexts: what the local mode feeds handlers in place of Amazon
Connect and the Lambda service, and what every test layer builds its events from.

Shapes follow AWS's documented examples; when AWS documents a new field, add it here once.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CONNECT_INSTANCE_ARN = "arn:aws:connect:us-east-1:123456789012:instance/c8c0e68d-2200-4265-82c0-0123456789ab"


def connect_contact_flow_event(
    contact_id: str | None = None,
    dialed: str | None = "+15552333464",
    caller: str | None = "+15551234567",
    channel: str = "VOICE",
    **overrides: Any,
) -> dict[str, Any]:
    """An Amazon Connect `ContactFlowEvent` as a flow's Invoke AWS Lambda function block sends it.

    `dialed=None` / `caller=None` give null endpoints (as on chat). Keyword overrides replace keys of
    `Details.ContactData` (e.g. `Attributes={...}`), except `Parameters`, which replaces `Details.Parameters`.
    """
    contact_id = contact_id or str(uuid.uuid4())
    contact_data: dict[str, Any] = {
        "Attributes": {},
        "Channel": channel,
        "ContactId": contact_id,
        "CustomerEndpoint": {"Address": caller, "Type": "TELEPHONE_NUMBER"} if caller else None,
        "InitialContactId": contact_id,
        "InitiationMethod": "INBOUND",
        "InstanceARN": CONNECT_INSTANCE_ARN,
        "LanguageCode": "en-US",
        "MediaStreams": {"Customer": {"Audio": None}},
        "PreviousContactId": contact_id,
        "Queue": None,
        "SystemEndpoint": {"Address": dialed, "Type": "TELEPHONE_NUMBER"} if dialed else None,
    }
    parameters = overrides.pop("Parameters", {})
    contact_data.update(copy.deepcopy(overrides))
    return {
        "Details": {"ContactData": contact_data, "Parameters": dict(parameters)},
        "Name": "ContactFlowEvent",
    }


def _utc(instant: datetime, timespec: str) -> str:
    return instant.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _connect_time(instant: datetime) -> str:
    # Contact event details carry millisecond UTC timestamps ("2021-08-04T17:18:37.000Z").
    return _utc(instant, "milliseconds")


def connect_contact_event(
    contact_id: str | None = None,
    event_type: str = "DISCONNECTED",
    *,
    instance_arn: str = CONNECT_INSTANCE_ARN,
    channel: str = "VOICE",
    initiated_at: datetime | None = None,
    disconnected_at: datetime | None = None,
    disconnect_reason: str | None = "CUSTOMER_DISCONNECT",
    **overrides: Any,
) -> dict[str, Any]:
    """An Amazon Connect contact event as an EventBridge rule delivers it to a Lambda target.

    Shape per the Amazon Connect administrator guide ("Amazon Connect contact events", sample event for a
    disconnected voice call). `disconnectTimestamp` and `disconnectReason` are present on DISCONNECTED (and
    COMPLETED) events only; `disconnected_at` defaults to three minutes after `initiated_at` (default: now).
    `disconnect_reason=None` leaves the reason out. Keyword overrides replace keys of `detail`.
    """
    contact_id = contact_id or str(uuid.uuid4())
    initiated_at = initiated_at or datetime.now(UTC).replace(microsecond=0)
    ended = event_type in {"DISCONNECTED", "COMPLETED"}
    disconnected_at = disconnected_at or initiated_at + timedelta(minutes=3)
    _, _, _, region, account, _ = instance_arn.split(":", 5)
    detail: dict[str, Any] = {
        "eventType": event_type,
        "contactId": contact_id,
        "initialContactId": contact_id,
        "channel": channel,
        "instanceArn": instance_arn,
        "initiationMethod": "INBOUND",
        "initiationTimestamp": _connect_time(initiated_at),
        "connectedToSystemTimestamp": _connect_time(initiated_at + timedelta(seconds=1)),
    }
    if ended:
        detail["disconnectTimestamp"] = _connect_time(disconnected_at)
        if disconnect_reason is not None:
            detail["disconnectReason"] = disconnect_reason
    detail.update(copy.deepcopy(overrides))
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Amazon Connect Contact Event",
        "source": "aws.connect",
        "account": account,
        "time": _utc(disconnected_at if ended else initiated_at, "seconds"),  # EventBridge: "...T17:43:48Z"
        "region": region,
        "resources": [f"{instance_arn}/contact/{contact_id}", instance_arn],
        "detail": detail,
    }


@dataclass
class FakeLambdaContext:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name: str = "oratio-test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:oratio-test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/oratio-test-function"
    log_stream_name: str = "2025/01/01/[$LATEST]0123456789abcdef"
    remaining_ms: int = 8_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def lambda_context(function_name: str = "oratio-test-function", *, remaining_ms: int = 8_000) -> FakeLambdaContext:
    """A Lambda context for invoking a handler directly in tests (`remaining_ms`: the time it says is left)."""
    return FakeLambdaContext(
        function_name=function_name,
        remaining_ms=remaining_ms,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
        aws_request_id=str(uuid.uuid4()),
    )


def api_gateway_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    vendor_id: str | None = "cozy-comfort",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST API (v1) Lambda proxy event, as the `{proxy+}` resource with the Cognito user pool
    authorizer sends it: the ID token's claims at `requestContext.authorizer.claims` (`vendor_id=None` gives a
    token without the vendor claim). `body` is sent as JSON unless `raw_body` gives the text itself."""
    import json

    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    all_headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    claims = {"sub": "0b1c2d3e-1111-2222-3333-444455556666", "email": "owner@example.com", "token_use": "id"}
    if vendor_id is not None:
        claims["custom:vendor_id"] = vendor_id
    now = datetime.now(UTC)
    return {
        "resource": "/api/v1/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.removeprefix("/api/v1/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "authorizer": {"claims": claims},
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "oratio-tests"},
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourcePath": "/api/v1/{proxy+}",
            "stage": "prod",
        },
        "body": text,
        "isBase64Encoded": False,
    }


# ----------------------------------------------------------------------------- knowledge ingestion
def s3_object_created_notification(
    bucket: str,
    key: str,
    *,
    size: int = 2048,
    sequencer: str = "0062E99A88DC407460",
    event_name: str = "ObjectCreated:Post",
    region: str = "us-east-1",
    at: datetime | None = None,
) -> dict[str, Any]:
    """An S3 event notification (event version 2.1) for one created object, as S3 sends it to an SQS queue.

    Shape per the S3 user guide ("Event message structure"). The key is URL-encoded the way S3 encodes it
    (a space becomes "+"); presigned POST uploads arrive as `ObjectCreated:Post`.
    """
    from urllib.parse import quote_plus

    at = at or datetime.now(UTC)
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": _utc(at, "milliseconds"),
                "eventName": event_name,
                "userIdentity": {"principalId": "AWS:AROA3EXAMPLEROLEID:oratio-vendor-api"},
                "requestParameters": {"sourceIPAddress": "203.0.113.10"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "OratioKnowledgeUploads",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKEXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                        "sequencer": sequencer,
                    },
                },
            }
        ]
    }


def s3_test_event(bucket: str) -> dict[str, Any]:
    """The `s3:TestEvent` message S3 sends to a destination when an event notification is configured."""
    return {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": _utc(datetime.now(UTC), "milliseconds"),
        "Bucket": bucket,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }


def sqs_event(
    *bodies: Any, queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:oratio-knowledge-uploads"
) -> dict[str, Any]:
    """An SQS event source mapping's batch for a Lambda function, one record per body (dicts are sent as JSON)."""
    import hashlib
    import json

    now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now_ms,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum, not security
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
        )
    return {"Records": records}


def scheduled_event(
    rule_arn: str = "arn:aws:events:us-east-1:123456789012:rule/oratio-knowledge-ingestion-tick",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends its Lambda target ("Scheduled Event", empty detail)."""
    _, _, _, region, account, _ = rule_arn.split(":", 5)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": _utc(at or datetime.now(UTC), "seconds"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


LEX_BOT_ID = "A1B2C3D4E5"
LEX_ALIAS_ID = "LIVE123456"


def lex_code_hook_event(
    text: str = "Do you have queen size duvets?",
    *,
    session_id: str | None = None,
    intent: str = "FallbackIntent",
    confidence: float | None = 0.92,
    input_mode: str = "Speech",
    invocation_source: str = "FulfillmentCodeHook",
    session_attributes: dict[str, str] | None = None,
    locale_id: str = "en_US",
    bot_name: str = "oratio-cozy-comfort-s2s",
    bot_id: str = LEX_BOT_ID,
    alias_id: str = LEX_ALIAS_ID,
    alias_name: str = "live",
    bot_version: str = "1",
    nlu_confidence: float | None = 0.88,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An Amazon Lex V2 code-hook event for one caller utterance, as Lex sends it to the Lambda.

    Shape per the Lex V2 developer guide ("AWS Lambda input event format for Lex V2"): spoken input carries
    `transcriptions` with a `transcriptionConfidence`; `confidence=None` leaves the transcriptions out (as
    for text or DTMF input). The session id is the one Connect gives the Lex session (the ContactId).
    `nlu_confidence` is the intent's score (Lex gives none for FallbackIntent).
    """
    session_id = session_id or str(uuid.uuid4())
    intent_state = "ReadyForFulfillment" if invocation_source == "FulfillmentCodeHook" else "InProgress"
    event: dict[str, Any] = {
        "messageVersion": "1.0",
        "invocationSource": invocation_source,
        "inputMode": input_mode,
        "responseContentType": "audio/pcm" if input_mode == "Speech" else "text/plain; charset=utf-8",
        "sessionId": session_id,
        "inputTranscript": text,
        "bot": {
            "id": bot_id,
            "name": bot_name,
            "aliasId": alias_id,
            "aliasName": alias_name,
            "localeId": locale_id,
            "version": bot_version,
        },
        "interpretations": [
            {
                "intent": {"name": intent, "slots": {}, "state": intent_state, "confirmationState": "None"},
                "interpretationSource": "Lex",
                **(
                    {"nluConfidence": nlu_confidence}
                    if intent != "FallbackIntent" and nlu_confidence is not None
                    else {}
                ),
            }
        ],
        "proposedNextState": None,
        "requestAttributes": {"x-amz-lex:accept-content-types": "PlainText,SSML"},
        "sessionState": {
            "sessionAttributes": dict(session_attributes or {}),
            "intent": {"name": intent, "slots": {}, "state": intent_state, "confirmationState": "None"},
            "originatingRequestId": request_id or str(uuid.uuid4()),
        },
    }
    if confidence is not None:
        event["transcriptions"] = [
            {
                "transcription": text,
                "transcriptionConfidence": confidence,
                "resolvedContext": {"intent": intent},
                "resolvedSlots": {},
            }
        ]
    return event


def connect_voice_action_event(
    action: str,
    contact_id: str | None = None,
    attributes: dict[str, str] | None = None,
    caller: str | None = "+15551234567",
    **parameters: str,
) -> dict[str, Any]:
    """The inbound flow's Invoke Lambda call to the voice_turn function: `action` (prepare, pickup,
    bot_failed) as a block parameter, the call's state in the contact attributes."""
    return connect_contact_flow_event(
        contact_id=contact_id,
        caller=caller,
        Attributes=dict(attributes or {}),
        Parameters={"action": action, **parameters},
    )


def function_url_event(
    method: str,
    path: str,
    *,
    host: str = "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
    query: str = "",
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Lambda function URL request (payload format 2.0), as a telephony provider's webhook produces it."""
    from urllib.parse import parse_qsl

    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": host,
            "user-agent": "TelephonyProvider/1.0",
            **{k.lower(): v for k, v in (headers or {}).items()},
        },
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "TelephonyProvider/1.0",
            },
            "requestId": "c0ffee00-0000-4000-8000-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "06/Jan/2025:15:00:00 +0000",
            "timeEpoch": 1736175600000,
        },
        "body": body,
        "isBase64Encoded": False,
    }
