"""The telephony webhook Lambda end to end against moto (DynamoDB, Secrets Manager): signatures are checked,
the call router decides, and each provider is told what to do, in its own format."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from xml.etree import ElementTree

import boto3
import jwt
import pytest
from moto import mock_aws

from oratio.adapters.agentcore_websocket import AgentCoreWebSocketPresigner, PresignError, session_id_for
from oratio.adapters.memory import FixedClock
from oratio.domain.agents import AgentStatus
from oratio.domain.call_routing import ROUTING_PROFILE_ENV_VAR
from oratio.tables import AGENTS, CONVERSATIONS, NUMBERS, TENANT_STATE
from oratio.voice_bridge.webhooks import twilio_signature
from oratio_local.events import function_url_event
from tests.events import lambda_context
from tests.integration.conftest import REGION, create_tables, load_handler, table_name
from tests.integration.test_call_router_dynamodb import NUMBER, OPEN_TIME, PROFILE, SUNDAY, active_calls, seed_agent

TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
VONAGE_SECRET = "vonage-signature-secret-0123456789"
CONNECT_NUMBER = "+15550001111"
BRIDGE_ARN = "arn:aws:bedrock-agentcore:us-east-1:111122223333:runtime/oratio_voice_cozy_comfort-AbCdEf1234"
HOST = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
VONAGE_UUID = "63f61863-4a51-4f6b-86e1-46edebcf9356"


@pytest.fixture
def aws(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client, prefix="oratio-test-")
        secrets = boto3.client("secretsmanager", region_name=REGION)
        twilio = secrets.create_secret(Name="oratio/cozy-comfort/twilio", SecretString=TWILIO_TOKEN)["ARN"]
        vonage = secrets.create_secret(Name="oratio/cozy-comfort/vonage", SecretString=VONAGE_SECRET)["ARN"]
        for var, value in {
            AGENTS.env_var: table_name(AGENTS),
            CONVERSATIONS.env_var: table_name(CONVERSATIONS),
            TENANT_STATE.env_var: table_name(TENANT_STATE),
            NUMBERS.env_var: table_name(NUMBERS),
            ROUTING_PROFILE_ENV_VAR: PROFILE.to_env(),
            "ORATIO_VOICE_BRIDGE_RUNTIME_ARN": BRIDGE_ARN,
            "ORATIO_VOICE_BRIDGE_QUALIFIER": "live",
            "ORATIO_CONNECT_PHONE_NUMBER": CONNECT_NUMBER,
            "ORATIO_TWILIO_AUTH_TOKEN_SECRET": twilio,
            "ORATIO_VONAGE_SIGNATURE_SECRET": vonage,
            "ORATIO_SAY_VOICE": "Polly.Joanna-Neural",
            "ORATIO_VOICE_LANGUAGE": "en-US",
        }.items():
            monkeypatch.setenv(var, value)
        yield client


def webhook(now: Any = OPEN_TIME) -> ModuleType:
    handler = load_handler("voice_webhook")
    handler.clock = FixedClock(now)
    return handler


def twiml(response: dict[str, Any]) -> ElementTree.Element:
    # Our own handler's output, not untrusted input.
    return ElementTree.fromstring(response["body"])  # noqa: S314


def call(handler: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler.lambda_handler(event, lambda_context("oratio-cozy-comfort-voice-webhook"))
    return result


# ------------------------------------------------------------------------------------------- Twilio
def twilio_event(params: dict[str, str], *, token: str = TWILIO_TOKEN) -> dict[str, Any]:
    url = f"https://{HOST}/twilio/voice"
    signature = twilio_signature(token, url, params.items())
    return function_url_event(
        "POST",
        "/twilio/voice",
        host=HOST,
        body=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


TWILIO_CALL = {
    "CallSid": "CA1234567890abcdef1234567890abcdef",
    "To": NUMBER,
    "From": "+15557654321",
    "Direction": "inbound",
}


def test_twilio_caller_in_hours_is_dialed_through_to_the_tenants_connect_number(aws: Any) -> None:
    seed_agent(aws)
    response = call(webhook(), twilio_event(TWILIO_CALL))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/xml"
    root = twiml(response)
    assert [(child.tag, child.text) for child in root] == [("Dial", CONNECT_NUMBER)]
    # Connect sees the caller's own number, by which its router takes the call over (test_twilio_dial_through).
    assert root[0].attrib == {"callerId": TWILIO_CALL["From"]}
    # The call keeps the slot it took here until Connect's router takes it over (it is counted once).
    assert active_calls(aws) == 1


@pytest.mark.parametrize(
    ("status", "now", "message"),
    [
        (AgentStatus.ACTIVE, SUNDAY, PROFILE.closed_message),
        (AgentStatus.PAUSED, OPEN_TIME, PROFILE.paused_message),
        (AgentStatus.STOPPED, OPEN_TIME, PROFILE.unavailable_message),
    ],
    ids=["closed", "paused", "stopped"],
)
def test_twilio_caller_hears_the_routes_message_and_the_call_ends(
    aws: Any, status: AgentStatus, now: Any, message: str
) -> None:
    seed_agent(aws, status)
    response = call(webhook(now), twilio_event(TWILIO_CALL))
    root = twiml(response)
    assert [child.tag for child in root] == ["Say", "Hangup"]
    say = root.find("Say")
    assert say is not None
    assert say.text == message
    assert say.attrib == {"voice": "Polly.Joanna-Neural", "language": "en-US"}


def test_twilio_request_with_a_wrong_signature_is_refused_and_nothing_is_routed(aws: Any) -> None:
    seed_agent(aws)
    response = call(webhook(), twilio_event(TWILIO_CALL, token="not-the-auth-token"))
    assert response["statusCode"] == 403
    assert response["body"] == "Forbidden"
    assert aws.scan(TableName=table_name(CONVERSATIONS))["Count"] == 0


def test_twilio_parameters_changed_after_signing_are_refused(aws: Any) -> None:
    seed_agent(aws)
    event = twilio_event(TWILIO_CALL)
    event["body"] = urlencode({**TWILIO_CALL, "From": "+15550000000"})
    assert call(webhook(), event)["statusCode"] == 403


# ------------------------------------------------------------------------------------------- Vonage
# Tokens are made the way Vonage's servers sign Voice API callbacks (see `oratio.voice_bridge.webhooks` for the
# pages): HS256 with the signature secret; `iat`, a unique `jti`, `iss`, `api_key`, `application_id`; and
# `payload_hash`, the SHA-256 of `JSON.stringify` of the query parameters (GET, in their order) or the body
# (POST). PyJWT signs them: Vonage's own `vonage-jwt` package only generates RS256 application tokens (it
# verifies HS256 webhook tokens with PyJWT itself), so it cannot produce a signed-webhook token.
def js_stringify(payload: Mapping[str, Any]) -> str:
    """JavaScript's JSON.stringify for the string-valued objects Vonage hashes: no whitespace, non-ASCII
    characters as they are."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def vonage_token(
    payload: str | None,
    *,
    secret: str = VONAGE_SECRET,
    iat: float | None = None,
    **claims: Any,
) -> str:
    """`Authorization` for a callback whose signed payload (the JSON.stringify output) is `payload`; a claim
    given as None is left out."""
    body: dict[str, Any] = {
        "iat": int(iat if iat is not None else time.time()),
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "api_key": "abc123",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        **claims,
    }
    if payload is not None:
        body["payload_hash"] = hashlib.sha256(payload.encode()).hexdigest()
    body = {k: v for k, v in body.items() if v is not None}
    return "Bearer " + jwt.encode(body, secret, algorithm="HS256")


