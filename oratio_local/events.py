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

    def get_remaining_time_in_millis(self) -> int:
        return 8_000


def lambda_context(function_name: str = "oratio-test-function") -> FakeLambdaContext:
    """A Lambda context for invoking a handler directly in tests."""
    return FakeLambdaContext(
        function_name=function_name,
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