ANSWER_PARAMS = {
    "to": NUMBER.lstrip("+"),
    "from": "15557654321",
    "uuid": VONAGE_UUID,
    "conversation_uuid": "CON-1",
    "region_url": "https://api-us-3.vonage.com",
    "custom_data": "Zoë & co",  # non-ASCII and a reserved character: decoded, then hashed as they are
}


def vonage_answer(
    params: dict[str, str] | None = None, *, signed: dict[str, str] | None = None, **token: Any
) -> dict[str, Any]:
    """A GET answer callback with `params` on the query string, signed over `signed` (default: `params`)."""
    params = ANSWER_PARAMS if params is None else params
    authorization = vonage_token(js_stringify(params if signed is None else signed), **token)
    return function_url_event(
        "GET", "/vonage/answer", host=HOST, query=urlencode(params), headers={"Authorization": authorization}
    )


def vonage_event(body: str, *, signed: str | None = None) -> dict[str, Any]:
    """A POST event callback with `body`, signed over `signed` (default: `body`)."""
    authorization = vonage_token(body if signed is None else signed)
    return function_url_event("POST", "/vonage/event", host=HOST, body=body, headers={"Authorization": authorization})


COMPLETED = {"uuid": VONAGE_UUID, "status": "completed", "conversation_uuid": "CON-1", "duration": "42"}


def test_vonage_call_in_hours_streams_into_a_presigned_bridge_session(aws: Any) -> None:
    seed_agent(aws)
    response = call(webhook(), vonage_answer())
    assert response["statusCode"] == 200
    [connect] = json.loads(response["body"])
    assert connect["action"] == "connect"
    [endpoint] = connect["endpoint"]
    assert endpoint["type"] == "websocket"
    assert endpoint["content-type"] == "audio/l16;rate=16000"
    assert endpoint["headers"] == {
        "call_uuid": VONAGE_UUID,
        "agent_id": "front-desk",
        "voice_tier": "standard",
        "caller": "+15557654321",
    }
    url = urlsplit(endpoint["uri"])
    assert (url.scheme, url.netloc) == ("wss", "bedrock-agentcore.us-east-1.amazonaws.com")
    assert url.path == f"/runtimes/{quote(BRIDGE_ARN, safe='')}/ws"
    query = parse_qs(url.query)
    assert query["qualifier"] == ["live"]
    assert query["X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"] == [VONAGE_UUID]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    assert "/us-east-1/bedrock-agentcore/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Signature"]
    # The call holds one of the tenant's slots until Vonage reports it over.
    assert active_calls(aws) == 1


def test_vonage_completed_event_closes_the_call_and_frees_its_slot(aws: Any) -> None:
    seed_agent(aws)
    handler = webhook()
    call(handler, vonage_answer())
    response = call(handler, vonage_event(js_stringify(COMPLETED)))
    assert json.loads(response["body"]) == {"closed": True}
    assert active_calls(aws) == 0


def test_vonage_caller_outside_hours_hears_the_closed_message(aws: Any) -> None:
    seed_agent(aws)
    response = call(webhook(SUNDAY), vonage_answer())
    assert json.loads(response["body"]) == [{"action": "talk", "text": PROFILE.closed_message, "language": "en-US"}]


def _refused(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 401
    assert response["body"] == "Unauthorized"
    assert response["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not.a.jwt",
        vonage_token(js_stringify(ANSWER_PARAMS), secret="someone-elses-signature-secret-0123456789"),
        vonage_token(js_stringify(ANSWER_PARAMS), iat=time.time() - 3600),
        vonage_token(js_stringify(ANSWER_PARAMS), exp=int(time.time()) - 1),
        vonage_token(None),
        vonage_token(js_stringify(ANSWER_PARAMS), jti=None),
    ],
    ids=["unsigned", "garbled", "wrong-secret", "stale", "expired", "no-payload-hash", "no-jti"],
)
def test_vonage_requests_not_signed_by_vonage_are_refused(aws: Any, authorization: str | None) -> None:
    seed_agent(aws)
    event = vonage_answer()
    event["headers"].pop("authorization")
    if authorization:
        event["headers"]["authorization"] = authorization
    _refused(call(webhook(), event))
    assert active_calls(aws) == 0


@pytest.mark.parametrize(
    ("sent", "signed"),
    [
        ({**ANSWER_PARAMS, "from": "15550000000"}, ANSWER_PARAMS),
        ({**ANSWER_PARAMS, "to": "15559999999"}, ANSWER_PARAMS),
        ({**ANSWER_PARAMS, "extra": "1"}, ANSWER_PARAMS),
        (dict(reversed(ANSWER_PARAMS.items())), ANSWER_PARAMS),
    ],
    ids=["caller-changed", "dialed-number-changed", "parameter-added", "parameters-reordered"],
)
def test_vonage_answer_with_query_parameters_changed_after_signing_is_refused(
    aws: Any, sent: dict[str, str], signed: dict[str, str]
) -> None:
    seed_agent(aws)
    _refused(call(webhook(), vonage_answer(sent, signed=signed)))
    assert active_calls(aws) == 0


def test_a_vonage_event_body_changed_after_signing_is_refused_and_the_call_stays_open(aws: Any) -> None:
    seed_agent(aws)
    handler = webhook()
    call(handler, vonage_answer())
    forged = js_stringify({**COMPLETED, "uuid": "someone-elses-call"})
    _refused(call(handler, vonage_event(forged, signed=js_stringify(COMPLETED))))
    assert active_calls(aws) == 1


def test_a_vonage_event_body_is_checked_in_its_canonical_form_not_its_bytes(aws: Any) -> None:
    # The hash is over the body's whitespace-free JSON: the same body laid out differently still verifies.
    seed_agent(aws)
    handler = webhook()
    call(handler, vonage_answer())
    response = call(handler, vonage_event(json.dumps(COMPLETED, indent=2), signed=js_stringify(COMPLETED)))
    assert json.loads(response["body"]) == {"closed": True}


def test_a_replayed_vonage_token_is_refused_by_another_container_too(aws: Any) -> None:
    seed_agent(aws)
    first = vonage_answer()
    assert call(webhook(), first)["statusCode"] == 200
    # The same request again (the same token, so the same jti), to a fresh container of the webhook.
    _refused(call(webhook(), first))
    assert active_calls(aws) == 1


def test_vonage_request_without_the_dialed_number_is_a_clear_400(aws: Any) -> None:
    params = {"uuid": VONAGE_UUID}
    response = call(webhook(), vonage_answer(params))
    assert response["statusCode"] == 400
    assert "lacks to" in response["body"]


def test_a_binary_body_that_is_not_utf8_is_a_400_before_the_signature_is_checked(aws: Any) -> None:
    seed_agent(aws)
    event = twilio_event(TWILIO_CALL)
    event["body"] = base64.b64encode(b"\xff\xfe\x00\x89PNG binary").decode()
    event["isBase64Encoded"] = True
    response = call(webhook(), event)
    assert response["statusCode"] == 400
    assert "not UTF-8 form data" in response["body"]
    assert active_calls(aws) == 0


@pytest.mark.parametrize("provider", ["twilio", "vonage"])
def test_a_validly_signed_call_with_a_call_id_over_256_characters_is_a_clear_400(aws: Any, provider: str) -> None:
    seed_agent(aws)
    long_id = "C" * 257
    event = (
        twilio_event({**TWILIO_CALL, "CallSid": long_id})
        if provider == "twilio"
        else vonage_answer({**ANSWER_PARAMS, "uuid": long_id})
    )
    response = call(webhook(), event)
    assert response["statusCode"] == 400
    assert ("CallSid" if provider == "twilio" else "uuid") in response["body"]
    assert "at most 256 characters" in response["body"]
    assert active_calls(aws) == 0


# ----------------------------------------------------------------------------------- presigned URL
class _Credentials:
    def get_frozen_credentials(self) -> Any:
        from botocore.credentials import ReadOnlyCredentials

        return ReadOnlyCredentials("AKIDEXAMPLE", "secret", None)


def test_the_presigned_url_is_the_one_the_agentcore_sdk_builds() -> None:
    from bedrock_agentcore.runtime import AgentCoreRuntimeClient

    ours = AgentCoreWebSocketPresigner(BRIDGE_ARN, qualifier="live", credentials=_Credentials()).url(VONAGE_UUID)
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-east-1")
    sdk = AgentCoreRuntimeClient("us-east-1", session=session).generate_presigned_url(
        BRIDGE_ARN, session_id=VONAGE_UUID, endpoint_name="live", expires=300
    )

    def unsigned(url: str) -> tuple[str, str, str, dict[str, list[str]]]:
        parts = urlsplit(url)
        query = {k: v for k, v in parse_qs(parts.query).items() if k not in {"X-Amz-Date", "X-Amz-Signature"}}
        query["X-Amz-Credential"] = [query["X-Amz-Credential"][0].split("/", 2)[2]]  # drop the date
        return parts.scheme, parts.netloc, parts.path, query

    assert unsigned(ours) == unsigned(sdk)


@pytest.mark.parametrize(
    ("arn", "expires"),
    [("arn:aws:lambda:us-east-1:1:function:x", 300), (BRIDGE_ARN, 301)],
    ids=["not-a-runtime", "too-long"],
)
def test_presigner_refuses_what_agentcore_would(arn: str, expires: int) -> None:
    with pytest.raises(PresignError):
        AgentCoreWebSocketPresigner(arn, qualifier="live", expires_seconds=expires)


def test_short_call_ids_become_valid_stable_session_ids() -> None:
    assert len(session_id_for("CA1")) >= 33
    assert session_id_for("CA1") == session_id_for("CA1")
